import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows } from '../db/client.js';
import { attempts, posts, publications } from '../db/schema.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  upload,
  uploadPhoto,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { captureHistory } from './helpers/histories.js';
import { makeVideo } from './helpers/media-files.js';
import { until } from './helpers/until.js';

let emulator: OpenAiEmulator;
let app: TestApp;
let user: TestUser;

beforeAll(async () => {
  emulator = await startOpenAiEmulator();
  app = await startTestApp({
    env: { OPENAI_BASE_URL: emulator.url, OPENAI_API_KEY: 'sk-test', OPENAI_MODEL: EMULATOR_MODEL },
  });
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
  await emulator?.stop();
});
beforeEach(() => emulator.reset());

const brief = { topic: 'Autumn hiking in the Alps', tone: 'warm', audience: 'weekend hikers', language: 'en' };
const awaitingReview = (round: number) => (p: Json) => p.status === 'awaiting_review' && p.review.round === round;
const chatRequests = () => emulator.requests.filter((r) => r.path === '/v1/chat/completions');
const lastPrompt = () => {
  const body = chatRequests().at(-1)?.body as { messages: { role: string; content: string }[] };
  return body.messages.find((m) => m.role === 'user')!.content;
};
const handle = (post: Json) => app.temporal.workflow.getHandle(post.workflow.id);

describe('drafting with AI', () => {
  it('runs the whole pipeline unattended: drafts per platform, auto review, render, publish', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      // Both platforms need media at creation; one short vertical clip serves both.
      mediaIds: [await uploadClip(user.api)],
      review: { mode: 'auto' },
      targets: [
        { type: 'local_export', key: 'insta', platform: 'instagram' },
        { type: 'local_export', key: 'yt', platform: 'youtube' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.caption).toBeNull();
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');
    expect(post.steps.map((s: Json) => [s.name, s.status])).toEqual([
      ['generate', 'succeeded'],
      ['review', 'skipped'],
      ['schedule', 'skipped'],
      ['render', 'succeeded'],
      ['publish', 'succeeded'],
      ['record', 'succeeded'],
    ]);
    expect(post.generation).toMatchObject({
      mode: 'ai',
      model: EMULATOR_MODEL,
      rounds: [{ round: 0, feedback: null }],
    });
    expect(post.generation.rounds[0].promptTokens).toBeGreaterThan(0);
    expect(post.generation.rounds[0].completionTokens).toBeGreaterThan(0);
    expect(post.generation.rounds[0].latencyMs).toBeGreaterThanOrEqual(0);

    const yt = post.targets.find((t: Json) => t.key === 'yt');
    expect(yt.draft.title).toContain('Autumn hiking in the Alps');
    expect(yt.draft.title.length).toBeLessThanOrEqual(100);
    expect(yt.draft.script.length).toBeGreaterThan(0);
    const insta = post.targets.find((t: Json) => t.key === 'insta');
    expect(insta.draft.caption.length).toBeLessThanOrEqual(2200);

    expect(chatRequests()).toHaveLength(1);
    expect(lastPrompt()).toContain('Topic: Autumn hiking in the Alps');
    expect(lastPrompt()).toContain('Targets: insta (instagram), yt (youtube)');
    expect(JSON.stringify(chatRequests()[0]!.body)).toContain('json_schema');

    const folder = join(app.dataDir, 'exports', post.id, 'yt');
    expect(await readdir(folder)).toEqual(expect.arrayContaining(['caption.txt', 'metadata.json', 'script.txt']));
    const metadata = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8'));
    expect(metadata).toMatchObject({ format: 'youtube', draft: { title: yt.draft.title } });
    await captureHistory(handle(post), 'post-pipeline-v3-auto');
  });

  it('refuses an image brief for a platform that needs a picture when no AI endpoint can make it', async () => {
    const offline = await startTestApp();
    try {
      const someone = await signUp(offline.baseUrl);
      const refused = await postJson(someone.api, '/api/v1/posts', {
        brief: { topic: 'Fresh bread every morning', generateImage: true },
        targets: [{ type: 'local_export', platform: 'instagram' }],
      });
      expectProblem(refused, 422, 'brief.generateImage');
      expect(JSON.stringify(refused.body.errors)).toMatch(/no AI endpoint is configured/);
      // The dry run answers with the same errors.
      const dryRun = await postJson(someone.api, '/api/v1/posts/validate', {
        brief: { topic: 'Fresh bread every morning', generateImage: true },
        targets: [{ type: 'local_export', platform: 'instagram' }],
      });
      expect(dryRun.status, JSON.stringify(dryRun.body)).toBe(200);
      expect(dryRun.body.errors).toEqual(refused.body.errors);
      // Facebook takes a post without a picture: the brief stands, drafted offline.
      const textOnly = await postJson(someone.api, '/api/v1/posts', {
        brief: { topic: 'Fresh bread every morning', generateImage: true },
        targets: [{ type: 'local_export', platform: 'facebook' }],
      });
      expect(textOnly.status, JSON.stringify(textOnly.body)).toBe(201);
    } finally {
      await offline.stop();
    }
  });

  it('labels offline drafting when no endpoint is configured', async () => {
    const offline = await startTestApp();
    try {
      const someone = await signUp(offline.baseUrl);
      const clip = await uploadClip(someone.api);
      const created = await postJson(someone.api, '/api/v1/posts', {
        brief: { topic: 'Fresh bread every morning' },
        mediaIds: [clip],
        review: { mode: 'auto' },
        targets: [{ type: 'local_export', platform: 'tiktok' }],
      });
      const post = await waitForPost(someone.api, created.body.id, isFinished);
      expect(post.status).toBe('published');
      expect(post.generation).toMatchObject({ mode: 'offline', model: null });
      expect(post.generation.note).toMatch(/Drafted offline from the brief: no AI endpoint is configured/);
      expect(post.targets[0].draft.caption).toContain('Fresh bread every morning');
      expect(post.targets[0].draft.script).toBeTruthy();

      // Briefs the offline drafter used to turn into drafts its own rules refuse: a long Japanese
      // topic (a description over YouTube's 5000 bytes, a 150-character tag) and a title cut
      // inside an emoji (half a surrogate pair, which PostgreSQL cannot store).
      for (const topic of ['あ'.repeat(1700), `${'a'.repeat(98)}😀 more`]) {
        const made = await postJson(someone.api, '/api/v1/posts', {
          brief: { topic },
          mediaIds: [clip],
          review: { mode: 'manual', onExpiry: 'cancel' },
          targets: [{ type: 'local_export', platform: 'youtube' }],
        });
        expect(made.status, JSON.stringify(made.body)).toBe(201);
        const drafted = await waitForPost(
          someone.api,
          made.body.id,
          (p) => p.status === 'awaiting_review' || isFinished(p),
        );
        expect(drafted.status, JSON.stringify(drafted.error)).toBe('awaiting_review');
        const draft = drafted.targets[0].draft;
        expect(Buffer.byteLength(draft.description, 'utf8')).toBeLessThanOrEqual(5000);
        expect(draft.tags.every((t: string) => t.length <= 100)).toBe(true);
        expect(draft.title).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      }
    } finally {
      await offline.stop();
    }
  });

  it('generates an image for the post when the brief asks for one, which counts as media at creation', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { ...brief, generateImage: true },
      review: { mode: 'auto' },
      // Instagram and TikTok need a picture: the one the AI will make is counted before it exists.
      targets: [
        { type: 'local_export', key: 'fb', platform: 'facebook' },
        { type: 'local_export', key: 'ig', platform: 'instagram' },
        { type: 'local_export', key: 'tt', platform: 'tiktok' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status, JSON.stringify(post.error)).toBe('published');
    expect(post.media).toHaveLength(1);
    expect(post.media[0]).toMatchObject({ mimeType: 'image/png', width: 1024, height: 1024 });
    expect(emulator.requests.some((r) => r.path === '/v1/images/generations')).toBe(true);
    const exported = async (key: string) =>
      JSON.parse(await readFile(join(app.dataDir, 'exports', post.id, key, 'metadata.json'), 'utf8')).media;
    // Within Facebook's limits, so not enlarged.
    expect((await exported('fb'))[0]).toMatchObject({ width: 1024, height: 1024 });
    expect(await exported('ig')).toHaveLength(1);
    expect(await exported('tt')).toHaveLength(1);
  });

  it('refuses at creation what the promised image cannot serve: a YouTube post needs a video', async () => {
    const refused = await postJson(user.api, '/api/v1/posts', {
      brief: { ...brief, generateImage: true },
      targets: [{ type: 'local_export', platform: 'youtube' }],
    });
    expectProblem(refused, 422, 'targets[0]');
    expect(JSON.stringify(refused.body.errors)).toMatch(/YouTube needs a video/);
    // The dry run answers the same.
    const dryRun = await postJson(user.api, '/api/v1/posts/validate', {
      brief: { ...brief, generateImage: true },
      targets: [
        { type: 'local_export', key: 'ig', platform: 'instagram' },
        { type: 'local_export', key: 'yt', platform: 'youtube' },
      ],
    });
    expect(dryRun.status, JSON.stringify(dryRun.body)).toBe(200);
    expect(dryRun.body.targets.map((t: Json) => [t.key, t.ok])).toEqual([
      ['ig', true],
      ['yt', false],
    ]);
  });

  it('drafts that arrive while the post is being cancelled wait for the cancellation instead of deadlocking with it', async () => {
    // The AI answers late, so the post is seen drafting and its row taken, as the cancellation
    // takes it (the post first, then its targets), before the drafts are saved.
    emulator.setLatency(1500);
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      review: { mode: 'manual', onExpiry: 'cancel' },
      targets: [{ type: 'local_export', platform: 'facebook' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const postId = created.body.id as string;
    await until('the AI asked for drafts', async () => chatRequests().length > 0);
    await app.db.transaction(async (tx) => {
      await tx.update(posts).set({ updatedAt: new Date() }).where(eq(posts.id, postId));
      // Until the drafts' save is held up behind this transaction: on the post's row, taken late
      // (after the targets it wrote: a deadlock ahead) or first (nothing of the post held).
      await until(
        'the drafts waiting on the post',
        async () => {
          const [waiting] = await queryRows<{ n: number }>(
            app.db,
            sql`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'
                and (query like 'update "posts" set "review_round"%' or query like 'select "id" from "posts" %for update')`,
          );
          return waiting!.n > 0;
        },
        15_000,
      );
      await tx.update(publications).set({ updatedAt: new Date() }).where(eq(publications.postId, postId));
    });
    const post = await waitForPost(user.api, postId, (p) => p.status === 'awaiting_review' || isFinished(p));
    expect(post.status).toBe('awaiting_review');
    const failed = await app.db.select().from(attempts).where(eq(attempts.postId, postId));
    expect(failed.filter((a) => a.outcome === 'failed').map((a) => a.error)).toEqual([]);
    await postJson(user.api, `/api/v1/posts/${postId}/cancel`, {});
  });

  it('fails only the targets that needed the image when it could not be made, saying why; the others publish', async () => {
    // A link to an address inside this network, which image downloads refuse unless allowed.
    emulator.setImageHosting({ answer: 'url' });
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { ...brief, generateImage: true },
      review: { mode: 'auto' },
      targets: [
        { type: 'local_export', key: 'fb', platform: 'facebook' },
        { type: 'local_export', key: 'ig', platform: 'instagram' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.media).toHaveLength(0);
    const target = (key: string) => post.targets.find((t: Json) => t.key === key);
    expect(target('fb').status, JSON.stringify(target('fb'))).toBe('published');
    expect(target('ig').status).toBe('failed');
    expect(target('ig').error).toMatch(
      /^No image could be generated: .*MEDIA_URL_ALLOWLIST.*Instagram needs an image or a video/,
    );
    expect(post.status).toBe('partially_published');
    // A retry would fail the same way: refused up front, saying why.
    const retried = await postJson(user.api, `/api/v1/posts/${post.id}/targets/ig/retry`, {});
    expectProblem(retried, 409);
    expect(retried.body.detail).toMatch(/Instagram needs an image or a video; this post has none\. A retry would fail/);
  });

  it("sizes each target's images for its platform", async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Wide view',
      mediaIds: [await uploadPhoto(user.api, 3000, 2000)],
      targets: [
        { type: 'local_export', key: 'ig', platform: 'instagram' },
        { type: 'local_export', key: 'fb', platform: 'facebook' },
        { type: 'local_export', key: 'raw' },
      ],
    });
    const post = await waitForPost(user.api, created.body.id, isFinished);
    const size = async (key: string) =>
      JSON.parse(await readFile(join(app.dataDir, 'exports', post.id, key, 'metadata.json'), 'utf8')).media[0];
    expect(await size('ig')).toMatchObject({ width: 1080, height: 720 });
    expect((await size('fb')).width).toBeLessThan(3000);
    expect(await size('raw')).toMatchObject({ width: 3000, height: 2000 });
    expect(post.targets.find((t: Json) => t.key === 'fb').draft).toEqual({ message: 'Wide view' });
  });
});

/** A four-second vertical clip, uploaded: what TikTok and YouTube need at creation. */
async function uploadClip(target: TestUser['api']): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'clip-'));
  try {
    const path = await makeVideo(join(dir, 'clip.mp4'), { seconds: 4, audio: false });
    const res = await upload(target, await readFile(path), 'clip.mp4');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A post drafted from the brief and published without review, followed to its end. */
async function draftUnattended(timeoutMs: number): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/posts', {
    brief,
    review: { mode: 'auto' },
    targets: [{ type: 'local_export' }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return waitForPost(user.api, created.body.id, isFinished, timeoutMs);
}

describe('AI endpoint failures', () => {
  it('retries a malformed answer and records the failed try in words', async () => {
    emulator.injectFaults([{ kind: 'malformed' }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('published');
    const attempts = (await call(user.api, `/api/v1/posts/${post.id}/attempts`)).body;
    const generate = attempts.items.filter((a: Json) => a.step === 'generate');
    expect(generate.map((a: Json) => a.outcome)).toEqual(['failed', 'succeeded']);
    expect(generate[0].error).toMatch(/The AI returned drafts that break the platform rules: local_export/);
    expect(generate[0].durationMs).toBeGreaterThanOrEqual(0);
    expect(attempts.workflowUrl).toBe(`http://localhost:8233/namespaces/default/workflows/post-${post.id}`);
  });

  it('gives up on output that stays malformed, and says why', async () => {
    emulator.injectFaults([{ kind: 'malformed' }, { kind: 'malformed' }, { kind: 'malformed' }, { kind: 'malformed' }]);
    const post = await draftUnattended(30_000);
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(/^Drafting failed: The AI returned drafts that break the platform rules/);
    expect(post.steps.find((s: Json) => s.name === 'generate')).toMatchObject({ status: 'failed', attempts: 4 });
    expect(post.targets[0].status).toBe('failed');
    expect(chatRequests()).toHaveLength(4);
  });

  it('waits out a 429 for as long as Retry-After says, then goes on', async () => {
    emulator.injectFaults([{ kind: 'rate_limit', retryAfterSeconds: 2 }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('published');
    const [first, second] = chatRequests();
    expect(Date.parse(second!.receivedAt) - Date.parse(first!.receivedAt)).toBeGreaterThanOrEqual(1900);
    const attempts = (await call(user.api, `/api/v1/posts/${post.id}/attempts`)).body.items;
    expect(attempts.find((a: Json) => a.step === 'generate' && a.outcome === 'failed').error).toMatch(
      /rate limiting us \(429\)/,
    );
  });

  it('does not retry a 429 that says the quota is used up, and says so', async () => {
    emulator.injectFaults([{ kind: 'quota' }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(/Drafting failed: The AI endpoint's quota is used up \(429 insufficient_quota\)/);
    expect(chatRequests()).toHaveLength(1);
  });

  it('does not retry an answer withheld by the content filter, and says so', async () => {
    emulator.injectFaults([{ kind: 'filtered' }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(/content filter withheld the drafts/);
    expect(chatRequests()).toHaveLength(1);
  });

  it('says an answer was cut off at the output limit, and tries again', async () => {
    emulator.injectFaults([{ kind: 'truncated' }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('published');
    const attempts = (await call(user.api, `/api/v1/posts/${post.id}/attempts`)).body.items;
    expect(attempts.find((a: Json) => a.step === 'generate' && a.outcome === 'failed').error).toMatch(
      /cut off at its output limit/,
    );
  });

  it('keeps structured outputs when a 400 is about the schema, not about json_schema itself', async () => {
    emulator.injectFaults([{ kind: 'bad_request', message: "Invalid schema for response_format 'drafts': bad" }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('failed');
    expect(chatRequests()).toHaveLength(1);
    emulator.reset();
    expect((await draftUnattended(20_000)).status).toBe('published');
    expect((chatRequests()[0]!.body as { response_format: { type: string } }).response_format.type).toBe('json_schema');
  });

  it('does not retry a refused request (4xx other than 429), and says why', async () => {
    emulator.injectFaults([{ kind: 'bad_request', message: 'The model does not exist' }]);
    const post = await draftUnattended(20_000);
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(
      /Drafting failed: The AI endpoint refused the request \(400\): .*The model does not exist/,
    );
    expect(chatRequests()).toHaveLength(1);
  });
});

describe('human review', () => {
  it('waits for approval, shows the post in the review queue, and applies edits on approval', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      targets: [{ type: 'local_export', key: 'fb', platform: 'facebook' }],
    });
    const waiting = await waitForPost(user.api, created.body.id, awaitingReview(0));
    expect(waiting.review).toMatchObject({ mode: 'manual', onExpiry: 'cancel', maxRounds: 3, round: 0 });
    const queue = await call(user.api, '/api/v1/reviews');
    expect(queue.body.items.map((p: Json) => p.id)).toContain(created.body.id);
    const progress = await handle(waiting).query('progress');
    expect(progress).toMatchObject({ status: 'awaiting_review', round: 0 });

    const approved = await postJson(user.api, `/api/v1/posts/${created.body.id}/review/approve`, {
      edits: { fb: { message: 'Hand-polished message for the weekend crowd' } },
    });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.status).not.toBe('awaiting_review');
    expect(approved.body.steps.find((st: Json) => st.name === 'review').status).toBe('succeeded');
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');
    expect(post.targets[0].draft).toEqual({ message: 'Hand-polished message for the weekend crowd' });
    expect(await readFile(join(app.dataDir, 'exports', post.id, 'fb', 'caption.txt'), 'utf8')).toBe(
      'Hand-polished message for the weekend crowd\n',
    );
    expect(post.steps.find((s: Json) => s.name === 'review')).toMatchObject({ status: 'succeeded' });
    // Decided already: a second decision is refused.
    expectProblem(await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {}), 409);
    await captureHistory(handle(post), 'post-pipeline-v3-approved-with-edits');
  });

  it('regenerates with the feedback in the prompt, for as many rounds as allowed', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      review: { mode: 'manual', maxRounds: 1 },
      mediaIds: [await uploadPhoto(user.api, 1100, 800)],
      targets: [{ type: 'local_export', platform: 'instagram' }],
    });
    await waitForPost(user.api, created.body.id, awaitingReview(0));
    expectProblem(
      await postJson(user.api, `/api/v1/posts/${created.body.id}/review/reject`, { feedback: '  ' }),
      422,
      'feedback',
    );

    const rejected = await postJson(user.api, `/api/v1/posts/${created.body.id}/review/reject`, {
      feedback: 'Mention the mountain huts',
    });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    expect(rejected.body.status).toBe('generating');
    const second = await waitForPost(user.api, created.body.id, awaitingReview(1));
    expect(lastPrompt()).toContain('Feedback: Mention the mountain huts');
    expect(lastPrompt()).toContain('Previous drafts:');
    expect(second.targets[0].draft.caption).toContain('(revised: Mention the mountain huts)');
    expect(second.generation.rounds.map((r: Json) => r.feedback)).toEqual([null, 'Mention the mountain huts']);

    const tooMany = await postJson(user.api, `/api/v1/posts/${created.body.id}/review/reject`, { feedback: 'Again' });
    expectProblem(tooMany, 409);
    expect(tooMany.body.detail).toMatch(/No revision rounds left \(1 used\)/);
    expect((await postJson(user.api, `/api/v1/posts/${created.body.id}/review/approve`, {})).status).toBe(200);
    expect((await waitForPost(user.api, created.body.id, isFinished)).status).toBe('published');
    await captureHistory(app.temporal.workflow.getHandle(second.workflow.id), 'post-pipeline-v3-revised');
  });

  it("keeps why the brief's image could not be made through revision rounds, for the targets that needed it", async () => {
    emulator.setImageHosting({ answer: 'url' });
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { ...brief, generateImage: true },
      review: { mode: 'manual' },
      targets: [
        { type: 'local_export', key: 'fb', platform: 'facebook' },
        { type: 'local_export', key: 'ig', platform: 'instagram' },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await waitForPost(user.api, created.body.id, awaitingReview(0));
    const rejected = await postJson(user.api, `/api/v1/posts/${created.body.id}/review/reject`, {
      feedback: 'Shorter, please',
    });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    await waitForPost(user.api, created.body.id, awaitingReview(1));
    expect((await postJson(user.api, `/api/v1/posts/${created.body.id}/review/approve`, {})).status).toBe(200);
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('partially_published');
    const ig = post.targets.find((t: Json) => t.key === 'ig');
    expect(ig.error).toMatch(
      /^No image could be generated: .*MEDIA_URL_ALLOWLIST.*Instagram needs an image or a video/,
    );
  });

  it('refuses to send a hand-written post back for AI drafting', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'My own words',
      review: { mode: 'manual' },
      targets: [{ type: 'local_export' }],
    });
    await waitForPost(user.api, created.body.id, awaitingReview(0));
    const res = await postJson(user.api, `/api/v1/posts/${created.body.id}/review/reject`, { feedback: 'Rewrite it' });
    expectProblem(res, 409);
    expect(res.body.detail).toMatch(/written by hand: edit its drafts and approve, or cancel it/);
    expect((await postJson(user.api, `/api/v1/posts/${created.body.id}/review/approve`, {})).status).toBe(200);
    expect((await waitForPost(user.api, created.body.id, isFinished)).status).toBe('published');
  });

  it("checks an edited draft against the platform's limits", async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      mediaIds: [await uploadPhoto(user.api, 1000, 800)],
      targets: [{ type: 'local_export', key: 'ig', platform: 'instagram' }],
    });
    await waitForPost(user.api, created.body.id, awaitingReview(0));
    const tooManyTags = Array.from({ length: 31 }, (_, i) => `#tag${i}`).join(' ');
    const bad = await postJson(
      user.api,
      `/api/v1/posts/${created.body.id}/drafts/ig`,
      { draft: { caption: tooManyTags } },
      {},
      'PUT',
    );
    expectProblem(bad, 422, 'draft.caption');
    expect(bad.body.errors[0].message).toMatch(/must have at most 30 hashtags/);
    // An approval with edits names the refused field by its place in the approval's body.
    const approval = await postJson(user.api, `/api/v1/posts/${created.body.id}/review/approve`, {
      edits: { ig: { caption: tooManyTags } },
    });
    expectProblem(approval, 422, 'edits.ig.caption');
    expect(approval.body.errors[0].message).toMatch(/must have at most 30 hashtags/);
    expectProblem(
      await postJson(user.api, `/api/v1/posts/${created.body.id}/drafts/nope`, { draft: { caption: 'x' } }, {}, 'PUT'),
      422,
      'targetKey',
    );
    const good = await postJson(
      user.api,
      `/api/v1/posts/${created.body.id}/drafts/ig`,
      { draft: { caption: 'Short and sweet #alps' } },
      {},
      'PUT',
    );
    expect(good.status).toBe(200);
    expect(good.body.targets[0].draft).toEqual({ caption: 'Short and sweet #alps' });
    await postJson(user.api, `/api/v1/posts/${created.body.id}/cancel`, {});
    expect((await waitForPost(user.api, created.body.id, isFinished)).status).toBe('cancelled');
  });
});

describe('scheduling', () => {
  it('reschedules a waiting post, given in a time zone, and publishes at the new time', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Later, then sooner',
      targets: [{ type: 'local_export' }],
      publishAt: { local: '2031-06-01T09:00', timeZone: 'Europe/Vienna' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ publishAt: '2031-06-01T07:00:00.000Z', timeZone: 'Europe/Vienna' });
    await waitForPost(user.api, created.body.id, (p) => p.status === 'scheduled');
    // A mistyped year in the past is refused, not published at once.
    const typo = await postJson(user.api, `/api/v1/posts/${created.body.id}/reschedule`, {
      publishAt: new Date(Date.now() - 365 * 86_400_000).toISOString(),
    });
    expectProblem(typo, 422, 'publishAt');
    expect(JSON.stringify(typo.body)).toMatch(/has passed; give a time from now on/);
    expect((await call(user.api, `/api/v1/posts/${created.body.id}`)).body).toMatchObject({
      status: 'scheduled',
      publishAt: '2031-06-01T07:00:00.000Z',
    });

    const soon = new Date(Date.now() + 2000).toISOString();
    const moved = await postJson(user.api, `/api/v1/posts/${created.body.id}/reschedule`, { publishAt: soon });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body).toMatchObject({ publishAt: soon, timeZone: null });
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');
    expect(Date.parse(post.targets[0].publishedAt)).toBeGreaterThanOrEqual(Date.parse(soon));
    expectProblem(await postJson(user.api, `/api/v1/posts/${post.id}/reschedule`, { publishAt: soon }), 409);
    await captureHistory(handle(post), 'post-pipeline-v3-rescheduled');
  });

  it('refuses to create a post whose time has passed, and publishes one given the current time', async () => {
    const lastYear = await postJson(user.api, '/api/v1/posts', {
      caption: 'A mistyped year',
      targets: [{ type: 'local_export' }],
      publishAt: { local: `${new Date().getUTCFullYear() - 1}-06-01T09:00`, timeZone: 'Europe/Vienna' },
    });
    expectProblem(lastYear, 422, 'publishAt');
    expect(JSON.stringify(lastYear.body)).toMatch(/has passed; give a time from now on/);
    const listed = (await call(user.api, '/api/v1/posts?limit=100')).body.items as { caption: string | null }[];
    expect(listed.some((p) => p.caption === 'A mistyped year')).toBe(false);

    // A client whose clock is a little behind, or that means "now": published at once.
    const now = await postJson(user.api, '/api/v1/posts', {
      caption: 'Right away',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() - 20_000).toISOString(),
    });
    expect(now.status, JSON.stringify(now.body)).toBe(201);
    expect((await waitForPost(user.api, now.body.id, isFinished)).status).toBe('published');
  });

  it('refuses a review deadline that has passed, and a caption beside a brief, saving nothing', async () => {
    const lateDeadline = await postJson(user.api, '/api/v1/posts', {
      caption: 'Reviewed too late',
      targets: [{ type: 'local_export' }],
      review: { mode: 'manual', deadline: new Date(Date.now() - 365 * 86_400_000).toISOString() },
    });
    expectProblem(lateDeadline, 422, 'review.deadline');
    expect(JSON.stringify(lateDeadline.body)).toMatch(/has passed; give a time from now on/);

    // Drafts come from the brief alone: the caption would have been saved and never published.
    const both = await postJson(user.api, '/api/v1/posts', {
      caption: 'Free coffee for the first 20 guests!',
      brief: { topic: 'Shop opening' },
      targets: [{ type: 'local_export' }],
    });
    expectProblem(both, 422, 'caption');
    expect(JSON.stringify(both.body)).toMatch(/not both/);
    const listed = (await call(user.api, '/api/v1/posts?limit=100')).body.items as { caption: string | null }[];
    expect(listed.some((p) => p.caption === 'Reviewed too late' || p.caption?.startsWith('Free coffee'))).toBe(false);
  });

  it('cancels a waiting post: nothing is published and the database says so', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Never mind',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    await waitForPost(user.api, created.body.id, (p) => p.status === 'scheduled');
    const cancelled = await postJson(user.api, `/api/v1/posts/${created.body.id}/cancel`, {});
    // Accepted means it took effect: the post is recorded cancelled by the time the answer comes.
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', error: 'Cancelled on request' });
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post).toMatchObject({ status: 'cancelled', error: 'Cancelled on request' });
    expect(post.targets[0].status).toBe('cancelled');
    expect(post.steps.find((s: Json) => s.name === 'schedule')).toMatchObject({ status: 'skipped' });
    expect(await readdir(join(app.dataDir, 'exports')).then((d) => d.includes(post.id))).toBe(false);
    expect((await handle(post).result()).status).toBe('cancelled');
    expectProblem(await postJson(user.api, `/api/v1/posts/${post.id}/cancel`, {}), 409);
    await captureHistory(handle(post), 'post-pipeline-v3-cancelled');
  });

  it('refuses a local time that is not a real date, naming the field', async () => {
    const res = await postJson(user.api, '/api/v1/posts', {
      caption: 'x',
      targets: [{ type: 'local_export' }],
      publishAt: { local: '2031-02-30T09:00', timeZone: 'Europe/Vienna' },
    });
    expectProblem(res, 422, 'publishAt.local');
    const zone = await postJson(user.api, '/api/v1/posts', {
      caption: 'x',
      targets: [{ type: 'local_export' }],
      publishAt: { local: '2031-02-01T09:00', timeZone: 'Europe/Atlantis' },
    });
    expectProblem(zone, 422);
    expect(JSON.stringify(zone.body.errors)).toMatch(/IANA time zone/);
  });
});

describe('partial success', () => {
  it('publishes the targets that can be, then retries the failed one alone', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Two places at once',
      mediaIds: [await uploadPhoto(user.api)],
      review: { mode: 'manual' },
      targets: [
        { type: 'local_export', key: 'archive' },
        { type: 'local_export', key: 'blocked' },
      ],
    });
    await waitForPost(user.api, created.body.id, awaitingReview(0));
    // Something that is not ours stands where the second export would go.
    const blocked = join(app.dataDir, 'exports', created.body.id, 'blocked');
    await rm(blocked, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(join(app.dataDir, 'exports', created.body.id), { recursive: true });
    await writeFile(blocked, 'somebody else');
    await postJson(user.api, `/api/v1/posts/${created.body.id}/review/approve`, {});

    const partial = await waitForPost(user.api, created.body.id, isFinished);
    expect(partial.status).toBe('partially_published');
    const byKey = Object.fromEntries(partial.targets.map((t: Json) => [t.key, t]));
    expect(byKey.archive).toMatchObject({ status: 'published', attempts: 1 });
    expect(byKey.blocked).toMatchObject({ status: 'failed', attempts: 1 });
    expect(byKey.blocked.error).toMatch(
      /already exists and is not this post's export; move it away, then retry this target/,
    );
    expect(partial.error).toMatch(/^blocked: /);
    const [row] = await app.db.select().from(posts).where(eq(posts.id, partial.id));
    expect(row!.status).toBe('partially_published');

    expectProblem(await postJson(user.api, `/api/v1/posts/${partial.id}/targets/archive/retry`, {}), 409);
    await rm(blocked);
    const retried = await postJson(user.api, `/api/v1/posts/${partial.id}/targets/blocked/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const post = await waitForPost(user.api, partial.id, (p) => p.status === 'published');
    const after = Object.fromEntries(post.targets.map((t: Json) => [t.key, t]));
    expect(after.blocked).toMatchObject({ status: 'published', attempts: 2, error: null });
    expect(after.archive.attempts).toBe(1);
    expect(after.archive.publishedAt).toBe(byKey.archive.publishedAt);
    expect(post.error).toBeNull();
    const publishTries = (await call(user.api, `/api/v1/posts/${post.id}/attempts`)).body.items.filter(
      (a: Json) => a.step === 'publish',
    );
    expect(publishTries.map((a: Json) => `${a.targetKey}:${a.outcome}`).sort()).toEqual([
      'archive:succeeded',
      'blocked:failed',
      'blocked:succeeded',
    ]);
    // Everything is published: the pipeline closes.
    expect((await handle(post).result()).status).toBe('published');
    await captureHistory(handle(post), 'post-pipeline-v3-retried-target');
  });
});

// Last in the file: the worker's drafter remembers, for its life, that the endpoint takes no schema.
describe('an endpoint without structured outputs', () => {
  it('gets the schema in the prompt and a json_object request, and the post is drafted', async () => {
    emulator.setStructuredOutputs(false);
    const post = await draftUnattended(20_000);
    expect(post.status, JSON.stringify(post.error)).toBe('published');
    const [refused, answered] = chatRequests().map((r) => r.body as { response_format: { type: string } });
    expect(refused!.response_format.type).toBe('json_schema');
    expect(answered!.response_format.type).toBe('json_object');
    expect(lastPrompt()).toContain('Answer with one JSON object that follows this JSON schema exactly:');
    // Known from then on: the next post asks for json_object straight away.
    const next = await draftUnattended(20_000);
    expect(next.status).toBe('published');
    expect(chatRequests().map((r) => (r.body as { response_format: { type: string } }).response_format.type)).toEqual([
      'json_schema',
      'json_object',
      'json_object',
    ]);
  });
});
