import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { DEV_SERVER_TYPE_NAMES, SEARCH_ATTRIBUTES } from '../domain/search-attributes.js';

export interface DevServerOptions {
  binary: string;
  /** Persistent SQLite file; omitted, the server keeps everything in memory (tests). */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  /** No Web UI (tests). */
  headless?: boolean;
  namespace?: string;
  startTimeoutMs?: number;
  onLog?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', () =>
      reject(new Error(`Port ${port} (${what}) is already in use. Stop whatever uses it, or choose another port.`)),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

/** Starts `temporal server start-dev` and resolves once it answers gRPC health checks. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  if (options.dbFile) await reapStaleServer(pidFileOf(options.dbFile));
  await assertPortFree(port, 'Temporal gRPC');
  if (!options.headless) await assertPortFree(uiPort, 'Temporal Web UI');

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--namespace', namespace];
  args.push('--log-level', 'warn');
  if (options.headless) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.dbFile) {
    await mkdir(dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  for (const attribute of SEARCH_ATTRIBUTES) {
    args.push('--search-attribute', `${attribute.name}=${DEV_SERVER_TYPE_NAMES[attribute.type]}`);
  }
  // WAL: a commit is one sequential append instead of a rewrite of the journal, about twice the
  // workflow throughput. With synchronous=normal a commit is safe from a crash of the server
  // process (the OS still holds the write); only the last moments before a power loss or kernel
  // crash can be lost, and the file is never corrupted. Irrelevant in memory (tests).
  args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  // Task priorities (activities of posts due soon go first) need the priority-aware matcher: the
  // default in this server version, set explicitly so a different binary cannot quietly drop it.
  args.push('--dynamic-config-value', 'matching.useNewMatcher=true');

  const child = spawn(options.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      options.onLog?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const address = `127.0.0.1:${port}`;
  try {
    await waitUntilHealthy(child, address, options.startTimeoutMs ?? 60_000, output, () => spawnError);
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
  const pidFile = options.dbFile ? pidFileOf(options.dbFile) : undefined;
  if (pidFile && child.pid) await writeFile(pidFile, `${child.pid}\n`);
  return {
    address,
    ...(options.headless ? {} : { uiUrl: `http://localhost:${uiPort}` }),
    stop: async () => {
      await stopProcess(child);
      if (pidFile) await rm(pidFile, { force: true });
    },
  };
}

async function waitUntilHealthy(
  child: ChildProcess,
  address: string,
  timeoutMs: number,
  output: string[],
  spawnError: () => Error | undefined,
) {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  while (Date.now() < deadline) {
    const failed = spawnError();
    if (failed) throw new Error(`Could not run the Temporal CLI: ${failed.message}`);
    if (exited) throw new Error(`Temporal dev server ${exited} during start:\n${output.join('\n')}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal dev server did not become healthy within ${timeoutMs} ms:\n${output.join('\n')}`);
}

function pidFileOf(dbFile: string): string {
  return `${dbFile}.pid`;
}

/**
 * A dev server left running by an app that was killed outright (kill -9, power loss) still holds
 * the port and the SQLite file; the pid file it left says which process to stop first.
 */
async function reapStaleServer(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
  } catch {
    return;
  }
  const alive = (p: number) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };
  const isTemporal = async (p: number) => {
    try {
      return (await readFile(`/proc/${p}/cmdline`, 'utf8')).includes('start-dev');
    } catch {
      return false;
    }
  };
  if (Number.isInteger(pid) && alive(pid) && (await isTemporal(pid))) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await rm(pidFile, { force: true });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
