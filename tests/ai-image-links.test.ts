import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq, sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import type { ImageLinkOptions } from '../ai/image-link.js';
import { AiRequestError, createOpenAiGenerator, MalformedAiOutput } from '../ai/openai-generator.js';
import { posts } from '../db/schema.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { createPublishers } from '../platforms/registry.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { call, type Json, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { until } from './helpers/until.js';

// Image endpoints that answer with a link (DALL·E without response_format, many OpenAI-compatible
// servers) instead of base64. The emulator hosts the image itself, on loopback behind a signed
// query like an Azure SAS: exactly what URL imports refuse unless MEDIA_URL_ALLOWLIST names it.

const API_KEY = 'sk-test-image-links-1234567890';

let emulator: OpenAiEmulator;
let app: TestApp;
let user: TestUser;
/** The emulator's host, allowed the way an operator allows it: MEDIA_URL_ALLOWLIST. */
let allowed: ImageLinkOptions;

beforeAll(async () => {
  emulator = await startOpenAiEmulator({ imageHosting: { answer: 'url' } });
  allowed = { allowlist: loadConfig({ MEDIA_URL_ALLOWLIST: new URL(emulator.url).host }).MEDIA_URL_ALLOWLIST };
  app = await startTestApp({
    env: { OPENAI_BASE_URL: emulator.url, OPENAI_API_KEY: API_KEY, OPENAI_MODEL: EMULATOR_MODEL },
  });
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
  await emulator?.stop();
});
beforeEach(() => emulator.reset());

const generator = (imageLinks?: ImageLinkOptions, timeoutMs = 60_000) =>
  createOpenAiGenerator({
    apiKey: API_KEY,
    baseURL: emulator.url,
    model: EMULATOR_MODEL,
    imageModel: 'gpt-image-1',
    timeoutMs,
    ...(imageLinks ? { imageLinks } : {}),
  });

const downloads = () => emulator.requests.filter((r) => r.path.startsWith('/files/'));

/** Nothing of a link past its host: not its path, nor its query with the signature in it. */
function expectHostOnly(message: string) {
  expect(message).toContain(new URL(emulator.url).host);
  for (const part of ['/files/', 'img-', '?', 'sig', 'se=', 'sp=', '%']) expect(message).not.toContain(part);
}

async function failure(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('The call succeeded, but a failure was expected');
}

describe('an image endpoint answering with a link', () => {
  it('is fetched when its host is allowed, and the bytes keep their own type', async () => {
    emulator.setImageHosting({ serve: 'jpeg' });
    const image = await generator(allowed).image('a night train');
    expect(image).toMatchObject({ mimeType: 'image/jpeg', model: 'gpt-image-1' });
    expect(await sharp(image!.bytes).metadata()).toMatchObject({ format: 'jpeg', width: 1024, height: 1024 });
    expect(downloads()).toHaveLength(1);
  });

  it('is refused in words, naming the host only, when it points at an internal address not allowed', async () => {
    const err = (await failure(generator().image('a night train'))) as AiRequestError;
    expect(err).toBeInstanceOf(AiRequestError);
    expect(err.retryable).toBe(false);
    const host = new URL(emulator.url).host;
    expect(err.message).toBe(
      `The image endpoint answered with a link to the image at ${host}, which was not fetched: 127.0.0.1 is a loopback address; media can only be imported from public addresses. An image service inside your own network can be allowed by adding ${host} to MEDIA_URL_ALLOWLIST`,
    );
    expectHostOnly(err.message);
    // Refused before connecting: the image host never saw a request.
    expect(downloads()).toHaveLength(0);
  });

  it('is refused when the link serves something that is not an image', async () => {
    emulator.setImageHosting({ serve: 'html' });
    const err = (await failure(generator(allowed).image('a night train'))) as MalformedAiOutput;
    expect(err).toBeInstanceOf(MalformedAiOutput);
    expect(err.message).toBe(
      `The image endpoint answered with a link to the image at ${new URL(emulator.url).host}, but it led to something that is not a PNG, JPEG or WebP image`,
    );
    expectHostOnly(err.message);
  });

  it('is cut off at the generator deadline when the download stalls', async () => {
    emulator.setImageHosting({ stallDownloads: true });
    const err = (await failure(generator(allowed, 1500).image('a night train'))) as AiRequestError;
    expect(err).toBeInstanceOf(AiRequestError);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(
      /^The image endpoint answered with a link to the image at .*, but the image had not arrived in full 1500 ms after asking for it$/,
    );
    await until('the image host to see the download closed', async () => downloads()[0]?.aborted, 5000);
  });

  it('closes the download when the caller cancels, and gives the caller its reason back', async () => {
    emulator.setImageHosting({ stallDownloads: true });
    const cancel = new AbortController();
    const drawing = failure(generator(allowed).image('a night train', { signal: cancel.signal }));
    await until('the download', async () => downloads()[0], 10_000);
    const reason = new CancelledFailure('CANCELLED');
    cancel.abort(reason);
    expect(await drawing).toBe(reason);
    await until('the image host to see the download closed', async () => downloads()[0]?.aborted, 5000);
  });
});

describe("a post's AI image from a link", () => {
  /** A post with drafts still to write and an image asked for, whose pipeline this test drives itself. */
  async function postWantingAnImage(topic: string): Promise<Json> {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { topic },
      review: { mode: 'manual' },
      targets: [{ type: 'local_export', platform: 'facebook' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
    await app.temporal.workflow.getHandle(post.workflow.id).terminate('the test runs generateDrafts itself');
    await app.db
      .update(posts)
      .set({ brief: sql`${posts.brief} || '{"generateImage": true}'::jsonb` })
      .where(eq(posts.id, post.id));
    return post;
  }

  const activitiesWith = (imageLinks?: ImageLinkOptions) =>
    createActivities({
      db: app.db,
      store: app.services.store,
      logger: createLogger('silent'),
      publishers: createPublishers({ dataDir: app.dataDir }),
      drafts: generator(imageLinks),
    });

  it('ends up in the post media when the endpoint links to it', async () => {
    const post = await postWantingAnImage('Lighthouses of Brittany');
    emulator.reset();
    emulator.setImageHosting({ serve: 'webp' });
    await new MockActivityEnvironment({ heartbeatTimeoutMs: 5000 }).run(activitiesWith(allowed).generateDrafts, {
      postId: post.id,
      round: 0,
    });
    expect(emulator.requests.map((r) => r.path)).toEqual([
      '/v1/images/generations',
      expect.stringMatching(/^\/files\/img-[0-9a-f]+\.webp$/),
    ]);
    const view = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
    expect(view.media).toHaveLength(1);
    expect(view.media[0]).toMatchObject({ mimeType: 'image/webp', width: 1024, height: 1024 });
    expect(view.steps.find((s: Json) => s.name === 'generate').error).toBeNull();
  });

  it('is left out, with the reason in words and without the link, when its address is not allowed', async () => {
    const post = await postWantingAnImage('Harbours of Cornwall');
    emulator.reset();
    await new MockActivityEnvironment({ heartbeatTimeoutMs: 5000 }).run(activitiesWith().generateDrafts, {
      postId: post.id,
      round: 0,
    });
    const view = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
    expect(view.media).toHaveLength(0);
    const error = view.steps.find((s: Json) => s.name === 'generate').error as string;
    expect(error).toMatch(/^Drafts ready; no image could be generated: .* is a loopback address/);
    expectHostOnly(error);
    expect(downloads()).toHaveLength(0);
  });
});
