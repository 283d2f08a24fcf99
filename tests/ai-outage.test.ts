import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { nextDraftingTry } from '../activities/generate-drafts.js';
import { type Services, startServices } from '../composition/services.js';
import { AI_OUTAGE_MIN_RIDE_OUT_MS, AI_OUTAGE_RIDE_OUT_MS } from '../domain/drafts.js';
import { EMULATOR_MODEL, type Fault, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { call, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';

// An AI endpoint that is down for minutes, proven in seconds: the time-skipping test server jumps
// over drafting's retry backoff while the real activity asks the OpenAI emulator each time.
let env: TestWorkflowEnvironment;
let services: Services;
let emulator: OpenAiEmulator;
let user: TestUser;
let dataDir: string;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  emulator = await startOpenAiEmulator();
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-ai-outage-'));
  services = await startServices({
    config: loadConfig({
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      TEMPORAL_TASK_QUEUE: 'ai-outage',
      OPENAI_BASE_URL: emulator.url,
      OPENAI_API_KEY: 'sk-test-outage-1234567890',
      OPENAI_MODEL: EMULATOR_MODEL,
    }),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporalAddress: env.address,
    worker: true,
    api: true,
    port: 0,
    workflowBundlePath: inject('workflowBundlePath'),
  });
  user = await signUp(services.apiUrl!);
}, 120_000);

afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await emulator?.stop();
  await dropDatabase?.();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

beforeEach(() => emulator.reset());

const MINUTE = 60_000;
const chatRequests = () => emulator.requests.filter((r) => r.path === '/v1/chat/completions');
const times = <T>(n: number, item: T): T[] => Array.from({ length: n }, () => item);
const faults = (n: number, fault: Fault) => times(n, fault);

/** Drafts a post from a brief and waits (skipping time) for its workflow to end. */
async function draftPost(extra: Json = {}) {
  const created = await postJson(user.api, '/api/v1/posts', {
    brief: { topic: 'Night trains across Europe', language: 'en' },
    targets: [{ type: 'local_export' }],
    review: { mode: 'auto' },
    ...extra,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const handle = env.client.workflow.getHandle(created.body.workflow.id);
  await handle.result();
  const post = (await call(user.api, `/api/v1/posts/${created.body.id}`)).body;
  const tries = (await call(user.api, `/api/v1/posts/${created.body.id}/attempts`)).body.items.filter(
    (a: Json) => a.step === 'generate',
  );
  return { post, tries, drafting: await draftingSpan(handle) };
}

/** By the workflow's clock: when drafting was first asked for, and when its last attempt ended. */
async function draftingSpan(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }) {
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'generateDrafts');
  const id = scheduled!.eventId!.toString();
  const ended = events.find(
    (e) =>
      e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === id ||
      e.activityTaskFailedEventAttributes?.scheduledEventId?.toString() === id ||
      e.activityTaskTimedOutEventAttributes?.scheduledEventId?.toString() === id,
  );
  const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === id);
  return {
    from: at(scheduled!),
    to: at(ended!),
    ms: at(ended!) - at(scheduled!),
    attempts: started?.activityTaskStartedEventAttributes?.attempt ?? 0,
    timedOut: Boolean(ended?.activityTaskTimedOutEventAttributes),
  };
}

describe('drafting while the AI endpoint is down', () => {
  it('rides out an outage of several minutes (5xx, a gateway page, resets) and then publishes', async () => {
    emulator.injectFaults([
      ...faults(8, { kind: 'server_error' }),
      ...faults(2, { kind: 'html_error', status: 503 }),
      ...faults(2, { kind: 'reset' }),
    ]);
    const { post, tries, drafting } = await draftPost();
    expect(post.status, post.error).toBe('published');
    expect(chatRequests()).toHaveLength(13);
    // 1, 2, 4 ... 32 s apart, then a minute: the twelfth failure is seven minutes in.
    expect(drafting.ms).toBeGreaterThanOrEqual(7 * MINUTE);
    expect(drafting.attempts).toBe(13);
    // Every try is in the post's attempt history, each failure in words.
    expect(tries.map((a: Json) => a.outcome)).toEqual([...times(12, 'failed'), 'succeeded']);
    const errors = tries.slice(0, 12).map((a: Json) => a.error as string);
    expect(errors.slice(0, 8)).toEqual(times(8, expect.stringMatching(/^The AI endpoint failed \(500\): /)));
    expect(errors[8]).toMatch(/^The AI endpoint failed \(503\): it answered with an HTML page/);
    expect(errors[11]).toMatch(/^The connection to the AI endpoint at .+ broke before it answered: connection reset/);
    expect(errors.join('\n')).not.toContain('sk-test-outage-1234567890');
  });

  it('gives up on an outage longer than the ride-out, in words, within a bounded time', async () => {
    emulator.injectFaults(faults(60, { kind: 'server_error' }));
    const { post, tries, drafting } = await draftPost();
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(
      /^Drafting failed: The AI endpoint failed \(500\): .*\. Gave up after 20 tries over 14 min; drafting waits out endpoint failures for at most 15 min$/,
    );
    expect(post.steps.find((s: Json) => s.name === 'generate')).toMatchObject({ status: 'failed', attempts: 20 });
    expect(tries).toHaveLength(20);
    expect(tries.every((a: Json) => a.outcome === 'failed' && /^The AI endpoint failed \(500\)/.test(a.error))).toBe(
      true,
    );
    // The activity said why it stopped; Temporal did not have to cut it off.
    expect(drafting.timedOut).toBe(false);
    expect(drafting.ms).toBeGreaterThan(AI_OUTAGE_RIDE_OUT_MS - 2 * MINUTE);
    expect(drafting.ms).toBeLessThanOrEqual(AI_OUTAGE_RIDE_OUT_MS);
    // A failed post is not left with a retry that cannot work.
    const retry = await postJson(user.api, `/api/v1/posts/${post.id}/targets/local_export/retry`, {});
    expect(retry.status).toBe(409);
  });

  it('stops trying when the post is due, not after its publish time', async () => {
    emulator.injectFaults(faults(60, { kind: 'server_error' }));
    const publishAt = (await env.currentTimeMs()) + 5 * MINUTE;
    const { post, tries, drafting } = await draftPost({ publishAt: new Date(publishAt).toISOString() });
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(
      /^Drafting failed: The AI endpoint failed \(500\): .*\. Gave up after \d+ tries over \d+ min; the post cannot wait longer for its drafts: its publish time \(.+\) comes first$/,
    );
    // It tried for most of the time there was, and gave up before the publish time.
    expect(drafting.ms).toBeGreaterThan(3 * MINUTE);
    expect(drafting.to).toBeLessThanOrEqual(publishAt);
    expect(tries.length).toBeGreaterThan(8);
  });

  it('still fails at once, in words, on a refusal that no retry can mend', async () => {
    emulator.injectFaults([{ kind: 'bad_request', message: 'The model `gpt-nope` does not exist' }]);
    const { post, tries } = await draftPost();
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(/^Drafting failed: The AI endpoint refused the request \(400\): The model `gpt-nope`/);
    expect(chatRequests()).toHaveLength(1);
    expect(tries).toHaveLength(1);
  });

  it('still gives up on answers that stay malformed after a few tries, after an outage too', async () => {
    emulator.injectFaults([...faults(2, { kind: 'server_error' }), ...faults(8, { kind: 'malformed' })]);
    const { post, tries, drafting } = await draftPost();
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(
      /^Drafting failed: The AI returned drafts that break the platform rules: .*\. Gave up after 4 tries over \d+ s: an unusable answer is tried again only within the first 4 tries$/,
    );
    expect(tries).toHaveLength(4);
    expect(drafting.ms).toBeLessThan(MINUTE);
  });
});

describe('when drafting tries again', () => {
  const first = Date.UTC(2030, 0, 1);
  const failure = { kind: 'unavailable' as const, firstTryMs: first };

  it('waits the backoff, or longer when the endpoint asks, until the ride-out ends', () => {
    expect(nextDraftingTry({ ...failure, attempt: 1, nowMs: first + 100 })).toEqual({ retry: true, delayMs: 1000 });
    expect(nextDraftingTry({ ...failure, attempt: 9, nowMs: first + 5 * MINUTE })).toEqual({
      retry: true,
      delayMs: MINUTE,
    });
    expect(nextDraftingTry({ ...failure, attempt: 2, nowMs: first, retryAfterMs: 30_000 })).toEqual({
      retry: true,
      delayMs: 30_000,
    });
    expect(nextDraftingTry({ ...failure, attempt: 19, nowMs: first + 14 * MINUTE })).toEqual({
      retry: true,
      delayMs: MINUTE,
    });
    expect(nextDraftingTry({ ...failure, attempt: 20, nowMs: first + 14.5 * MINUTE })).toEqual({
      retry: false,
      why: 'Gave up after 20 tries over 15 min; drafting waits out endpoint failures for at most 15 min',
    });
    expect(nextDraftingTry({ ...failure, attempt: 3, nowMs: first + 10_000, retryAfterMs: 20 * MINUTE })).toEqual({
      retry: false,
      why: 'Gave up after 3 tries over 10 s, and the endpoint asked to wait 20 min; drafting waits out endpoint failures for at most 15 min',
    });
  });

  it('gives malformed answers a few tries, counted from the first', () => {
    const malformed = { ...failure, kind: 'malformed' as const };
    expect(nextDraftingTry({ ...malformed, attempt: 3, nowMs: first + 3000 })).toEqual({ retry: true, delayMs: 4000 });
    expect(nextDraftingTry({ ...malformed, attempt: 4, nowMs: first + 7000 })).toMatchObject({ retry: false });
  });

  it('stops at the time the post is due, though never within the first minutes', () => {
    const dueBy = (atMs: number) => ({ atMs, what: 'its publish time (then)' });
    expect(
      nextDraftingTry({ ...failure, attempt: 5, nowMs: first + 15_000, dueBy: dueBy(first + 20_000) }),
    ).toMatchObject({ retry: true });
    expect(
      nextDraftingTry({
        ...failure,
        attempt: 6,
        nowMs: first + AI_OUTAGE_MIN_RIDE_OUT_MS - 30_000,
        dueBy: dueBy(first),
      }),
    ).toEqual({
      retry: false,
      why: 'Gave up after 6 tries over 90 s; the post cannot wait longer for its drafts: its publish time (then) has passed',
    });
    expect(
      nextDraftingTry({ ...failure, attempt: 9, nowMs: first + 5 * MINUTE, dueBy: dueBy(first + 5.5 * MINUTE) }),
    ).toEqual({
      retry: false,
      why: 'Gave up after 9 tries over 5 min; the post cannot wait longer for its drafts: its publish time (then) comes first',
    });
    expect(
      nextDraftingTry({ ...failure, attempt: 9, nowMs: first + 5 * MINUTE, dueBy: dueBy(first + 60 * MINUTE) }),
    ).toEqual({ retry: true, delayMs: MINUTE });
  });
});
