import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { eq, like } from 'drizzle-orm';
import { afterAll, expect, it } from 'vitest';
import { campaignSlots, posts } from '../db/schema.js';
import { WEEKDAYS } from '../domain/cadence.js';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { call, type Json, postJson, signUp } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { until } from './helpers/until.js';

// A campaign through a restart on the real dev server: the whole app (worker, API, connections)
// stops between two slots and comes back on the same database, files and task queue after the
// second slot's time has passed. Slots are a minute apart, the finest the cadence allows.

const ZONE = 'Europe/Berlin';
const MINUTE = 60_000;

let first: TestApp | undefined;
let second: TestApp | undefined;
afterAll(async () => {
  if (second) await second.stop();
  else await first?.stop();
});

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

/** Weekly slots at exactly these instants (whole minutes), in the campaign's zone. */
function slotsAt(instants: number[]) {
  return instants.map((at) => {
    const local = localTimeOf(at, ZONE);
    const weekday = (new Date(`${local.slice(0, 10)}T00:00:00Z`).getUTCDay() + 6) % 7;
    return { day: WEEKDAYS[weekday]!, time: local.slice(11), local };
  });
}

it('a worker restart between slots loses no slot and publishes none twice', { timeout: 420_000 }, async () => {
  first = await startTestApp();
  const user = await signUp(first.baseUrl);
  // Whole minutes, the first at least 20 s away so the campaign is running before it.
  const t1 = Math.ceil((Date.now() + 20_000) / MINUTE) * MINUTE;
  const times = [t1, t1 + MINUTE, t1 + 2 * MINUTE];
  const slots = slotsAt(times);
  const created = await postJson(user.api, '/api/v1/campaigns', {
    name: 'Through a restart',
    brief: { topic: 'Our product launch', tone: 'upbeat' },
    targets: [{ type: 'local_export' }],
    review: { mode: 'auto' },
    cadence: { kind: 'weekly', slots: slots.map(({ day, time }) => ({ day, time })) },
    timeZone: ZONE,
    startDate: slots[0]!.local.slice(0, 10),
    end: { count: 3 },
    leadMinutes: 0,
    // A slot whose time passes while the worker is down is published when it returns.
    catchUp: { mode: 'late', windowMinutes: 10 },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  expect(created.body.nextSlots.map((s: Json) => s.slot)).toEqual(slots.map((s) => s.local));
  const db = first.db;
  const slotRows = () =>
    db.select().from(campaignSlots).where(eq(campaignSlots.campaignId, id)).orderBy(campaignSlots.slotLocal);
  const postOf = async (postId: string) => (await db.select().from(posts).where(eq(posts.id, postId)))[0];

  // The first slot publishes, then everything stops before the second slot's time.
  const [firstSlot] = await until(
    'the first slot published',
    async () => {
      const rows = await slotRows();
      const postId = rows[0]?.postId;
      return postId && (await postOf(postId))?.status === 'published' ? rows : false;
    },
    times[1]! - Date.now() - 5000,
    500,
  );
  expect(Date.now()).toBeLessThan(times[1]! - 2000);
  await first.services.stop();
  await first.temporal.connection.close();
  const downAt = Date.now();

  // Back 20 s after the second slot's time.
  await sleepUntil(times[1]! + 20_000);
  // The worker polls before startTestApp returns: "after the return" is measured from its start.
  const returningAt = Date.now();
  second = await startTestApp({ restartOf: first });
  const upAt = Date.now();
  expect(upAt - downAt).toBeGreaterThan(20_000);
  const api = { url: second.baseUrl, headers: user.api.headers };

  const done = await until(
    'every slot published',
    async () => {
      const view = await call(api, `/api/v1/campaigns/${id}`);
      return view.body.status === 'completed' && view.body.summary.published === 3 && view.body;
    },
    times[2]! - Date.now() + 120_000,
    500,
  );
  expect(done.summary).toMatchObject({ published: 3, failed: 0, missed: 0, skipped: 0 });

  // One post per slot, whatever ran twice: the slots' rows, the posts keyed by the campaign, the exports.
  const rows = await second.db
    .select()
    .from(campaignSlots)
    .where(eq(campaignSlots.campaignId, id))
    .orderBy(campaignSlots.slotLocal);
  expect(rows.map((r) => [r.slotLocal, r.outcome])).toEqual(slots.map((s) => [s.local, 'created']));
  expect(rows[0]!.postId).toBe(firstSlot!.postId);
  const made = await second.db
    .select()
    .from(posts)
    .where(like(posts.idempotencyKey, `campaign:${id}:%`));
  expect(made.map((p) => p.idempotencyKey).sort()).toEqual(slots.map((s) => `campaign:${id}:${s.local}`));
  expect(new Set(rows.map((r) => r.postId))).toEqual(new Set(made.map((p) => p.id)));
  expect((await readdir(join(first.dataDir, 'exports'))).sort()).toEqual(made.map((p) => p.id).sort());
  for (const post of made) {
    expect(post.status).toBe('published');
    expect(await readdir(join(first.dataDir, 'exports', post.id))).toEqual(['local_export']);
    const attempts = (await call(api, `/api/v1/posts/${post.id}/attempts`)).body.items as Json[];
    expect(attempts.filter((a) => a.step === 'publish' && a.outcome === 'succeeded')).toHaveLength(1);
  }

  // On time before and after the restart; the slot that passed while down, on the worker's return.
  const byKey = new Map(made.map((p) => [p.idempotencyKey, p]));
  const publishAt = (i: number) => byKey.get(`campaign:${id}:${slots[i]!.local}`)!.publishAt!.getTime();
  // (With no lead time the post is made as its slot comes, so it is due the moment it is made.)
  for (const i of [0, 2]) {
    expect(publishAt(i)).toBeGreaterThanOrEqual(times[i]!);
    expect(publishAt(i)).toBeLessThan(times[i]! + 15_000);
  }
  expect(publishAt(1)).toBeGreaterThanOrEqual(returningAt);
  expect(publishAt(1)).toBeLessThan(times[1]! + 10 * MINUTE);
});
