import { loadavg } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createPost, FOUR_PLATFORMS, signUpBenchUser, uploadImage } from './api-client.js';
import { startBareEngine } from './bare-engine.js';
import { smallPhoto } from './images.js';
import { inPool, median, report, round } from './stats.js';
import { startSystem } from './system.js';

/**
 * `tsx bench/pipeline-ab.ts`: the pipeline scenario for two or more variants of the app process,
 * interleaved round by round so the machine's load falls on each alike. A variant is a name, an
 * optional project root (e.g. a `git worktree` of the commit before a change, with node_modules
 * linked) and optional node flags: BENCH_AB_VARIANTS="before=/tmp/before|;after=|" or
 * "base=|;semi=|--max-semi-space-size=64". Each round starts a fresh system per variant, runs the
 * bare workflow on its dev server, then the posts, and reports the app's CPU per post (the figure
 * the load moves least) and the ratio to the bare rate measured in the same system.
 */

const POSTS = Number(process.env.BENCH_POSTS ?? 100);
const WIDTH = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 2);

interface Variant {
  name: string;
  root?: string;
  nodeArgs: string[];
}

function variants(): Variant[] {
  const spec = process.env.BENCH_AB_VARIANTS ?? 'base=|';
  return spec.split(';').map((part) => {
    const at = part.indexOf('=');
    const name = at >= 0 ? part.slice(0, at) : part;
    const rest = at >= 0 ? part.slice(at + 1) : '';
    const bar = rest.indexOf('|');
    const root = bar >= 0 ? rest.slice(0, bar) : rest;
    const args = bar >= 0 ? rest.slice(bar + 1) : '';
    return { name, ...(root ? { root } : {}), nodeArgs: args.split(' ').filter(Boolean) };
  });
}

async function runOnce(variant: Variant) {
  const system = await startSystem({}, { ...(variant.root ? { root: variant.root } : {}), nodeArgs: variant.nodeArgs });
  const connection = await Connection.connect({ address: system.temporalAddress });
  const client = new Client({ connection });
  const bare = await startBareEngine(system.temporalAddress, client);
  try {
    const user = await signUpBenchUser(system.apiUrl);
    const media = await uploadImage(user, await smallPhoto());
    const posts = async (count: number) => {
      const started = performance.now();
      await inPool(count, WIDTH, async (i) => {
        const post = await createPost(user, {
          caption: `A/B post ${i}`,
          mediaIds: [media],
          targets: FOUR_PLATFORMS,
          review: { mode: 'auto' },
        });
        const result = (await client.workflow.getHandle(post.workflowId).result()) as { status: string };
        if (result.status !== 'published') throw new Error(`post ${post.id} ended ${result.status}`);
      });
      return count / ((performance.now() - started) / 1000);
    };
    await bare.rate(WIDTH, WIDTH);
    await posts(WIDTH);
    const bareBefore = await bare.rate(POSTS, WIDTH);
    const cpuBefore = await system.cpu();
    const threadsBefore = await system.appThreads();
    const rate = await posts(POSTS);
    const cpuAfter = await system.cpu();
    const threadsAfter = await system.appThreads();
    const bareAfter = await bare.rate(POSTS, WIDTH);
    const perPost = (seconds: number) => round((seconds * 1000) / POSTS, 1);
    const figures = {
      variant: variant.name,
      posts: POSTS,
      postsPerSecond: round(rate),
      bareWorkflowsPerSecond: round((bareBefore + bareAfter) / 2),
      ratio: round(rate / ((bareBefore + bareAfter) / 2)),
      appCpuMsPerPost: perPost(cpuAfter.app - cpuBefore.app),
      devServerCpuMsPerPost: perPost(cpuAfter.devServer - cpuBefore.devServer),
      appThreadsMsPerPost: {
        main: perPost(threadsAfter.main - threadsBefore.main),
        otherNode: perPost(threadsAfter.otherNode - threadsBefore.otherNode),
        core: perPost(threadsAfter.core - threadsBefore.core),
      },
      appRssMB: round((await system.memory()).appMB, 0),
      loadAverage: loadavg().map((l) => round(l, 1)),
    };
    report('pipeline-ab', figures);
    return figures;
  } finally {
    await bare.stop();
    await connection.close();
    await system.stop();
  }
}

export async function pipelineAbBench(): Promise<void> {
  const list = variants();
  const results = new Map<string, { ratio: number; cpu: number }[]>(list.map((v) => [v.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order each round so neither variant always runs first.
    const order = round % 2 === 0 ? list : [...list].reverse();
    for (const variant of order) {
      const figures = await runOnce(variant);
      results.get(variant.name)!.push({ ratio: figures.ratio, cpu: figures.appCpuMsPerPost });
    }
  }
  for (const [name, runs] of results) {
    report('pipeline-ab-summary', {
      variant: name,
      rounds: runs.length,
      medianRatio: round(median(runs.map((r) => r.ratio))),
      medianAppCpuMsPerPost: round(median(runs.map((r) => r.cpu)), 1),
    });
  }
}

if (process.argv[1]?.endsWith('pipeline-ab.ts')) {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  await pipelineAbBench();
}
