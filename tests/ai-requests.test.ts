import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Activities, createActivities } from '../activities/index.js';
import type { DraftRequest } from '../ai/generator.js';
import { AiRequestError, createOpenAiGenerator } from '../ai/openai-generator.js';
import { attempts } from '../db/schema.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { createPublishers } from '../platforms/registry.js';
import { createLogger } from '../runtime/logger.js';
import { call, type Json, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { until } from './helpers/until.js';

// Requests to the AI endpoint end when they should: when the post is cancelled, and when an
// answer stalls after its headers; and what went wrong is kept in a few words.

const API_KEY = 'sk-test-do-not-show-1234567890';

let emulator: OpenAiEmulator;
let app: TestApp;
let user: TestUser;

beforeAll(async () => {
  emulator = await startOpenAiEmulator();
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

const request: DraftRequest = {
  brief: { topic: 'Night trains across Europe', language: 'en' },
  targets: [{ key: 'fb', format: 'facebook' }],
};
const generator = (timeoutMs = 60_000, baseURL = emulator.url) =>
  createOpenAiGenerator({ apiKey: API_KEY, baseURL, model: EMULATOR_MODEL, imageModel: 'gpt-image-1', timeoutMs });
const chatRequests = () => emulator.requests.filter((r) => r.path === '/v1/chat/completions');

/** What a failed call threw. */
async function failure(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('The call succeeded, but a failure was expected');
}

describe('a request whose answer stalls', () => {
  it('ends, as a retryable error in words, when the body stops after the headers', async () => {
    emulator.injectFaults([{ kind: 'stall_after_headers' }]);
    const err = await failure(generator(1500).draft(request));
    expect(err).toBeInstanceOf(AiRequestError);
    expect((err as AiRequestError).retryable).toBe(true);
    expect((err as AiRequestError).message).toMatch(/^The AI endpoint stopped answering mid-response/);
    await until('the emulator to see the request closed', async () => chatRequests()[0]?.aborted, 5000);
  });

  it('ends when the body trickles nothing but spaces', async () => {
    emulator.injectFaults([{ kind: 'stall_after_headers', trickleEveryMs: 100 }]);
    const err = await failure(generator(1500).draft(request));
    expect((err as AiRequestError).message).toMatch(/^The AI endpoint stopped answering mid-response/);
    expect((err as AiRequestError).retryable).toBe(true);
  });

  it('says so when no answer starts in time', async () => {
    emulator.setLatency(10_000);
    const err = await failure(generator(1000).draft(request));
    expect((err as AiRequestError).message).toBe(
      `The AI endpoint at ${new URL(emulator.url).host} did not answer within 1 s`,
    );
    expect((err as AiRequestError).retryable).toBe(true);
  });
});

describe('a cancelled caller', () => {
  it('closes the drafting request and gets its own reason back', async () => {
    emulator.setLatency(30_000);
    const cancel = new AbortController();
    const drafting = failure(generator().draft(request, { signal: cancel.signal }));
    await until('the drafting request', async () => chatRequests()[0], 10_000);
    const reason = new CancelledFailure('CANCELLED');
    cancel.abort(reason);
    expect(await drafting).toBe(reason);
    await until('the emulator to see the request closed', async () => chatRequests()[0]?.aborted, 5000);
  });

  it('closes the image request too', async () => {
    emulator.setLatency(30_000);
    const cancel = new AbortController();
    const drawing = failure(generator().image('a night train', { signal: cancel.signal }));
    const images = () => emulator.requests.filter((r) => r.path === '/v1/images/generations');
    await until('the image request', async () => images()[0], 10_000);
    const reason = new CancelledFailure('CANCELLED');
    cancel.abort(reason);
    expect(await drawing).toBe(reason);
    await until('the emulator to see the request closed', async () => images()[0]?.aborted, 5000);
  });
});

describe('errors in words', () => {
  it("keeps a proxy's HTML error page to its title", async () => {
    emulator.injectFaults([{ kind: 'html_error', status: 502 }]);
    const err = (await failure(generator().draft(request))) as AiRequestError;
    expect(err.message).toBe('The AI endpoint failed (502): it answered with an HTML page ("502 Bad Gateway")');
    expect(err.retryable).toBe(true);
  });

  it('caps a long error text at whole characters', async () => {
    emulator.injectFaults([{ kind: 'bad_request', message: `Too much: ${'😀'.repeat(2000)}` }]);
    const err = (await failure(generator().draft(request))) as AiRequestError;
    expect(err.message).toMatch(/^The AI endpoint refused the request \(400\): Too much: (😀)+…$/u);
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('never repeats the API key an endpoint echoes', async () => {
    emulator.injectFaults([{ kind: 'bad_request', message: `Incorrect API key provided: ${API_KEY}.` }]);
    const err = (await failure(generator().draft(request))) as AiRequestError;
    expect(err.message).toBe('The AI endpoint refused the request (400): Incorrect API key provided: [redacted].');
  });

  it('never keeps part of an echoed key where a long error text is cut', async () => {
    // The cut at 300 characters falls inside the key.
    const message = `${'Context. '.repeat(31)}Key: ${API_KEY} rejected.`;
    expect(message.indexOf(API_KEY)).toBeLessThan(300);
    expect(message.indexOf(API_KEY) + API_KEY.length).toBeGreaterThan(300);
    emulator.injectFaults([{ kind: 'bad_request', message }]);
    const err = (await failure(generator().draft(request))) as AiRequestError;
    expect(err.message).toContain('Key: [redacted]');
    expect(err.message).not.toContain(API_KEY.slice(0, 8));
  });

  it('names a refused connection and the host, nothing more', async () => {
    const closed = createServer();
    const port = await new Promise<number>((resolve) =>
      closed.listen(0, '127.0.0.1', () => resolve((closed.address() as AddressInfo).port)),
    );
    await new Promise((resolve) => closed.close(resolve));
    const err = (await failure(generator(5000, `http://127.0.0.1:${port}/v1`).draft(request))) as AiRequestError;
    expect(err.message).toBe(`Could not connect to the AI endpoint at 127.0.0.1:${port}: connection refused`);
    expect(err.retryable).toBe(true);
  });

  it('names a host that does not exist', async () => {
    const err = (await failure(generator(5000, 'http://no-such-host.invalid/v1').draft(request))) as AiRequestError;
    // ENOTFOUND, or EAI_AGAIN where no resolver answers at all.
    expect(err.message).toMatch(
      /^Could not connect to the AI endpoint at no-such-host\.invalid: (no such host|its name)/,
    );
  });

  it('says a connection was reset', async () => {
    emulator.injectFaults([{ kind: 'reset' }]);
    const err = (await failure(generator().draft(request))) as AiRequestError;
    expect(err.message).toBe(
      `The connection to the AI endpoint at ${new URL(emulator.url).host} broke before it answered: connection reset`,
    );
    expect(err.retryable).toBe(true);
  });
});

/** A post with a brief whose pipeline is stopped after round 0, so the test runs round 1 itself. */
async function draftedPost(): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/posts', {
    brief: request.brief,
    review: { mode: 'manual', onExpiry: 'cancel' },
    targets: [{ type: 'local_export', key: 'fb', platform: 'facebook' }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
  await app.temporal.workflow.getHandle(post.workflow.id).terminate('the test drives the activity itself');
  emulator.reset();
  return post;
}

function activitiesWith(timeoutMs: number): Activities {
  return createActivities({
    db: app.db,
    store: app.services.store,
    logger: createLogger('silent'),
    publishers: createPublishers({ dataDir: app.dataDir }),
    drafts: generator(timeoutMs),
  });
}

const generateAttempts = (postId: string) =>
  app.db
    .select()
    .from(attempts)
    .where(and(eq(attempts.postId, postId), eq(attempts.step, 'generate')))
    .orderBy(asc(attempts.startedAt));

describe('the drafting activity', () => {
  it('closes its AI request when cancelled, and ends as a cancellation', async () => {
    const post = await draftedPost();
    emulator.setLatency(30_000);
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 3000 });
    const run = failure(
      env.run(activitiesWith(60_000).generateDrafts, { postId: post.id, round: 1, feedback: 'shorter' }),
    );
    await until('the drafting request', async () => chatRequests()[0], 10_000);
    env.cancel('CANCELLED');
    const err = await run;
    expect(err).toBeInstanceOf(CancelledFailure);
    await until('the emulator to see the request closed', async () => chatRequests()[0]?.aborted, 5000);
    const [, attempt] = await generateAttempts(post.id);
    expect(attempt?.error).toBe(
      'Stopped: the post was cancelled while the AI was writing; the request to the AI endpoint was closed',
    );
  });

  it('leaves a cancelled post cancelled when an attempt dispatched before the cancel starts after it', async () => {
    const post = await draftedPost();
    const activities = activitiesWith(60_000);
    await new MockActivityEnvironment().run(activities.recordCancellation, {
      postId: post.id,
      reason: 'Cancelled on request',
    });
    const read = async () => {
      const view = (await call(user.api, `/api/v1/posts/${post.id}`)).body as Json;
      return {
        status: view.status,
        steps: (view.steps as Json[]).map((s) => [s.name, s.status]),
        targets: view.targets,
      };
    };
    const cancelled = await read();
    expect(cancelled.status).toBe('cancelled');
    emulator.injectFaults([{ kind: 'server_error' }]);
    await failure(
      new MockActivityEnvironment().run(activities.generateDrafts, { postId: post.id, round: 1, feedback: 'x' }),
    );
    // The attempt is recorded, but the post's steps and targets stay as the cancellation left them.
    expect((await generateAttempts(post.id)).at(-1)).toMatchObject({ outcome: 'failed' });
    expect(await read()).toEqual(cancelled);
  });

  it('ends a stalled answer as a retryable failure in words, beating all the while', async () => {
    const post = await draftedPost();
    emulator.injectFaults([{ kind: 'stall_after_headers' }]);
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 3000 });
    let beatsWhileStalled = 0;
    env.on('heartbeat', () => {
      if (chatRequests().length > 0 && !chatRequests()[0]!.aborted) beatsWhileStalled += 1;
    });
    const err = await failure(
      env.run(activitiesWith(2500).generateDrafts, { postId: post.id, round: 1, feedback: 'shorter' }),
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'AiRequestFailed', nonRetryable: false });
    expect((err as Error).message).toMatch(/^The AI endpoint stopped answering mid-response/);
    // Beats every second (a third of the heartbeat timeout), so a 2.5 s stall sees some.
    expect(beatsWhileStalled).toBeGreaterThan(0);
    const [, attempt] = await generateAttempts(post.id);
    expect(attempt).toMatchObject({ outcome: 'failed' });
    expect(attempt?.error).toMatch(/^The AI endpoint stopped answering mid-response/);
  });
});

describe('a post cancelled while the AI writes', () => {
  it('closes the request to the endpoint and ends cancelled', { timeout: 180_000 }, async () => {
    // Longer than the cancellation takes to reach the activity: it learns of it from the answer
    // to its next heartbeat, which the worker sends at most every 10 s (runtime/worker-tuning.ts).
    emulator.setLatency(150_000);
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: request.brief,
      review: { mode: 'auto' },
      targets: [{ type: 'local_export' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await until('the drafting request', async () => chatRequests()[0], 30_000);
    const cancelled = await postJson(user.api, `/api/v1/posts/${created.body.id}/cancel`, {});
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    // Well before the endpoint would answer, and before the request's own 120 s deadline.
    await until('the emulator to see the request closed', async () => chatRequests()[0]?.aborted, 60_000, 500);
    const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'cancelled');
    expect(post.error).toBe('Cancelled on request');
    const items = (await call(user.api, `/api/v1/posts/${post.id}/attempts`)).body.items as Json[];
    const generate = items.filter((a) => a.step === 'generate');
    expect(generate).toHaveLength(1);
    // NOT_FOUND (the run had ended) or CANCELLED, depending on which the heartbeat's answer says.
    expect(generate[0]!.error).toMatch(/^Stopped: .*the post was cancelled.* while the AI was writing/);
    expect(chatRequests()).toHaveLength(1);
    // The stopped attempt, written after the cancellation was, does not take the post's end back.
    const after = (await call(user.api, `/api/v1/posts/${post.id}`)).body as Json;
    expect(after.status).toBe('cancelled');
    expect((after.steps as Json[]).find((s) => s.name === 'generate')).toMatchObject({ status: 'skipped' });
    expect((after.targets as Json[])[0]).toMatchObject({ status: 'cancelled' });
  });
});
