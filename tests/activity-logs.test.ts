import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { installTemporalLogging } from '../runtime/temporal-logging.js';
import { call, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

const MARKER = `draft-secret-${Date.now()}`;

let app: TestApp;
let user: TestUser;
/** Every line the Temporal SDK logs in this process (the worker's "Activity failed" among them). */
const sdkLines: string[] = [];

beforeAll(async () => {
  installTemporalLogging(
    createLogger(
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, done) {
          sdkLines.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      }),
    ),
  );
  app = await startTestApp();
  user = await signUp(app.baseUrl);
  // A database rule the drafting step breaks: saving a draft that mentions the marker fails inside
  // the activity, with the draft text among the query's parameters.
  await app.db.execute(
    sql.raw(
      `alter table publications add constraint no_marker check (draft is null or draft::text not like '%${MARKER}%')`,
    ),
  );
});
afterAll(async () => {
  await app?.stop();
  installTemporalLogging(createLogger(process.env.TEST_LOG_LEVEL ?? 'warn'));
});

const LEAKS = [/Failed query/i, /\bparams:/i, /\bupdate "publications"/i, /\bset "draft"/i, new RegExp(MARKER)];

describe('activity failures in the logs', () => {
  const failures = () => sdkLines.filter((l) => l.includes('Activity failed'));
  async function waitForFailures(n: number, activityType: string) {
    const deadline = Date.now() + 45_000;
    const matching = () => failures().filter((l) => l.includes(`"activityType":"${activityType}"`));
    while (matching().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    return matching();
  }
  const expectClean = (text: string, what: string) => {
    for (const leak of LEAKS) expect(text, `${what} leaks ${leak}`).not.toMatch(leak);
  };

  it('carry neither SQL nor parameter values: a draft edit the database refuses', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { topic: 'Autumn in the hills' },
      targets: [{ type: 'local_export', key: 'fb', platform: 'facebook' }],
      review: { mode: 'manual' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = created.body;
    await waitForPost(user.api, post.id, (p) => p.status === 'awaiting_review');
    // The edit's text is a parameter of the UPDATE the activity runs; the database refuses it.
    const approving = postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {
      edits: { fb: { message: `Polished: ${MARKER}` } },
    }).catch(() => undefined);
    const logged = await waitForFailures(2, 'applyDraftEdits');
    expect(logged.length).toBeGreaterThanOrEqual(2);
    // What is left of the error: the database's reason, naming the constraint, not the values.
    expect(logged[0]).toMatch(/Database query failed: .*no_marker/);
    for (const line of [...sdkLines, ...app.logLines]) expectClean(line, 'a log line');

    // The failure Temporal holds for the retrying step (what the UI and `temporal workflow
    // describe` show), and the history, are clean too.
    const handle = app.temporal.workflow.getHandle(post.workflow?.id ?? `post-${post.id}`);
    const pending = JSON.stringify((await handle.describe()).raw.pendingActivities);
    expect(pending).toMatch(/no_marker/);
    expectClean(pending, 'the pending activity');
    await handle.terminate('test over').catch(() => {});
    await approving;
    expectClean(JSON.stringify(await handle.fetchHistory()), 'the history');
  });

  it('carry neither SQL nor parameter values: drafts the database refuses to save', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { topic: `Write about ${MARKER}` },
      targets: [{ type: 'local_export', key: 'fb', platform: 'facebook' }],
      review: { mode: 'manual' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = created.body;
    const logged = await waitForFailures(2, 'generateDrafts');
    expect(logged.length).toBeGreaterThanOrEqual(2);
    expect(logged[0]).toMatch(/no_marker/);
    for (const line of [...sdkLines, ...app.logLines]) expectClean(line, 'a log line');
    const handle = app.temporal.workflow.getHandle(post.workflow?.id ?? `post-${post.id}`);
    expectClean(JSON.stringify((await handle.describe()).raw.pendingActivities), 'the pending activity');
    // And what the API shows a person about the attempts.
    const attempts = await call(user.api, `/api/v1/posts/${post.id}/attempts`);
    expectClean(JSON.stringify(attempts.body), 'the attempts');
    await handle.terminate('test over').catch(() => {});
  });
});
