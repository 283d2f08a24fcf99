import OpenAI, { APIError } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { aiDraftSchemaFor, structuredOutputSchema } from '../ai/draft-schemas.js';
import type { DraftFormat } from '../domain/drafts.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';

const drafts = z.object({
  title: z.string().max(100),
  caption: z.string().max(2200),
  hashtags: z.array(z.string()).max(30),
});

const brief = 'Topic: Autumn coffee tasting\nTone: warm\nAudience: home baristas\nLanguage: en';

let emulator: OpenAiEmulator;
let client: OpenAI;

beforeAll(async () => {
  emulator = await startOpenAiEmulator();
  client = new OpenAI({ apiKey: 'test', baseURL: emulator.url, maxRetries: 0 });
});

afterAll(async () => {
  await emulator.stop();
});

beforeEach(() => emulator.reset());

function askForDrafts(prompt: string, schema: z.ZodType = drafts) {
  return client.chat.completions.create({
    model: EMULATOR_MODEL,
    messages: [
      { role: 'system', content: 'You write social media drafts.' },
      { role: 'user', content: prompt },
    ],
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'drafts', strict: true, schema: z.toJSONSchema(schema) },
    },
  });
}

/** The SDK's error for a request expected to fail. */
async function failure(request: Promise<unknown>): Promise<APIError> {
  try {
    await request;
  } catch (err) {
    if (err instanceof APIError) return err;
    throw err;
  }
  throw new Error('The request succeeded, but a failure was expected');
}

describe('OpenAI emulator: chat completions', () => {
  it('answers structured output with drafts that satisfy the requested schema and echo the topic', async () => {
    const completion = await askForDrafts(brief);
    expect(completion).toMatchObject({ object: 'chat.completion', model: EMULATOR_MODEL });
    expect(completion.id).toMatch(/^chatcmpl-emu-\d+$/);
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    const draft = drafts.parse(JSON.parse(completion.choices[0]?.message.content ?? ''));
    expect(draft.title).toContain('Autumn coffee tasting');
    expect(draft.hashtags.length).toBeGreaterThan(0);
    expect(draft.hashtags.every((tag) => /^#\p{L}+/u.test(tag))).toBe(true);
    expect(draft.hashtags).toContain('#coffee');
  });

  it('marks every string with the feedback on a revision round', async () => {
    const completion = await askForDrafts(`${brief}\nFeedback: shorter please`);
    const draft = drafts.parse(JSON.parse(completion.choices[0]?.message.content ?? ''));
    expect(draft.title).toContain('(revised: shorter please)');
    expect(draft.caption).toContain('(revised: shorter please)');
  });

  it('never writes past a maxLength, however small', async () => {
    const tiny = z.object({ title: z.string().min(1).max(12), tags: z.array(z.string().max(5)).min(4).max(6) });
    const completion = await askForDrafts(`${brief}\nFeedback: shorter please`, tiny);
    const draft = tiny.parse(JSON.parse(completion.choices[0]?.message.content ?? ''));
    expect([...draft.title].length).toBeLessThanOrEqual(12);
    expect(draft.tags).toHaveLength(4);
  });

  it("writes drafts the app's own validation accepts, for every format", async () => {
    const formats: DraftFormat[] = ['youtube', 'tiktok', 'instagram', 'facebook', 'generic'];
    const targets = formats.map((format) => ({ key: `${format}_main`, format }));
    const completion = await client.chat.completions.create({
      model: EMULATOR_MODEL,
      messages: [{ role: 'user', content: `${brief}\nFeedback: more emojis` }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'drafts', schema: structuredOutputSchema(targets), strict: false },
      },
    });
    const answer = JSON.parse(completion.choices[0]?.message.content ?? '') as Record<string, unknown>;
    for (const target of targets) {
      expect(aiDraftSchemaFor(target.format).safeParse(answer[target.key]).error).toBeUndefined();
    }
  });

  it('records each request with its path and body', async () => {
    await askForDrafts(brief);
    expect(emulator.requests).toHaveLength(1);
    const [request] = emulator.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions', authorization: 'present' });
    expect(request?.body).toMatchObject({ model: EMULATOR_MODEL, messages: [{ role: 'system' }, { role: 'user' }] });
    expect(Number.isNaN(Date.parse(request?.receivedAt ?? ''))).toBe(false);
  });

  it('answers plain text about the topic without a response format', async () => {
    const completion = await client.chat.completions.create({
      model: 'any-model',
      messages: [{ role: 'user', content: brief }],
    });
    expect(completion.model).toBe('any-model');
    expect(completion.choices[0]?.message.content).toContain('Autumn coffee tasting');
  });

  it('lists the emulator model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([EMULATOR_MODEL]);
  });
});

describe('OpenAI emulator: faults', () => {
  it('plays injected faults in order, then answers normally again', async () => {
    emulator.injectFaults([
      { kind: 'rate_limit', retryAfterSeconds: 2 },
      { kind: 'server_error' },
      { kind: 'bad_request', message: 'nope' },
      { kind: 'malformed' },
    ]);

    const limited = await failure(askForDrafts(brief));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.status).toBe(429);
    expect(limited.headers?.get('retry-after')).toBe('2');
    expect(limited.type).toBe('rate_limit_exceeded');

    expect((await failure(askForDrafts(brief))).status).toBe(500);

    const refused = await failure(askForDrafts(brief));
    expect(refused.status).toBe(400);
    expect(refused.message).toContain('nope');

    const malformed = await askForDrafts(brief);
    const content = JSON.parse(malformed.choices[0]?.message.content ?? '');
    expect(drafts.safeParse(content).success).toBe(false);

    const healthy = await askForDrafts(brief);
    expect(drafts.safeParse(JSON.parse(healthy.choices[0]?.message.content ?? '')).success).toBe(true);
    expect(emulator.requests).toHaveLength(5);
  });

  it('takes faults and latency over HTTP too', async () => {
    const control = emulator.url.replace(/\/v1$/, '/_emulator');
    const post = (path: string, body: unknown) =>
      fetch(`${control}/${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect((await post('faults', [{ kind: 'server_error' }])).status).toBe(204);
    expect((await post('faults', [{ kind: 'teapot' }])).status).toBe(400);
    expect((await post('latency', { ms: 0 })).status).toBe(204);
    expect((await failure(askForDrafts(brief))).status).toBe(500);
    const recorded = (await (await fetch(`${control}/requests`)).json()) as unknown[];
    expect(recorded).toHaveLength(1);
  });

  it('takes the faults that break HTTP itself over HTTP, checking their fields', async () => {
    const control = emulator.url.replace(/\/v1$/, '/_emulator');
    const post = (path: string, body: unknown) =>
      fetch(`${control}/${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect((await post('faults', [{ kind: 'html_error', status: 200 }])).status).toBe(400);
    expect((await post('faults', [{ kind: 'stall_after_headers', trickleEveryMs: 0 }])).status).toBe(400);
    expect((await post('faults', [{ kind: 'html_error', status: 503 }, { kind: 'reset' }])).status).toBe(204);
    const ask = () => fetch(`${emulator.url}/chat/completions`, { method: 'POST', body: '{}' });
    const page = await ask();
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<title>503 Service Unavailable</title>');
    await expect(ask()).rejects.toThrow();
    // Neither was closed by the client: the page was sent whole, the reset was the emulator's.
    expect(emulator.requests.map((r) => r.aborted)).toEqual([false, false]);
  });

  it('waits the configured latency before answering', async () => {
    emulator.setLatency(300);
    const started = performance.now();
    await askForDrafts(brief);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });
});

describe('OpenAI emulator: bad input', () => {
  it('names a missing parameter', async () => {
    const response = await fetch(`${emulator.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: EMULATOR_MODEL }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { param: string | null; type: string } };
    expect(body.error).toMatchObject({ param: 'messages', type: 'invalid_request_error' });

    const viaSdk = await failure(client.chat.completions.create({ model: EMULATOR_MODEL, messages: [] }));
    expect(viaSdk.status).toBe(400);
    expect(viaSdk.param).toBe('messages');
  });

  it('answers a body that is not JSON with a JSON error', async () => {
    const response = await fetch(`${emulator.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model": "emulator-model", "messages": [',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/json');
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/not valid JSON/);
  });

  it('answers unknown paths with a 404 error', async () => {
    const response = await fetch(`${emulator.url}/embeddings`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });
});

describe('OpenAI emulator: images', () => {
  it('generates a real PNG of the requested size', async () => {
    const result = await client.images.generate({
      model: 'gpt-image-1',
      prompt: 'A cup of coffee',
      size: '64x32',
    });
    const png = Buffer.from(result.data?.[0]?.b64_json ?? '', 'base64');
    const metadata = await sharp(png).metadata();
    expect(metadata).toMatchObject({ format: 'png', width: 64, height: 32 });
  });

  it('answers with a signed link it serves itself when asked for a URL', async () => {
    const result = await client.images.generate({ prompt: 'A cup', size: '48x40', response_format: 'url' });
    const link = new URL(result.data?.[0]?.url ?? '');
    expect(link.origin).toBe(new URL(emulator.url).origin);
    expect(link.searchParams.get('sig')).toBeTruthy();
    const served = await fetch(link);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(await sharp(Buffer.from(await served.arrayBuffer())).metadata()).toMatchObject({ width: 48, height: 40 });
    // Like a storage SAS: a link whose signature was changed is refused.
    link.searchParams.set('sig', 'forged');
    expect((await fetch(link)).status).toBe(403);
  });

  it('answers with links by default when set so, serving the image in the format chosen', async () => {
    emulator.setImageHosting({ answer: 'url', serve: 'webp' });
    const linked = await client.images.generate({ prompt: 'A cup', size: '32x32' });
    const served = await fetch(linked.data?.[0]?.url ?? '');
    expect(served.headers.get('content-type')).toBe('image/webp');
    expect(await sharp(Buffer.from(await served.arrayBuffer())).metadata()).toMatchObject({ format: 'webp' });
    // An explicit response_format is followed either way.
    const inline = await client.images.generate({ prompt: 'A cup', size: '32x32', response_format: 'b64_json' });
    expect(inline.data?.[0]?.b64_json).toBeTruthy();
    emulator.reset();
    expect((await client.images.generate({ prompt: 'A cup', size: '32x32' })).data?.[0]?.b64_json).toBeTruthy();
  });

  it('refuses an unknown response format and a missing prompt', async () => {
    const format = await failure(
      client.images.generate({ prompt: 'A cup', response_format: 'svg' as unknown as 'url' }),
    );
    expect(format.status).toBe(400);
    expect(format.message).toContain('b64_json');
    const response = await fetch(`${emulator.url}/images/generations`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { param: 'prompt' } });
  });
});

describe('OpenAI emulator: lifecycle', () => {
  it('enforces the API key when one is configured', async () => {
    const locked = await startOpenAiEmulator({ apiKey: 'sesame' });
    try {
      const wrong = new OpenAI({ apiKey: 'test', baseURL: locked.url, maxRetries: 0 });
      const denied = await failure(wrong.models.list());
      expect(denied.status).toBe(401);
      expect(denied.type).toBe('invalid_api_key');
      const right = new OpenAI({ apiKey: 'sesame', baseURL: locked.url, maxRetries: 0 });
      expect((await right.models.list()).data).toHaveLength(1);
    } finally {
      await locked.stop();
    }
  });

  it('closes its port on stop', async () => {
    const shortLived = await startOpenAiEmulator();
    expect((await fetch(`${shortLived.url}/models`)).status).toBe(200);
    await shortLived.stop();
    await expect(fetch(`${shortLived.url}/models`)).rejects.toThrow();
  });
});
