import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { freePort } from '../runtime/temporal-dev-server.js';
import { allocatorEnv } from '../scripts/allocator.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export interface RunningSystem {
  apiUrl: string;
  temporalAddress: string;
  dataDir: string;
  /** The process running start.ts: worker and API together. */
  pid: number;
  /** Resident memory, MB: the worker+API process and the Temporal dev server, apart. */
  memory(): Promise<{ appMB: number; devServerMB: number }>;
  /** CPU seconds used so far (user + system): the worker+API process and the dev server, apart. */
  cpu(): Promise<{ app: number; devServer: number }>;
  /**
   * CPU seconds of the worker+API process by thread: the main thread (JS of the API, activities,
   * the SDK's worker loop), the other Node threads (workflow thread, libuv pool where sharp and
   * fs work, V8's GC helpers) and the rest: the SDK's Rust core (tokio and Temporal's own
   * threads) and threads that have exited.
   */
  appThreads(): Promise<{ main: number; otherNode: number; core: number }>;
  /** The malloc the worker+API process runs on, read from its mapped libraries. */
  allocator(): Promise<'jemalloc' | 'glibc'>;
  stop(): Promise<void>;
}

/**
 * The real `npm start` system (start.ts: a Temporal dev server with SQLite persistence, the
 * database, the worker and the API) on a fresh data dir and free ports. Run as `node --import tsx`
 * so worker+API is one process whose memory can be read apart from the dev server's.
 */
export async function startSystem(
  env: Record<string, string> = {},
  options: { root?: string; nodeArgs?: string[] } = {},
): Promise<RunningSystem> {
  // BENCH_APP_ROOT runs another checkout of the app (e.g. a worktree of the commit before a change).
  const root = options.root ?? process.env.BENCH_APP_ROOT ?? ROOT;
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-system-'));
  const database = await freshDatabase();
  const port = await freePort();
  // BENCH_APP_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the app process.
  const nodeArgs = options.nodeArgs ?? (process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(root, 'start.ts')], {
    cwd: root,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_DEV_UI_PORT: String(await freePort()),
      TEMPORAL_ADDRESS: '',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      DATABASE_URL: database?.url ?? '',
      // As `npm start` runs it (scripts/bootstrap.mjs): jemalloc when installed.
      ...allocatorEnv(process.env),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (process.env.BENCH_VERBOSE) process.stderr.write(chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);

  const started = await new Promise<{ apiUrl: string; temporalAddress: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start.ts did not come up:\n${output.join('')}`)), 120_000);
    const check = () => {
      const text = output.join('');
      const api = /API:\s+(\S+)\/api\/v1/.exec(text);
      const temporal = /Temporal:\s+(\S+),/.exec(text);
      if (api && temporal) {
        clearTimeout(timer);
        resolve({ apiUrl: api[1]!, temporalAddress: temporal[1]! });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`start.ts exited (${code}):\n${output.join('')}`));
    });
  });

  return {
    ...started,
    dataDir,
    pid: child.pid!,
    memory: () => memoryOf(child.pid!),
    cpu: () => cpuOf(child.pid!),
    appThreads: () => threadsOf(child.pid!),
    allocator: async () =>
      (await readFile(`/proc/${child.pid!}/maps`, 'utf8').catch(() => '')).includes('libjemalloc')
        ? 'jemalloc'
        : 'glibc',
    async stop() {
      await stopChild(child);
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * With BENCH_POSTGRES_URL (a server, e.g. postgres://postgres@127.0.0.1:5432/postgres) each system
 * gets a database of its own on it; without, the embedded PGlite of `npm start`.
 */
async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const server = process.env.BENCH_POSTGRES_URL;
  if (!server) return undefined;
  const name = `bench_${randomUUID().replaceAll('-', '')}`;
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : 0;
}

async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const lists = await Promise.all(
    tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')),
  );
  return lists.flatMap((l) => l.split(' ').filter(Boolean).map(Number));
}

/** Samples the system's memory every second; `peak` holds the highest seen until `stop()`. */
export function peakMemory(system: Pick<RunningSystem, 'memory'>) {
  const peak = { appMB: 0, devServerMB: 0 };
  const timer = setInterval(() => {
    system.memory().then(
      (m) => {
        peak.appMB = Math.max(peak.appMB, m.appMB);
        peak.devServerMB = Math.max(peak.devServerMB, m.devServerMB);
      },
      () => {}, // a process that just exited has no /proc entry to read
    );
  }, 1000);
  return { peak, stop: () => clearInterval(timer) };
}

/** RSS of the process itself (worker+API) and of everything it started (the dev server). */
async function memoryOf(pid: number): Promise<{ appMB: number; devServerMB: number }> {
  const appMB = await rssMB(pid);
  let devServerMB = 0;
  const queue = await childrenOf(pid);
  while (queue.length > 0) {
    const next = queue.shift()!;
    devServerMB += await rssMB(next);
    queue.push(...(await childrenOf(next)));
  }
  return { appMB, devServerMB };
}

/** utime + stime of one process or thread, in seconds (Linux reports clock ticks of 1/100 s). */
async function cpuSeconds(pid: number, statPath = `/proc/${pid}/stat`): Promise<number> {
  return (await statOf(statPath)).seconds;
}

async function statOf(path: string): Promise<{ name: string; seconds: number }> {
  const stat = await readFile(path, 'utf8').catch(() => '');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100,
  };
}

async function threadsOf(pid: number): Promise<{ main: number; otherNode: number; core: number }> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const totals = { main: 0, otherNode: 0, core: 0 };
  for (const task of tasks) {
    const { name, seconds } = await statOf(`/proc/${pid}/task/${task}/stat`);
    if (Number(task) === pid) totals.main += seconds;
    else if (name === 'node') totals.otherNode += seconds;
  }
  // The rest of the process's time: the Rust core's threads, and threads that have exited since
  // (their time stays in the process's total but leaves /proc/PID/task; summing the live ones
  // made "core" negative when the SDK's runtime let threads go between two readings).
  totals.core = (await cpuSeconds(pid)) - totals.main - totals.otherNode;
  return totals;
}

async function cpuOf(pid: number): Promise<{ app: number; devServer: number }> {
  const app = await cpuSeconds(pid);
  let devServer = 0;
  const queue = await childrenOf(pid);
  while (queue.length > 0) {
    const next = queue.shift()!;
    devServer += await cpuSeconds(next);
    queue.push(...(await childrenOf(next)));
  }
  return { app, devServer };
}
