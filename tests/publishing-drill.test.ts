import { afterAll, expect, inject, it } from 'vitest';
import { formatReport, runDrill } from '../scripts/drill-engine.js';
import { createTestDatabase } from './helpers/database.js';

/**
 * The short kill drill (issue 11; `npm run drill` is the long one): the worker runs as its own
 * process and is killed with SIGKILL at random moments while it publishes two posts to TikTok,
 * YouTube, Instagram and Facebook, then restarted. Every target must end on its platform exactly
 * once, the emulators must have seen no request that breaks a contract, and every kill must have
 * landed while a publish attempt was running on the killed worker.
 */

let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
afterAll(async () => {
  await database?.drop();
});

it('publishes every target exactly once through repeated SIGKILLs of the worker', async () => {
  database = await createTestDatabase();
  const seed = Number(process.env.DRILL_SEED ?? Date.now() % 1_000_000);
  const lines: string[] = [];
  const report = await runDrill({
    posts: 2,
    kills: 3,
    seed,
    temporalAddress: inject('temporalAddress'),
    databaseUrl: database.url,
    // A heartbeat timeout (1 minute) passes before Temporal hands a killed attempt to the new worker.
    settleTimeoutMs: 150_000,
    video: { seconds: 4, bitrate: '12M' },
    // One Facebook video publish takes effect and its answer is lost, as a kill at that moment
    // would leave it: the target must say "outcome unknown" and be settled without a second video.
    faults: { facebook: [{ kind: 'drop', on: 'video_publish' }] },
    log: (line) => lines.push(line),
  });
  const summary = `${formatReport(report)}\n${lines.join('\n')}`;
  // Three are planned at random moments; on a quick run every post may be done before the third
  // one's moment comes (seen in CI). Two kills mid-publish still make the drill's point.
  expect(report.kills.length, summary).toBeGreaterThanOrEqual(2);
  for (const kill of report.kills) expect(kill.running.length, summary).toBeGreaterThan(0);
  expect(report.duplicates, summary).toEqual([]);
  expect(report.violations, summary).toEqual([]);
  expect(report.unpublished, summary).toEqual([]);
  expect(report.mismatched, summary).toEqual([]);
  expect(report.publishedOnce, summary).toBe(8);
  // A kill inside a call that cannot be repeated safely ends that target "outcome unknown"; the
  // drill checks the platform and confirms or retries it, and the post must take that.
  for (const settled of report.settledByPerson) expect(settled, summary).toMatch(/\(HTTP 20[02]\)$/);
  expect(report.settledByPerson, summary).toContainEqual(
    expect.stringMatching(/ \/ facebook: outcome unknown, found once and confirmed/),
  );
  // The kills did interrupt publishing: some target needed more than one attempt.
  expect(Math.max(...Object.values(report.attempts)), summary).toBeGreaterThan(1);
  expect(report.ok).toBe(true);
}, 400_000);
