import { loadavg } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import sharp from 'sharp';
import { type BenchUser, createPost, FOUR_PLATFORMS, signUpBenchUser, uploadImage } from './api-client.js';
import { startBareEngine } from './bare-engine.js';
import { phonePhoto, smallPhoto } from './images.js';
import { inPool, median, percentile, report, round, sleep } from './stats.js';
import type { RunningSystem } from './system.js';

const POSTS = Number(process.env.BENCH_POSTS ?? 200);
const POSTS_12MP = Number(process.env.BENCH_POSTS_12MP ?? 100);
const POSTS_TEXT = Number(process.env.BENCH_POSTS_TEXT ?? 100);
const WIDTH = Number(process.env.BENCH_CONCURRENCY ?? 16);

/**
 * CPU milliseconds per workflow spent by the processes doing the work (for posts: worker+API and
 * dev server; for the bare workflow: this process, which runs its worker, and the dev server).
 * Unlike rates, this barely moves with the load other programs put on the machine.
 */
async function cpuPerRun(system: RunningSystem, count: number, bare: boolean, run: () => Promise<number>) {
  const before = await system.cpu();
  const threadsBefore = await system.appThreads();
  const own = process.cpuUsage();
  const rate = await run();
  const after = await system.cpu();
  const threadsAfter = await system.appThreads();
  // Threads that ended during the run take their CPU with them; the split is for the app only.
  const perRun = (key: 'main' | 'otherNode' | 'core') =>
    round(((threadsAfter[key] - threadsBefore[key]) * 1000) / count, 1);
  const ownSeconds = (process.cpuUsage(own).user + process.cpuUsage(own).system) / 1e6;
  const workerSeconds = bare ? ownSeconds : after.app - before.app;
  return {
    rate,
    cpuMsPerRun: round(((workerSeconds + after.devServer - before.devServer) * 1000) / count, 1),
    workerCpuMsPerRun: round((workerSeconds * 1000) / count, 1),
    appThreadsMsPerRun: bare
      ? undefined
      : { main: perRun('main'), otherNode: perRun('otherNode'), core: perRun('core') },
  };
}

/**
 * End to end through the real system: hand-written posts with one image and four local-export
 * targets, auto review, `WIDTH` at a time, each followed to its workflow's end; against the bare
 * workflow of the same shape on the same dev server, measured before and after.
 */
export async function pipelineBench(system: RunningSystem): Promise<void> {
  const connection = await Connection.connect({ address: system.temporalAddress });
  const client = new Client({ connection });
  const bare = await startBareEngine(system.temporalAddress, client);
  try {
    const user = await signUpBenchUser(system.apiUrl);
    const small = await uploadImage(user, await smallPhoto());
    const large = await uploadImage(user, await phonePhoto());

    // Warm-up: the workflow bundles, the database's caches, sharp's first load.
    await bare.rate(WIDTH, WIDTH);
    await postsRate(user, client, [small], FOUR_PLATFORMS, WIDTH);

    const bareRun = await cpuPerRun(system, POSTS, true, () => bare.rate(POSTS, WIDTH));
    const bareBefore = bareRun.rate;
    const e2eRun = await cpuPerRun(system, POSTS, false, () => postsRate(user, client, [small], FOUR_PLATFORMS, POSTS));
    const e2e = e2eRun.rate;
    const bareAfter = await bare.rate(POSTS, WIDTH);
    const bareRate = (bareBefore + bareAfter) / 2;
    const encodeFloor = await plainEncodeCpuMs(await smallPhoto());
    report('pipeline', {
      posts: POSTS,
      concurrency: WIDTH,
      image: '1200x900',
      postsPerSecond: round(e2e),
      bareWorkflowsPerSecond: round(bareRate),
      bareBeforeAfter: [round(bareBefore), round(bareAfter)],
      ratio: round(e2e / bareRate),
      goal: '>= 0.7',
      cpuMsPerPost: e2eRun.cpuMsPerRun,
      cpuMsPerBareWorkflow: bareRun.cpuMsPerRun,
      cpuRatio: round(bareRun.cpuMsPerRun / e2eRun.cpuMsPerRun),
      workerCpuMsPerPost: e2eRun.workerCpuMsPerRun,
      workerCpuMsPerBareWorkflow: bareRun.workerCpuMsPerRun,
      appThreadsMsPerPost: e2eRun.appThreadsMsPerRun,
      // The CPU budget: the least a post with this photo must cost is the bare workflow plus the
      // one resize+encode its targets need (TikTok and Instagram at 1080x810; the generic and
      // Facebook targets take the file as it is), done by plain sharp. The ratio that leaves.
      plainEncodeCpuMs: encodeFloor,
      cpuRatioCeiling: round(bareRun.cpuMsPerRun / (bareRun.cpuMsPerRun + encodeFloor)),
      loadAverage: loadavg().map((l) => round(l, 1)),
    });
    const e2eLarge = await postsRate(user, client, [large], FOUR_PLATFORMS, POSTS_12MP);
    report('pipeline', {
      posts: POSTS_12MP,
      concurrency: WIDTH,
      image: '12MP JPEG, EXIF orientation 6',
      postsPerSecond: round(e2eLarge),
      bareWorkflowsPerSecond: round(bareRate),
      ratio: round(e2eLarge / bareRate),
    });
    // Diagnostics. The same shape without an image (to tell rendering from the rest; targets that
    // take text alone), and the bare workflow upserting a status search attribute at each step as
    // the pipeline does (what visibility writes cost on the dev server's SQLite).
    const textRun = await cpuPerRun(system, POSTS_TEXT, false, () =>
      postsRate(user, client, [], TEXT_TARGETS, POSTS_TEXT),
    );
    const e2eText = textRun.rate;
    const indexed = await bare.rate(POSTS_TEXT, WIDTH, 'bareShapeIndexed');
    report('pipeline-diagnostics', {
      posts: POSTS_TEXT,
      textOnlyPostsPerSecond: round(e2eText),
      textOnlyRatio: round(e2eText / bareRate),
      textOnlyCpuMsPerPost: textRun.cpuMsPerRun,
      textOnlyAppCpuMsPerPost: textRun.workerCpuMsPerRun,
      textOnlyAppThreadsMsPerPost: textRun.appThreadsMsPerRun,
      bareWithStatusUpsertsPerSecond: round(indexed),
      upsertsRatio: round(indexed / bareRate),
    });
  } finally {
    await bare.stop();
    await connection.close();
  }
}

/**
 * CPU milliseconds (all of this process's threads, libvips' included) of one plain sharp
 * resize+encode of `photo` into Instagram's 1080x1350 box with the default encoder: median of 15
 * rounds of 10, after a warm-up.
 */
async function plainEncodeCpuMs(photo: Buffer): Promise<number> {
  const once = () =>
    sharp(photo)
      .rotate()
      .resize({ width: 1080, height: 1350, fit: 'inside', withoutEnlargement: true })
      .jpeg()
      .toBuffer();
  for (let i = 0; i < 5; i++) await once();
  const rounds: number[] = [];
  for (let r = 0; r < 15; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < 10; i++) await once();
    const used = process.cpuUsage(start);
    rounds.push((used.user + used.system) / 1000 / 10);
  }
  return round(median(rounds), 1);
}

/** Four targets that take a post without media. */
const TEXT_TARGETS = ['generic', 'facebook'].flatMap((platform) =>
  [1, 2].map((n) => ({ type: 'local_export', key: `${platform}-${n}`, platform })),
);

/** Posts per second, from the first create to the last workflow's end. */
async function postsRate(
  user: BenchUser,
  client: Client,
  mediaIds: string[],
  targets: unknown[],
  count: number,
): Promise<number> {
  const started = performance.now();
  await inPool(count, WIDTH, async (i) => {
    const post = await createPost(user, {
      caption: `Bench post ${i}`,
      mediaIds,
      targets,
      review: { mode: 'auto' },
    });
    const result = (await client.workflow.getHandle(post.workflowId).result()) as { status: string };
    if (result.status !== 'published') throw new Error(`post ${post.id} ended ${result.status}`);
  });
  return count / ((performance.now() - started) / 1000);
}

const CREATE_RATE = Number(process.env.BENCH_CREATE_RATE ?? 20);
const CREATE_SECONDS = Number(process.env.BENCH_CREATE_SECONDS ?? 20);

/**
 * `POST /api/v1/posts` latency at a fixed arrival rate (open loop: requests start on the clock,
 * not when the previous one answers), for posts scheduled an hour ahead, so the pipeline itself is
 * not what is measured.
 */
export async function createLatencyBench(system: RunningSystem): Promise<void> {
  const user = await signUpBenchUser(system.apiUrl);
  const media = await uploadImage(user, await smallPhoto());
  const body = () => ({
    caption: 'Scheduled bench post',
    mediaIds: process.env.BENCH_CREATE_TEXT_ONLY ? [] : [media],
    targets: FOUR_PLATFORMS,
    review: { mode: 'auto' },
    publishAt: new Date(Date.now() + 3600_000).toISOString(),
  });
  for (let i = 0; i < 10; i++) await createPost(user, body());
  await sleep(2000);

  const total = CREATE_RATE * CREATE_SECONDS;
  const latencies: number[] = [];
  const requests: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / CREATE_RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    requests.push(
      (async () => {
        const t = performance.now();
        await createPost(user, body());
        latencies.push(performance.now() - t);
      })(),
    );
  }
  await Promise.all(requests);
  report('create-latency', {
    requestsPerSecond: CREATE_RATE,
    requests: total,
    publishAt: '+1 hour',
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(Math.max(...latencies), 1),
    goal: 'p99 < 100 ms',
  });
}
