import { loadavg } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { createPost, getPost, signUpBenchUser, uploadImage } from './api-client.js';
import { smallPhoto } from './images.js';
import { inPool, median, percentile, report, round, sleep } from './stats.js';
import { peakMemory, startSystem } from './system.js';

const EventType = proto.temporal.api.enums.v1.EventType;

interface Stages {
  /** The publish timer fired after publishAt (the dev server's timer queue). */
  timer: number;
  /** From the timer to the worker starting the workflow task it caused (queueing, polling). */
  workflowTask: number;
  /** From that task's start to the publish activity being scheduled (the worker's own work). */
  decision: number;
  /** From the activity being scheduled to a worker starting it (priority, slots). */
  dispatch: number;
  /** From the activity's start to the publication's publishedAt (its work before the platform call). */
  publish: number;
}

/** Splits one post's lateness into the stages of its history, in seconds. */
async function stagesOf(client: Client, workflowId: string, publishAt: number, publishedAt: number) {
  const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
  const all = events ?? [];
  const scheduled = all.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'publishTarget',
  );
  if (!scheduled) return undefined;
  const before = all.filter((e) => Number(e.eventId) < Number(scheduled.eventId));
  const timer = before.findLast((e) => e.eventType === EventType.EVENT_TYPE_TIMER_FIRED);
  const taskStarted = before.findLast((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
  const started = all.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
      Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled.eventId),
  );
  if (!timer || !taskStarted || !started) return undefined;
  const at = (e: typeof timer) => tsToMs(e.eventTime);
  const s = (ms: number) => ms / 1000;
  return {
    timer: s(at(timer) - publishAt),
    workflowTask: s(at(taskStarted) - at(timer)),
    decision: s(at(scheduled) - at(taskStarted)),
    dispatch: s(at(started) - at(scheduled)),
    publish: s(publishedAt - at(started)),
  } satisfies Stages;
}

const WAITING = Number(process.env.BENCH_SCALE_N ?? 10_000);
const DUE = Number(process.env.BENCH_SCALE_DUE ?? 300);
const WIDTH = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SETTLE_SECONDS = Number(process.env.BENCH_SCALE_SETTLE_SECONDS ?? 60);
const TARGETS = [{ type: 'local_export', key: 'instagram', platform: 'instagram' }];

/**
 * Many posts waiting: a burst of WAITING posts scheduled 30 days ahead, then DUE posts due 1-3
 * minutes later. Reports how late the due ones were published (publishedAt against publishAt) and
 * the resident memory of worker+API and of the dev server, apart, with the burst waiting.
 */
export async function scaleBench(): Promise<void> {
  const system = await startSystem();
  const connection = await Connection.connect({ address: system.temporalAddress });
  const client = new Client({ connection });
  const sampler = peakMemory(system);
  const { peak } = sampler;
  try {
    const user = await signUpBenchUser(system.apiUrl);
    const media = await uploadImage(user, await smallPhoto());
    const idle = await system.memory();

    const farAt = new Date(Date.now() + 30 * 24 * 3600_000).toISOString();
    const burstStarted = performance.now();
    let failures = 0;
    await inPool(WAITING, WIDTH, async (i) => {
      try {
        await createPost(user, { caption: `Far post ${i}`, mediaIds: [media], targets: TARGETS, publishAt: farAt });
      } catch (err) {
        failures += 1;
        if (failures <= 3) console.error(String(err));
      }
    });
    const burstSeconds = (performance.now() - burstStarted) / 1000;

    // Due 1 to 3 minutes from now, spread evenly.
    const base = Date.now() + 60_000;
    const due = Array.from({ length: DUE }, (_, i) => new Date(base + Math.round((i * 120_000) / DUE)).toISOString());
    const near: { id: string; workflowId: string; publishAt: string }[] = [];
    await inPool(DUE, WIDTH, async (i) => {
      const publishAt = due[i]!;
      const post = await createPost(user, {
        caption: `Near post ${i}`,
        mediaIds: [media],
        targets: TARGETS,
        publishAt,
      });
      near.push({ ...post, publishAt });
    });
    const nearCreatedBy = Date.now();

    const afterBurst = await system.memory();
    const lastDue = due.length > 0 ? Date.parse(due.at(-1)!) : Date.now();
    await inPool(near.length, 64, async (i) => {
      const handle = client.workflow.getHandle(near[i]!.workflowId);
      await Promise.race([handle.result(), sleep(Math.max(0, lastDue - Date.now()) + 600_000)]);
    });
    const lateness: number[] = [];
    const stages: Record<keyof Stages, number[]> = {
      timer: [],
      workflowTask: [],
      decision: [],
      dispatch: [],
      publish: [],
    };
    let unpublished = 0;
    await inPool(near.length, 8, async (i) => {
      const post = await getPost(user, near[i]!.id);
      const targets = post.targets as { publishedAt: string | null }[];
      if (targets.some((t) => !t.publishedAt)) {
        unpublished += 1;
        return;
      }
      const last = Math.max(...targets.map((t) => Date.parse(t.publishedAt!)));
      lateness.push((last - Date.parse(near[i]!.publishAt)) / 1000);
      const split = await stagesOf(client, near[i]!.workflowId, Date.parse(near[i]!.publishAt), last);
      if (split) for (const key of Object.keys(stages) as (keyof Stages)[]) stages[key].push(split[key]);
    });
    const waiting = await system.memory();
    // The goal is about the steady state once the system idles with all of them waiting, and one
    // reading moves with when V8 last collected: read every 2 s through the idle time, the median
    // is the steady state and the range shows how far single readings stray.
    const idleReadings: number[] = [];
    for (let t = 0; t < SETTLE_SECONDS; t += 2) {
      await sleep(2000);
      idleReadings.push((await system.memory()).appMB);
    }
    report('scale', {
      waitingPosts: WAITING,
      createFailures: failures,
      burstSeconds: round(burstSeconds, 1),
      burstCreatesPerSecond: round(WAITING / burstSeconds, 1),
      duePosts: DUE,
      dueCreatedSecondsBeforeFirstDue: round((base - nearCreatedBy) / 1000, 1),
      unpublished,
      latenessSeconds: {
        p50: round(percentile(lateness, 50)),
        p99: round(percentile(lateness, 99)),
        max: round(Math.max(...lateness)),
      },
      latenessGoal: 'p99 < 1 s',
      // Where the lateness goes, each stage's p50 / p99 in seconds (see stagesOf).
      latenessStagesP50P99: Object.fromEntries(
        Object.entries(stages).map(([k, v]) => [k, [round(percentile(v, 50)), round(percentile(v, 99))]]),
      ),
      loadAverage: loadavg().map((l) => round(l, 1)),
      allocator: await system.allocator(),
      memoryMB: {
        workerAndApiIdle: round(idle.appMB, 0),
        workerAndApiAfterBurst: round(afterBurst.appMB, 0),
        workerAndApiWithAllWaiting: round(waiting.appMB, 0),
        [`workerAndApiAllWaitingIdle${SETTLE_SECONDS}sMedian`]: round(median(idleReadings), 0),
        [`workerAndApiAllWaitingIdle${SETTLE_SECONDS}sMinMax`]: [
          round(Math.min(...idleReadings), 0),
          round(Math.max(...idleReadings), 0),
        ],
        workerAndApiPeak: round(peak.appMB, 0),
        devServerWithAllWaiting: round(waiting.devServerMB, 0),
        devServerPeak: round(peak.devServerMB, 0),
      },
      memoryGoal: 'worker+API < 400 MB',
    });
  } finally {
    sampler.stop();
    await connection.close();
    await system.stop();
  }
}
