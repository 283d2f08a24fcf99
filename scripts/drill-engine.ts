import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { and, count, eq, inArray } from 'drizzle-orm';
import { createTemporalClient } from '../client.js';
import { type Services, startServices } from '../composition/services.js';
import { attempts as attemptsTable, posts as postsTable, publications } from '../db/schema.js';
import { FINAL_STATUSES } from '../domain/pipeline.js';
import { startFacebookEmulator } from '../emulators/facebook.js';
import { startGoogleEmulator } from '../emulators/google.js';
import { startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import type { PublishingFaultKind } from '../emulators/publishing-kit.js';
import { startTikTokEmulator } from '../emulators/tiktok.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { freePort } from '../runtime/temporal-dev-server.js';
import { makeVideo } from '../tests/helpers/media-files.js';

/**
 * The kill drill (issue 11): the worker runs as a child process and is killed with SIGKILL at
 * random moments while it publishes posts with four platform targets, then restarted; at the end
 * every target must be on its platform exactly once and no emulator may have seen a request that
 * breaks the platform's contract. `npm run drill` runs it long, tests/publishing-drill.test.ts short.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PLATFORMS = ['tiktok', 'youtube', 'instagram', 'facebook'] as const;
type Platform = (typeof PLATFORMS)[number];
const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

export interface DrillOptions {
  posts: number;
  kills: number;
  seed: number;
  temporalAddress: string;
  /** A database of its own (it is migrated; the caller creates and drops it). */
  databaseUrl: string;
  /** How long the posts may take to finish after the last kill. */
  settleTimeoutMs?: number;
  /** The test video: its length and bit rate decide its size (and so the number of chunks). */
  video?: { seconds: number; bitrate: string };
  /** Emulator status answers that still say "processing" (slow processing: kills land mid-poll). */
  processingPolls?: number;
  /** How fast requests reach the emulators (uploads take seconds, so kills land mid-upload). */
  uploadBytesPerSecond?: number;
  log?: (line: string) => void;
  /** Keep the worker logs and data directory (their path is in the report). */
  keep?: boolean;
  /** Faults set on the emulators before the posts, e.g. an answer lost after the call took effect. */
  faults?: Partial<Record<Platform, { kind: PublishingFaultKind; on: string }[]>>;
}

export interface KillRecord {
  /** Milliseconds since the drill started. */
  at: number;
  /** Publish attempts running on the killed worker: "p2/youtube#3" (post, target, attempt). */
  running: string[];
  /** How far each unpublished target's journal had got: "p2/youtube[sessionUri,uploadedBytes] 262144/11106329". */
  journals: string[];
}

export interface DrillReport {
  seed: number;
  posts: number;
  targets: number;
  kills: KillRecord[];
  /** Targets found on their platform exactly once. */
  publishedOnce: number;
  /** "post 3 / youtube: 2 items" */
  duplicates: string[];
  /** Targets that never reached their platform or did not end `published`, with the reason shown. */
  unpublished: string[];
  /** The receipt stored on the target names another item than the one on the platform. */
  mismatched: string[];
  /** Targets left "outcome unknown" that the drill checked on the platform and confirmed or retried, as a person would. */
  settledByPerson: string[];
  violations: string[];
  /** Publish attempts Temporal ran per target (1 = never interrupted). */
  attempts: Record<string, number>;
  seconds: number;
  logDir: string;
  ok: boolean;
}

/** mulberry32: the same seed gives the same delays (the moments themselves still depend on timing). */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Session {
  api: { url: string; headers: Record<string, string> };
  browser: { url: string; headers: Record<string, string> };
}

async function request(
  who: { url: string; headers: Record<string, string> },
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${who.url}${path}`, {
    ...init,
    headers: { ...who.headers, ...(init.headers as Record<string, string> | undefined) },
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

function postJson(who: { url: string; headers: Record<string, string> }, path: string, payload: unknown) {
  return request(who, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
}

function expectStatus(what: string, res: { status: number; body: unknown }, status: number): void {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}

async function signUp(baseUrl: string): Promise<Session> {
  const password = `drill-${randomBytes(8).toString('hex')}`;
  const registered = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Drill', email: `drill.${Date.now()}@example.test`, password }),
  });
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`);
  const { csrfToken } = (await registered.json()) as { csrfToken: string };
  const cookie = registered.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const browser = { url: baseUrl, headers: { cookie, 'x-csrf-token': csrfToken } };
  const key = await postJson(browser, '/api/v1/me/api-keys', { name: 'drill', password });
  expectStatus('api key', key, 201);
  return { browser, api: { url: baseUrl, headers: { authorization: `Bearer ${key.body.key as string}` } } };
}

/** Connects an emulated account as a browser would (the emulator consents at once); the first Page only. */
async function connect(who: Session, platform: string): Promise<string> {
  const start = await postJson(who.browser, `/api/v1/connections/${platform}/authorize`, {});
  expectStatus(`${platform} authorize`, start, 200);
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  const back = await fetch(consent.headers.get('location')!, {
    redirect: 'manual',
    headers: { cookie: who.browser.headers.cookie ?? '' },
  });
  const result = new URL(back.headers.get('location')!).searchParams;
  if (result.get('status') === 'choose') {
    const choiceId = result.get('pendingChoice')!;
    const choice = await request(who.api, `/api/v1/connections/pending/${choiceId}`);
    const accounts = choice.body.accounts as { platformAccountId?: string; id: string }[];
    const first = accounts[0]!;
    const confirmed = await postJson(who.browser, `/api/v1/connections/pending/${choiceId}/confirm`, {
      accountIds: [first.platformAccountId ?? first.id],
    });
    expectStatus(`${platform} confirm`, confirmed, 201);
    return (confirmed.body.items as { id: string }[])[0]!.id;
  }
  if (result.get('status') !== 'connected') throw new Error(`${platform}: ${result.toString()}`);
  return result.get('connections')!.split(',')[0]!;
}

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
}

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const began = Date.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const next = random(options.seed);
  const run = randomBytes(3).toString('hex');
  const logDir = await mkdtemp(join(tmpdir(), `drill-${run}-`));
  const dataDir = join(logDir, 'data');
  const cleanups: (() => Promise<void>)[] = [];
  const streams: WriteStream[] = [];
  let worker: WorkerProcess | undefined;
  let ok = false;
  try {
    const emulators = await Promise.all([
      startTikTokEmulator(),
      startGoogleEmulator(),
      startInstagramEmulator(),
      startFacebookEmulator(),
    ]);
    cleanups.push(() => Promise.all(emulators.map((e) => e.stop())).then(() => undefined));
    const [tiktok, google, instagram, facebook] = emulators;
    const rate = options.uploadBytesPerSecond ?? 4 * 1024 * 1024;
    const proxies = await Promise.all(emulators.map((e) => throttlingProxy(e.url, rate)));
    cleanups.push(() => Promise.all(proxies.map((p) => p.stop())).then(() => undefined));
    // The app reaches every emulator through its proxy; the drill asks the emulators directly.
    const through = (e: { url: string; env: Record<string, string> }, i: number) =>
      Object.fromEntries(Object.entries(e.env).map(([k, v]) => [k, v.replace(e.url, proxies[i]!.url)]));
    const base: Record<Platform, string> = {
      tiktok: tiktok.url,
      youtube: google.url,
      instagram: instagram.url,
      facebook: facebook.url,
    };

    // Budgets large enough for the drill's posts, the same on both sides, so the app never has to
    // wait for a day to pass and the emulators still refuse (and record) anything beyond them.
    const room = Math.max(options.posts + 5, 15);
    const polls = options.processingPolls ?? 10;
    const switches: Record<Platform, Record<string, unknown>> = {
      // TikTok's status endpoint allows 30 calls a minute per token: one extra poll per post.
      tiktok: { dailyPostCap: room, processingPolls: Math.min(polls, 2) },
      youtube: { insertsPerDay: Math.max(room, 100), processingPolls: polls },
      instagram: { quotaTotal: Math.max(room, 50), processingPolls: polls },
      facebook: { reelsPerDay: Math.max(room, 30), processingPolls: polls },
    };
    for (const p of PLATFORMS) await callControl(base[p], 'POST', 'publishing/switches', switches[p]);
    for (const [p, faults] of Object.entries(options.faults ?? {}))
      await callControl(base[p as Platform], 'POST', 'publishing/faults', faults);

    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const taskQueue = `drill-${run}`;
    const env: Record<string, string> = {
      ...through(tiktok, 0),
      ...through(google, 1),
      ...through(instagram, 2),
      ...through(facebook, 3),
      DATABASE_URL: options.databaseUrl,
      TEMPORAL_ADDRESS: options.temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATA_DIR: dataDir,
      APP_SECRET: randomBytes(32).toString('hex'),
      HOST: '127.0.0.1',
      PORT: String(port),
      // The worker makes the signed links Instagram fetches media from; the API in this process serves them.
      PUBLIC_URL: publicUrl,
      TIKTOK_APP_AUDITED: 'true',
      PUBLISH_POLL_INTERVAL_MS: '50',
      INSTAGRAM_POLL_INTERVAL_MS: '50',
      AUTH_IP_LIMIT: '100000',
      // The emulator counts each insert in the 100-a-day bucket, not in units.
      YOUTUBE_INSERT_UNITS: '0',
      YOUTUBE_INSERTS_PER_DAY: String(switches.youtube.insertsPerDay),
      TIKTOK_POSTS_PER_DAY: String(room),
      TIKTOK_INBOX_SHARES_PER_DAY: String(room),
      INSTAGRAM_POSTS_PER_DAY: String(switches.instagram.quotaTotal),
      FACEBOOK_REELS_PER_DAY: String(switches.facebook.reelsPerDay),
    };

    const apiLog = createWriteStream(join(logDir, 'api.log'));
    streams.push(apiLog);
    const services: Services = await startServices({
      config: loadConfig(env),
      logger: createLogger('info', apiLog),
      temporalAddress: options.temporalAddress,
      worker: false,
      api: true,
      port,
    });
    cleanups.push(() => services.stop());
    const apiUrl = services.apiUrl!;
    const db = services.database.db;
    const client: Client = await createTemporalClient({ address: options.temporalAddress, namespace: 'default' });
    cleanups.push(() => client.connection.close());
    // Connection owners live forever; on a shared server they would outlive the drill.
    cleanups.push(() => terminateQueue(client, taskQueue));

    let workers = 0;
    const startWorker = async (): Promise<WorkerProcess> => {
      const n = ++workers;
      const out = createWriteStream(join(logDir, `worker-${n}.log`));
      streams.push(out);
      const inherited = Object.fromEntries(
        Object.entries(process.env).filter(
          ([k]) => !/^(DATABASE_URL|TEMPORAL_|DATA_DIR|PORT|HOST|APP_SECRET|PUBLIC_URL|NODE_OPTIONS)/.test(k),
        ),
      );
      // node --import tsx: one process (the tsx CLI would put a parent in between and the kill would miss the worker).
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'worker.ts')], {
        cwd: ROOT,
        env: { ...inherited, ...env, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const collect = (d: Buffer) => {
        out.write(d);
        if (output.length < 100_000) output += d.toString();
      };
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const deadline = Date.now() + 180_000;
      while (!/worker started/.test(output)) {
        if (child.exitCode !== null) throw new Error(`worker ${n} exited (${child.exitCode}):\n${output}`);
        if (Date.now() > deadline) throw new Error(`worker ${n} did not start:\n${output}`);
        await sleep(50);
      }
      log(`worker ${n} (pid ${child.pid}) up in ${((Date.now() - deadline + 180_000) / 1000).toFixed(1)} s`);
      return { child, pid: child.pid!, exited };
    };
    const stopWorker = async (w: WorkerProcess, signal: NodeJS.Signals) => {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill(signal);
      const timer = setTimeout(() => w.child.kill('SIGKILL'), 30_000);
      await w.exited;
      clearTimeout(timer);
    };
    cleanups.push(async () => {
      if (worker) await stopWorker(worker, 'SIGINT');
    });

    worker = await startWorker();
    const user = await signUp(apiUrl);
    const accounts = {} as Record<Platform, string>;
    for (const p of PLATFORMS) accounts[p] = await connect(user, p === 'youtube' ? 'youtube' : p);

    const spec = options.video ?? { seconds: 6, bitrate: '12M' };
    const videoPath = await makeVideo(join(logDir, 'drill.mp4'), {
      width: 720,
      height: 1280,
      seconds: spec.seconds,
      bitrate: spec.bitrate,
    });
    const bytes = await readFile(videoPath);
    const form = new FormData();
    form.append('file', new Blob([Uint8Array.from(bytes)]), 'drill.mp4');
    const uploaded = await request(user.api, '/api/v1/media', { method: 'POST', body: form });
    expectStatus('video upload', uploaded, 201);
    log(
      `drill ${run}: seed ${options.seed}, ${options.posts} posts x 4 targets, ${options.kills} kills, video ${bytes.length} bytes`,
    );

    const created: { id: string; marker: string }[] = [];
    for (let i = 1; i <= options.posts; i++) {
      const marker = `[drill-${run}-${i}]`;
      const res = await postJson(user.api, '/api/v1/posts', {
        caption: `Kill drill post ${i} ${marker}`,
        mediaIds: [uploaded.body.id],
        targets: [
          { type: 'tiktok', connectionId: accounts.tiktok, privacyLevel: 'PUBLIC_TO_EVERYONE' },
          { type: 'youtube', connectionId: accounts.youtube, privacy: 'unlisted' },
          { type: 'instagram', connectionId: accounts.instagram },
          { type: 'facebook', connectionId: accounts.facebook },
        ],
      });
      expectStatus(`post ${i}`, res, 201);
      created.push({ id: res.body.id as string, marker });
    }
    const ids = created.map((c) => c.id);

    const unfinished = async () =>
      (
        await db
          .select({ id: postsTable.id, status: postsTable.status })
          .from(postsTable)
          .where(inArray(postsTable.id, ids))
      )
        .filter((p) => !FINAL_STATUSES.includes(p.status as never))
        .map((p) => p.id);

    // Activity ids are stable across attempts; the target each one publishes is in its scheduled input.
    const targetOfActivity = new Map<string, string>();
    const targetOf = async (postId: string, activityId: string): Promise<string> => {
      const key = `${postId}/${activityId}`;
      if (!targetOfActivity.has(key)) {
        const history = await client.workflow.getHandle(`post-${postId}`).fetchHistory();
        for (const event of history.events ?? []) {
          const scheduled = event.activityTaskScheduledEventAttributes;
          const data = scheduled?.input?.payloads?.[0]?.data;
          if (!scheduled?.activityId || !data) continue;
          const input = JSON.parse(Buffer.from(data).toString()) as { targetKey?: string };
          if (input.targetKey) targetOfActivity.set(`${postId}/${scheduled.activityId}`, input.targetKey);
        }
      }
      return targetOfActivity.get(key) ?? `activity ${activityId}`;
    };

    /** Publish attempts running right now on worker `pid`: "p2/youtube#3" (post, target, attempt). */
    const runningOn = async (pid: number, among: string[]): Promise<string[]> => {
      const found: string[] = [];
      await Promise.all(
        among.map(async (postId) => {
          const described = await client.workflow.getHandle(`post-${postId}`).describe();
          for (const a of described.raw.pendingActivities ?? []) {
            if (a.activityType?.name !== 'publishTarget' || a.state !== STARTED) continue;
            if (!a.lastWorkerIdentity?.startsWith(`${pid}@`)) continue;
            const target = await targetOf(postId, a.activityId ?? '');
            found.push(`p${ids.indexOf(postId) + 1}/${target}#${a.attempt ?? 0}`);
          }
        }),
      );
      return found.sort();
    };

    /** How far each target's journal had got: "youtube#2 uploadUrl,uploadedBytes 8388608/12000000". */
    const journalStates = async (postIds: string[]) => {
      const rows = await db.select().from(publications).where(inArray(publications.postId, postIds));
      return rows
        .filter((r) => r.status !== 'published')
        .map((r) => {
          const j = (r.journal ?? {}) as Record<string, unknown>;
          const keys = Object.keys(j).filter((k) => k !== 'fence');
          const progress = r.uploadProgress as { sent?: number; total?: number } | null;
          const post = ids.indexOf(r.postId) + 1;
          return `p${post}/${r.targetKey}[${keys.join(',') || 'empty'}]${progress ? ` ${progress.sent}/${progress.total}` : ''}`;
        });
    };

    const kills: KillRecord[] = [];
    for (let k = 0; k < options.kills; k++) {
      // Wait until this worker is publishing something, then let it run a random 0.2-3 s.
      // A moment when this worker is publishing: something runs on it, and still runs after a
      // random 0.2-3 s (an attempt that finished meanwhile is no moment "during publishing").
      const waitUntil = Date.now() + 300_000;
      let open = await unfinished();
      let running: string[] = [];
      while (open.length > 0 && Date.now() < waitUntil) {
        if ((await runningOn(worker.pid, open)).length > 0) {
          await sleep(200 + next() * 2800);
          running = await runningOn(worker.pid, open);
          if (running.length > 0) break;
        }
        await sleep(200);
        open = await unfinished();
      }
      if (open.length === 0) {
        log(`every post finished after ${k} kills; no more to kill`);
        break;
      }
      const journals = await journalStates(open);
      const at = Date.now() - began;
      await stopWorker(worker, 'SIGKILL');
      kills.push({ at, running, journals });
      log(
        `kill ${k + 1} at ${(at / 1000).toFixed(1)} s, running ${running.join(' ') || 'nothing'}; journals ${journals.join(' ')}`,
      );
      worker = await startWorker();
    }

    const settleBy = Date.now() + (options.settleTimeoutMs ?? 20 * 60_000);
    while ((await unfinished()).length > 0 && Date.now() < settleBy) await sleep(500);

    // What each platform holds, counted per post by the marker in the caption.
    const items = {} as Record<Platform, unknown[]>;
    const violations: string[] = [];
    for (const p of PLATFORMS) {
      items[p] = (await callControl(base[p], 'GET', 'publishing/published')) as unknown[];
      const found = (await callControl(base[p], 'GET', 'violations')) as { endpoint?: string; problem: string }[];
      violations.push(...found.map((v) => `${p}: ${v.endpoint ?? ''} ${v.problem}`));
    }
    // A kill between sending a call that cannot be repeated safely and recording its answer leaves
    // the target "outcome unknown" (Facebook's video publish names nothing to look up afterwards).
    // The drill does what the post asks of a person: checks the account, then confirms what it
    // finds there once, or sends it again when it finds nothing.
    const settledByPerson: string[] = [];
    const acted: { postId: string; key: string }[] = [];
    for (const [index, post] of created.entries()) {
      const view = await request(user.api, `/api/v1/posts/${post.id}`);
      const targets = (view.body.targets ?? []) as { key: string; type: Platform; outcomeUnknown?: unknown }[];
      for (const target of targets.filter((t) => t.outcomeUnknown)) {
        const on = items[target.type].filter((i) => JSON.stringify(i).includes(post.marker)) as { id: string }[];
        if (on.length > 1) continue;
        const name = `post ${index + 1} / ${target.type}`;
        const path = `/api/v1/posts/${post.id}/targets/${target.key}`;
        const answer =
          on.length === 1
            ? await postJson(user.api, `${path}/confirm`, { url: `https://${target.type}.example/${on[0]!.id}` })
            : await postJson(user.api, `${path}/retry`, {});
        acted.push({ postId: post.id, key: target.key });
        settledByPerson.push(
          `${name}: outcome unknown, ${on.length === 1 ? 'found once and confirmed' : 'not found and retried'} (HTTP ${answer.status})`,
        );
      }
    }
    for (const line of settledByPerson) log(line);
    if (acted.length > 0) {
      const published = async ({ postId, key }: { postId: string; key: string }) => {
        const view = await request(user.api, `/api/v1/posts/${postId}`);
        const targets = (view.body.targets ?? []) as { key: string; status: string }[];
        return targets.find((t) => t.key === key)?.status === 'published';
      };
      const settleActedBy = Date.now() + 60_000;
      while (Date.now() < settleActedBy && !(await Promise.all(acted.map(published))).every(Boolean)) await sleep(500);
      for (const p of PLATFORMS) items[p] = (await callControl(base[p], 'GET', 'publishing/published')) as unknown[];
    }

    const duplicates: string[] = [];
    const unpublished: string[] = [];
    const mismatched: string[] = [];
    let publishedOnce = 0;
    for (const [index, post] of created.entries()) {
      const view = await request(user.api, `/api/v1/posts/${post.id}`);
      const targets = (view.body.targets ?? []) as {
        key: string;
        type: string;
        status: string;
        error?: string | null;
        platformPostId?: string | null;
      }[];
      for (const p of PLATFORMS) {
        const on = items[p].filter((i) => JSON.stringify(i).includes(post.marker));
        const target = targets.find((t) => t.type === p);
        const name = `post ${index + 1} / ${p}`;
        if (on.length > 1) duplicates.push(`${name}: ${on.length} items`);
        if (on.length === 1) publishedOnce++;
        if (on.length === 0 || target?.status !== 'published') {
          unpublished.push(
            `${name}: ${on.length} on the platform, target ${target?.status ?? 'missing'}${target?.error ? ` (${target.error})` : ''}; post ${view.body.status}`,
          );
        }
        const id = target?.platformPostId;
        if (on.length === 1 && id && !JSON.stringify(on[0]).includes(id)) {
          mismatched.push(`${name}: the target says ${id}, the platform holds ${(on[0] as { id: string }).id}`);
        }
      }
    }

    const attempts: Record<string, number> = {};
    const rows = await db
      .select({ postId: attemptsTable.postId, targetKey: attemptsTable.targetKey, n: count() })
      .from(attemptsTable)
      .where(and(inArray(attemptsTable.postId, ids), eq(attemptsTable.step, 'publish')))
      .groupBy(attemptsTable.postId, attemptsTable.targetKey);
    for (const row of rows) attempts[`p${ids.indexOf(row.postId) + 1}/${row.targetKey}`] = row.n;

    ok = duplicates.length === 0 && unpublished.length === 0 && violations.length === 0 && mismatched.length === 0;
    return {
      seed: options.seed,
      posts: options.posts,
      targets: options.posts * PLATFORMS.length,
      kills,
      publishedOnce,
      duplicates,
      unpublished,
      mismatched,
      settledByPerson,
      violations,
      attempts,
      seconds: Math.round((Date.now() - began) / 100) / 10,
      logDir,
      ok,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log(`cleanup: ${String(err)}`));
    for (const s of streams) s.end();
    if (ok && !options.keep) await rm(logDir, { recursive: true, force: true });
  }
}

/**
 * A TCP proxy in front of an emulator that lets requests through at `bytesPerSecond` (answers go
 * back at full speed), so uploads take seconds and a kill lands in the middle of one. The
 * emulators build upload URLs from the Host header, so those lead back through the proxy too.
 */
async function throttlingProxy(
  target: string,
  bytesPerSecond: number,
): Promise<{ url: string; stop(): Promise<void> }> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const remote = createConnection(Number(upstream.port), upstream.hostname);
    sockets.add(client).add(remote);
    let due = Date.now();
    const slow = new Transform({
      transform(chunk: Buffer, _enc, done) {
        due = Math.max(due, Date.now()) + (chunk.length / bytesPerSecond) * 1000;
        setTimeout(() => done(null, chunk), Math.max(0, due - Date.now()));
      },
    });
    const end = () => {
      client.destroy();
      remote.destroy();
      sockets.delete(client);
      sockets.delete(remote);
    };
    client.on('error', end).on('close', end);
    remote.on('error', end).on('close', end);
    client.pipe(slow).pipe(remote);
    remote.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Ends every run the drill left on its task queue (connection owners wait forever) and its schedule. */
async function terminateQueue(client: Client, taskQueue: string): Promise<void> {
  for await (const wf of client.workflow.list({
    query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
  })) {
    await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('drill finished')
      .catch(() => undefined);
  }
  for await (const schedule of client.schedule.list()) {
    if (schedule.scheduleId.includes(taskQueue)) await client.schedule.getHandle(schedule.scheduleId).delete();
  }
}

export function formatReport(r: DrillReport): string {
  const lines = [
    `kill drill: ${r.ok ? 'PASSED' : 'FAILED'} in ${r.seconds} s (seed ${r.seed})`,
    `  posts ${r.posts}, targets ${r.targets}, kills ${r.kills.length}, published exactly once ${r.publishedOnce}/${r.targets}`,
    `  duplicates ${r.duplicates.length}, violations ${r.violations.length}, unpublished ${r.unpublished.length}, receipts not matching ${r.mismatched.length}`,
    `  publish attempts per target: ${Object.entries(r.attempts)
      .sort()
      .map(([k, n]) => `${k}=${n}`)
      .join(' ')}`,
    ...r.duplicates.map((d) => `  duplicate: ${d}`),
    ...r.violations.map((v) => `  violation: ${v}`),
    ...r.unpublished.map((u) => `  unpublished: ${u}`),
    ...r.mismatched.map((m) => `  mismatch: ${m}`),
    ...r.settledByPerson.map((m) => `  settled by a person: ${m}`),
  ];
  if (!r.ok) lines.push(`  logs: ${r.logDir}`);
  return lines.join('\n');
}
