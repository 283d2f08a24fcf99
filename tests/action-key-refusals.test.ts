import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postActionKeys } from '../db/schema.js';
import { actionRequestHash } from '../use-cases/posts/action-keys.js';
import { sendPostUpdate } from '../use-cases/posts/send-update.js';
import { approveUpdate, rejectUpdate } from '../workflows/messages.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// A post action refused without any effect does not hold its Idempotency-Key: the corrected
// request may use the same key. A request that was accepted (or might have been) keeps it, so its
// retry gets the first answer and another request under the key is 422.

let app: TestApp;
let user: TestUser;

beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
});

async function awaitingReview(caption: string, extra: Record<string, unknown> = {}): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/posts', {
    caption,
    targets: [{ type: 'local_export' }],
    review: { mode: 'manual' },
    ...extra,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
}

const keyed = (key: string) => ({ 'Idempotency-Key': key });
const approve = (post: Json, body: unknown, key: string) =>
  postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, body, keyed(key));
const badEdits = { edits: { local_export: { caption: '' } } };
const fixedEdits = { edits: { local_export: { caption: 'Fixed' } } };

async function keyRow(key: string) {
  const [row] = await app.db.select().from(postActionKeys).where(eq(postActionKeys.key, key));
  return row;
}

/** Updates of a run that completed with an answer (not a failure). */
async function answeredUpdates(post: Json): Promise<number> {
  const history = await app.temporal.workflow.getHandle(post.workflow.id).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateCompletedEventAttributes?.outcome?.success)
    .length;
}

describe('what Temporal keeps of an Update id (the dev server)', () => {
  it('forgets an id its validator rejected, but answers a failed handler’s id with that failure again', async () => {
    const post = await awaitingReview('Temporal update ids');
    const handle = app.temporal.workflow.getHandle(post.workflow.id);
    // Rejected by the validator (the post was written by hand): the id is unknown afterwards.
    const rejected = await handle
      .executeUpdate(rejectUpdate, { args: [{ feedback: 'shorter' }], updateId: 'probe-rejected' })
      .catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(WorkflowUpdateFailedError);
    await expect(handle.getUpdateHandle('probe-rejected').result()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    // Accepted, its handler failed (the draft does not fit): the same id with a good draft gets
    // the first failure back without running, which is why each claim of a key has its own id.
    const failed = await handle
      .executeUpdate(approveUpdate, { args: [badEdits], updateId: 'probe-failed' })
      .catch((e: unknown) => e);
    expect((failed as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'InvalidDraft' });
    const again = await handle
      .executeUpdate(approveUpdate, { args: [fixedEdits], updateId: 'probe-failed' })
      .catch((e: unknown) => e);
    expect((again as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'InvalidDraft' });
    // The rejected id runs afresh.
    expect(await handle.executeUpdate(approveUpdate, { args: [{}], updateId: 'probe-rejected' })).toEqual({ round: 0 });
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  });
});

describe('a key whose request was refused without effect', () => {
  it('serves the corrected approve after a draft that did not fit (the reported case)', async () => {
    const post = await awaitingReview('Burn a key');
    expectProblem(await approve(post, badEdits, 'burn1'), 422, 'edits.local_export.caption');
    expect(await keyRow('burn1')).toBeUndefined();

    const fixed = await approve(post, fixedEdits, 'burn1');
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(200);
    expect(fixed.body.targets[0].draft.caption).toBe('Fixed');
    // Now it took effect: a retry gets the first answer, anything else under the key is 422.
    expect((await approve(post, fixedEdits, 'burn1')).status).toBe(200);
    expectProblem(await approve(post, badEdits, 'burn1'), 422, 'Idempotency-Key');
    expect(await keyRow('burn1')).toMatchObject({ action: 'approve', succeededAt: expect.any(Date) });
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  });

  it('serves another action after the validator refused the first (409), and the API’s own 422 never holds it', async () => {
    const post = await awaitingReview('Refused by the validator');
    const path = `/api/v1/posts/${post.id}`;
    // A post written by hand cannot be sent back for another round.
    expectProblem(await postJson(user.api, `${path}/review/reject`, { feedback: 'shorter' }, keyed('v-1')), 409);
    expect(await keyRow('v-1')).toBeUndefined();
    expectProblem(await approve(post, { edits: 'not an object' }, 'v-1'), 422, 'edits');

    const approved = await approve(post, {}, 'v-1');
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(await keyRow('v-1')).toMatchObject({ action: 'approve' });
    expectProblem(await postJson(user.api, `${path}/cancel`, {}, keyed('v-1')), 422, 'Idempotency-Key');
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  });

  it('still runs the corrected request once when it is sent twice at once', async () => {
    const post = await awaitingReview('Twice at once');
    // Refused twice at once: both answer the refusal, the key ends up free.
    const refused = await Promise.all([approve(post, badEdits, 'twice'), approve(post, badEdits, 'twice')]);
    for (const res of refused) expectProblem(res, 422, 'edits.local_export.caption');
    expect(await keyRow('twice')).toBeUndefined();

    const [first, second] = await Promise.all([approve(post, fixedEdits, 'twice'), approve(post, fixedEdits, 'twice')]);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
    expect(await answeredUpdates(post)).toBe(1);
    expect((await call(user.api, `/api/v1/posts/${post.id}`)).body.targets[0].draft.caption).toBe('Fixed');
  });
});

describe('a key claimed before each claim had its own Update id', () => {
  it('is answered from the Update it was first sent as, not run again under a new id', async () => {
    const post = await awaitingReview('Approved before the upgrade');
    const key = 'from-the-last-release';
    const body = { edits: { local_export: { caption: 'Approved once' } } };
    // What the previous release did: the Update under `approve:<sha256 of the key, base64url>`,
    // its answer lost (the claim never marked succeeded)...
    const oldId = `approve:${createHash('sha256').update(key).digest('base64url')}`;
    await app.temporal.workflow
      .getHandle(post.workflow.id)
      .executeUpdate(approveUpdate, { args: [body], updateId: oldId });
    await app.db.insert(postActionKeys).values({
      ownerId: user.id,
      key,
      postId: post.id as string,
      action: 'approve',
      requestHash: actionRequestHash(post.id as string, 'approve', body),
    });
    // ...and the row as migration 0011 leaves it.
    const migration = readFileSync(
      join(import.meta.dirname, '../db/migrations/0011_action_key_update_ids.sql'),
      'utf8',
    ).split('--> statement-breakpoint');
    await app.db.execute(sql.raw(migration[1]!));
    expect((await keyRow(key))?.updateId).toBe(oldId);

    // The client's retry: the first answer, not "not awaiting review" from a second Update.
    const retried = await approve(post, body, key);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(await answeredUpdates(post)).toBe(1);
  });
});

describe('a retried reschedule whose time has passed since', () => {
  it('gets the first answer, not "has passed"', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Moved, answer lost',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // A reschedule to a time now two minutes gone took effect under this key; its answer was lost.
    const input = { publishAt: new Date(Date.now() - 120_000).toISOString() };
    await app.db.insert(postActionKeys).values({
      ownerId: user.id,
      key: 'moved-then-lost',
      postId: created.body.id as string,
      action: 'reschedule',
      requestHash: actionRequestHash(created.body.id as string, 'reschedule', input),
      updateId: 'reschedule:earlier',
      succeededAt: new Date(Date.now() - 110_000),
    });
    const path = `/api/v1/posts/${created.body.id}/reschedule`;
    const retried = await postJson(user.api, path, input, keyed('moved-then-lost'));
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    // Without the key, or with another, the same time is refused as passed.
    expectProblem(await postJson(user.api, path, input), 422, 'publishAt');
    expectProblem(await postJson(user.api, path, input, keyed('another-key')), 422, 'publishAt');
    await postJson(user.api, `/api/v1/posts/${created.body.id}/cancel`, {});
  });
});

describe('which answers release the key (the workflow answering through a stand-in client)', () => {
  /** A client whose Update gets `outcome`, and whose poll for the Update id answers `polled`. */
  function standIn(outcome: unknown, polled: unknown): Client {
    const handle = {
      executeUpdate: () => Promise.reject(outcome),
      getUpdateHandle: () => ({ result: () => Promise.reject(polled) }),
    };
    return {
      withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
      workflow: { getHandle: () => handle },
    } as unknown as Client;
  }
  const failure = (type: string, message: string) =>
    new WorkflowUpdateFailedError(
      'Workflow Update failed',
      ApplicationFailure.create({ type, message, nonRetryable: true }),
    );
  const keptByTemporal = (type: string) => failure(type, 'as first answered');
  const unknownToTemporal = new WorkflowNotFoundError('update not found', 'post-x', undefined);

  const cases = [
    {
      name: "a write that gave up ('nothing changed', 503)",
      outcome: failure('Unavailable', 'Could not record the approval just now; nothing changed, try again shortly'),
      polled: keptByTemporal('Unavailable'),
      error: 'UnavailableError',
      released: true,
    },
    {
      name: 'a validator rejection (409)',
      outcome: failure('Error', 'The post is not waiting for review'),
      polled: unknownToTemporal,
      error: 'ConflictError',
      released: true,
    },
    {
      name: 'a handler that answered too late (409)',
      outcome: failure('TooLate', 'Too late to cancel: the post is published'),
      polled: keptByTemporal('TooLate'),
      error: 'ConflictError',
      released: false,
    },
    {
      name: 'Temporal not answering in time (503)',
      outcome: Object.assign(new Error('deadline exceeded'), { code: 4 }),
      polled: unknownToTemporal,
      error: 'UnavailableError',
      released: false,
    },
  ];

  for (const c of cases) {
    it(`${c.released ? 'releases' : 'keeps'} the key after ${c.name}`, async () => {
      const post = await awaitingReview(`Stand-in ${c.name}`);
      const key = `stand-in-${cases.indexOf(c)}`;
      const sent = await sendPostUpdate(
        { db: app.db, temporal: standIn(c.outcome, c.polled), callTimeoutMs: 5000 },
        { ownerId: user.id, postId: post.id, idempotencyKey: key },
        { name: 'approve', update: approveUpdate, args: [{}], body: {} },
      ).catch((e: unknown) => e);
      expect(sent).toMatchObject({ name: c.error });
      expect(await keyRow(key)).toEqual(c.released ? undefined : expect.objectContaining({ succeededAt: null }));
      // Released, the same key reaches the real workflow afresh; kept, the first request holds it.
      const next = await approve(post, fixedEdits, key);
      if (c.released) expect(next.status, JSON.stringify(next.body)).toBe(200);
      else expectProblem(next, 422, 'Idempotency-Key');
      await app.temporal.workflow.getHandle(post.workflow.id).terminate('test done');
    });
  }
});
