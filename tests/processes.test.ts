import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { requireBinary } from '../runtime/temporal-binary.js';
import { freePort } from '../runtime/temporal-dev-server.js';
import { call, isFinished, postJson, signUp, uploadPhoto, waitForPost } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';

// The real entry points as separate processes, the way a person runs them.
const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const running: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const child of running.splice(0)) await stop(child);
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function launch(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DATABASE_URL|TEMPORAL_|DATA_DIR|PORT|HOST|APP_SECRET)/.test(k)),
  );
  const child = spawn(process.execPath, args, { cwd: root, env: { ...base, LOG_LEVEL: 'warn', ...env } });
  running.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    async waitFor(pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const match = output.match(pattern);
        if (match) return match;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`did not see ${pattern}; output:\n${output}`);
    },
  };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'autopostpanel-proc-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('npm start', () => {
  it('brings up Temporal, the embedded database, the worker and the API, publishes a post, and stops cleanly', async () => {
    const dataDir = await tempDir();
    const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const app = launch([join(root, 'scripts', 'bootstrap.mjs'), 'start'], {
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_DEV_UI_PORT: String(uiPort),
    });
    const [, apiUrl] = await app.waitFor(/API:\s+(http:\/\/\S+)\/api\/v1/);
    const [, uiUrl] = await app.waitFor(/Temporal UI:\s+(http:\/\/\S+)/);
    expect(uiUrl).toBe(`http://localhost:${uiPort}`);
    expect((await call(apiUrl!, '/readyz')).body.status).toBe('ready');

    const user = await signUp(apiUrl!);
    const mediaId = await uploadPhoto(user.api);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'From npm start',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
    });
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');
    expect(post.workflow.url).toBe(`${uiUrl}/namespaces/default/workflows/post-${post.id}`);
    expect(await readdir(join(dataDir, 'exports', post.id, 'local_export'))).toContain('metadata.json');
    expect(await readdir(dataDir)).toEqual(expect.arrayContaining(['pglite', 'temporal', 'secret.key', 'media']));

    const list = spawnSync(requireBinary('temporal'), ['workflow', 'list', '--address', `127.0.0.1:${temporalPort}`], {
      encoding: 'utf8',
    });
    expect(list.stdout).toContain(`post-${post.id}`);
    // The Web UI serves the same workflow through its own API.
    const ui = await fetch(`${uiUrl}/api/v1/namespaces/default/workflows/post-${post.id}`);
    expect(ui.status).toBe(200);
    expect(JSON.stringify(await ui.json())).toContain('postPipeline');

    expect(await stop(app.child)).toBe(0);
    await expect(fetch(`${apiUrl}/healthz`)).rejects.toThrow();
    const after = spawnSync(requireBinary('temporal'), ['workflow', 'list', '--address', `127.0.0.1:${temporalPort}`], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(after.status).not.toBe(0);
    // Whole process trees start here (tsx, the dev server, the worker bundle): on two busy cores
    // that alone can pass a minute, and waitFor already allows 90 s for it.
  }, 180_000);

  it('refuses a bad configuration with one clear line per problem', async () => {
    const app = launch([tsx, 'start.ts'], { PORT: 'eighty', MEDIA_MAX_BYTES: 'lots' });
    expect(await app.exited).toBe(1);
    expect(app.output()).toMatch(
      /Invalid configuration:\n {2}- PORT: expected .*\(got "eighty"\)\n {2}- MEDIA_MAX_BYTES: /,
    );
    expect(app.output()).not.toMatch(/\n\s+at /);
  });
});

describe('npm run worker and npm run api', () => {
  it('run as separate processes against TEMPORAL_ADDRESS and DATABASE_URL', async () => {
    const database = await createTestDatabase();
    cleanups.push(database.drop);
    const env = {
      DATA_DIR: await tempDir(),
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `processes-${Date.now()}`,
      PORT: String(await freePort()),
    };
    const worker = launch([tsx, 'worker.ts'], { ...env, LOG_LEVEL: 'info' });
    const api = launch([tsx, 'api/server.ts'], { ...env, LOG_LEVEL: 'info' });
    await worker.waitFor(/worker started/);
    const [, apiUrl] = await api.waitFor(/"url":"(http:\/\/[^"]+)".*API listening/);

    const user = await signUp(apiUrl!);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Split',
      targets: [{ type: 'local_export' }],
    });
    expect(created.status).toBe(201);
    expect((await waitForPost(user.api, created.body.id, isFinished)).status).toBe('published');
    expect(await stop(api.child)).toBe(0);
    expect(await stop(worker.child)).toBe(0);
  }, 180_000);

  it('say what they need when it is missing', async () => {
    const worker = launch([tsx, 'worker.ts'], {});
    expect(await worker.exited).toBe(1);
    expect(worker.output()).toMatch(/needs TEMPORAL_ADDRESS and DATABASE_URL/);
  });
});
