import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { movingWindow } from '../../domain/quotas.js';
import { callControl, type Kit } from '../../emulators/oauth-kit.js';
import type { Credentials, PublishContext, PublishJournal } from '../../platforms/publishing.js';
import { CALL_WINDOW_MS } from '../../use-cases/publishing/quota-budget.js';

const made: string[] = [];

/** Removes every file videoFile made. */
export async function removeVideoFiles(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A file of `size` random bytes behind a valid MP4 `ftyp` box (the emulators check structure only). */
export async function videoFile(size: number): Promise<{ path: string; bytes: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'publish-'));
  made.push(dir);
  const ftyp = Buffer.from('0000001866747970697336360000020069736f366d703431', 'hex');
  const bytes = Buffer.concat([ftyp, randomBytes(size - ftyp.length)]);
  const path = join(dir, 'video.mp4');
  await writeFile(path, bytes);
  return { path, bytes };
}

/** A loopback file server for media the platforms pull by URL. */
export async function mediaServer(files: Record<string, Buffer>) {
  const server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Tokens minted by the emulator; refresh mints a new one, as a connection refresh would. */
export async function emulatorCredentials(base: string, body: Record<string, unknown> = {}) {
  const mint = async () => ((await callControl(base, 'POST', 'publishing/token', body)) as { token: string }).token;
  let token = await mint();
  const state = { refreshes: 0 };
  const credentials: Credentials = {
    accessToken: async () => token,
    refresh: async () => {
      state.refreshes++;
      token = await mint();
      return token;
    },
  };
  return { credentials, state };
}

export function context(
  journal: PublishJournal,
  credentials: Credentials,
  extra: Partial<PublishContext> = {},
): PublishContext {
  return {
    journal,
    credentials,
    pollIntervalMs: 5,
    maxPolls: 50,
    sleep: async (ms) => void (await new Promise((r) => setTimeout(r, Math.min(ms, 20)))),
    ...extra,
  };
}

export interface PublishedView {
  id: string;
  kind: string;
  account: string;
  params: Record<string, unknown>;
  media: { bytes: number; sha256: string }[];
}

export const published = async (base: string) =>
  (await callControl(base, 'GET', 'publishing/published')) as PublishedView[];
export const violations = async (base: string) =>
  (await callControl(base, 'GET', 'violations')) as { problem: string }[];

export async function mediaBytes(base: string, id: string, index = 0): Promise<Buffer> {
  const res = await fetch(`${base}/__control/publishing/published/${id}/media/${index}`);
  return Buffer.from(await res.arrayBuffer());
}

export const fault = (base: string, faults: unknown) => callControl(base, 'POST', 'publishing/faults', faults);
export const switches = (base: string, values: Record<string, unknown>) =>
  callControl(base, 'POST', 'publishing/switches', values);
export { readFile };

/**
 * An in-process `PublishContext.pace`: the same sliding-window rule as the database's
 * `takeCallSlot`, on a clock of the test's choosing (the emulator's, moved forward instead of slept).
 */
export function memoryPace(
  clock: { now: () => number; sleep: (ms: number) => Promise<void> } = {
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  },
  windowMs = 60_000,
): NonNullable<PublishContext['pace']> {
  const calls = new Map<string, number[]>();
  return async (budget, perMinute) => {
    for (;;) {
      const now = clock.now();
      const recent = (calls.get(budget) ?? []).filter((at) => now - at < windowMs);
      calls.set(budget, recent);
      const verdict = movingWindow(
        recent.map((at) => ({ at: new Date(at), amount: 1 })),
        perMinute,
        windowMs,
        new Date(now),
      );
      if (verdict.ok) {
        recent.push(now);
        return;
      }
      await clock.sleep(verdict.at.getTime() - now);
    }
  };
}

/**
 * `memoryPace` on an emulator's clock, moved forward instead of slept, with the margin production
 * uses (CALL_WINDOW_MS, 61 s against the platform's minute). Before the clock
 * moves, every call the pace has let through must have reached the emulator (`isPaced` picks those
 * requests out of its log): real time never jumps between a slot and its request, but a jump made
 * for one waiting caller while another's request is on the wire would stamp that request up to a
 * minute later than the pace counted it, and the emulator would see 31 calls in one of its minutes.
 */
export function emulatorClockPace(kit: Kit, isPaced: (path: string) => boolean): NonNullable<PublishContext['pace']> {
  let granted = 0;
  const arrived = () => kit.requests.filter((r) => isPaced(r.path)).length;
  const pace = memoryPace(
    {
      now: () => kit.now(),
      sleep: async (ms) => {
        for (let waited = 0; arrived() < granted; waited += 5) {
          if (waited > 10_000) throw new Error(`${granted - arrived()} paced calls never reached the emulator`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        kit.clockOffsetMs += ms;
      },
    },
    CALL_WINDOW_MS,
  );
  return async (budget, perMinute) => {
    await pace(budget, perMinute);
    granted += 1;
  };
}
