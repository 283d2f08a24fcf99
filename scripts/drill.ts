import { parseArgs } from 'node:util';
import { requireBinary } from '../runtime/temporal-binary.js';
import { startDevServer } from '../runtime/temporal-dev-server.js';
import { createTestDatabase } from '../tests/helpers/database.js';
import { formatReport, runDrill } from './drill-engine.js';

/**
 * `npm run drill [-- --posts 8 --kills 20 --seed 42]`: the long kill drill (scripts/drill-engine.ts).
 * Uses TEMPORAL_ADDRESS when set, otherwise starts a Temporal dev server of its own; creates a
 * database on TEST_DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/test) and
 * drops it afterwards. Exits 1 on any duplicate, contract violation or unpublished target.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      posts: { type: 'string', default: process.env.DRILL_POSTS ?? '6' },
      kills: { type: 'string', default: process.env.DRILL_KILLS ?? '15' },
      seed: { type: 'string', default: process.env.DRILL_SEED ?? String(Date.now() % 1_000_000) },
      'processing-polls': { type: 'string', default: process.env.DRILL_PROCESSING_POLLS ?? '3' },
      keep: { type: 'boolean', default: false },
    },
  });
  const number = (name: string, value: string | undefined, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number of at least ${min}`);
    return n;
  };
  const posts = number('posts', values.posts, 1);
  const kills = number('kills', values.kills, 0);
  const seed = number('seed', values.seed, 0);
  const processingPolls = number('processing-polls', values['processing-polls'], 0);

  const external = process.env.TEMPORAL_ADDRESS;
  const server = external
    ? undefined
    : await startDevServer({ binary: requireBinary('temporal', process.env.TEMPORAL_CLI_PATH), headless: true });
  const database = await createTestDatabase();
  try {
    const report = await runDrill({
      posts,
      kills,
      seed,
      processingPolls,
      temporalAddress: external ?? server!.address,
      databaseUrl: database.url,
      keep: values.keep,
      log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
    });
    console.log(formatReport(report));
    for (const kill of report.kills) {
      console.log(`  kill at ${(kill.at / 1000).toFixed(1)} s: running ${kill.running.join(' ') || 'nothing'}`);
    }
    return report.ok ? 0 : 1;
  } finally {
    await database.drop();
    await server?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(2);
  },
);
