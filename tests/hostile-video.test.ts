import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { videoRenderFailure } from '../activities/render-media.js';
import { createApp } from '../api/app.js';
import { media } from '../db/schema.js';
import { checkMedia, MAX_VIDEO_PIXELS, MAX_VIDEO_SIDE } from '../media/check.js';
import { ProbeTimeoutError, probeVideo, type VideoFacts } from '../media/probe.js';
import { MediaToolTimeoutError, runTool } from '../media/tools.js';
import {
  extractFrame,
  planTranscode,
  removeStalePartials,
  runTranscode,
  STALE_PARTIAL_MS,
} from '../media/transcode.js';
import { expectProblem, signUp, type TestUser, upload } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, rulesOf, tempDir, tools } from './helpers/media-files.js';

// Hostile and broken videos must neither hang a request nor exhaust the machine: every ffprobe and
// ffmpeg run has a deadline and is killed when it passes it, and pictures too large to work on are
// refused at upload, before ffmpeg decodes a frame.

const run = promisify(execFile);
let files: Awaited<ReturnType<typeof tempDir>>;
let app: TestApp;
let user: TestUser;

beforeAll(async () => {
  files = await tempDir('hostile-video');
  app = await startTestApp();
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
  await files?.cleanup();
});

/** A named pipe nobody writes to: a tool that opens it waits forever, like one stuck on a stalled input. */
async function fifo(name: string): Promise<string> {
  const path = join(files.dir, name);
  await run('mkfifo', [path]);
  return path;
}

/** Processes whose command line mentions `text` (read from /proc: no ps needed). */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function mediaRows(): Promise<number> {
  const [{ n }] = (await app.db.select({ n: count() }).from(media)) as [{ n: number }];
  return n;
}

describe('deadlines', () => {
  it('kills ffprobe when it cannot read a file in time and says so in words', async () => {
    const stalled = await fifo('stalled.mp4');
    const error = await probeVideo(stalled, tools.ffprobe, { timeoutMs: 300 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ProbeTimeoutError);
    expect((error as Error).message).toBe('could not read this video within 0.3 s');
    expect(await processesMentioning(stalled)).toEqual([]);
  });

  it('kills ffmpeg taking a frame when it does not finish in time, leaving no partial file', async () => {
    const stalled = await fifo('stalled-frame.mp4');
    const output = join(files.dir, 'frame.jpg');
    const error = await extractFrame(stalled, output, { ffmpeg: tools.ffmpeg, timeoutMs: 300 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(MediaToolTimeoutError);
    expect((error as Error).message).toBe('ffmpeg did not finish within 0.3 s');
    expect(await processesMentioning(stalled)).toEqual([]);
    expect((await readdir(files.dir)).filter((name) => name.startsWith('frame.jpg'))).toEqual([]);
  });

  it('stops an encode that makes no progress, leaving no partial file', async () => {
    // VP9 needs encoding for every platform; the plan is then pointed at an input that never delivers a byte.
    const source = await makeVideo(join(files.dir, 'stall-source.webm'), { codec: 'vp9', seconds: 1, audio: false });
    const facts = await probeVideo(source, tools.ffprobe);
    const plan = planTranscode(facts, rulesOf('generic', 'video'));
    expect(plan.action).toBe('transcode');
    const stalled = await fifo('stalled-encode.mp4');
    const output = join(files.dir, 'encoded.mp4');
    const error = await runTranscode(plan, facts, stalled, output, { ffmpeg: tools.ffmpeg, stallTimeoutMs: 300 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(MediaToolTimeoutError);
    expect((error as Error).message).toBe('ffmpeg made no progress for 0.3 s and was stopped');
    // The input's doing, not the machine's: a retry would only wait as long again.
    const failure = videoRenderFailure(error);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    expect(await processesMentioning(stalled)).toEqual([]);
    expect((await readdir(files.dir)).filter((name) => name.startsWith('encoded.mp4'))).toEqual([]);
  });

  it('lets a tool that keeps reporting run past the stall limit', async () => {
    const script = 'for i in 1 2 3 4 5 6 7 8; do echo progress=continue; sleep 0.1; done; echo progress=end';
    const out = await runTool('sh', ['-c', script], { stallTimeoutMs: 400 });
    expect(out.trim().split('\n')).toHaveLength(9);
  });

  it('answers an upload whose probe hangs with 422 in time, the probe killed and nothing kept', async () => {
    // An ffprobe that never answers, as a crafted file can make the real one do.
    const pids = join(files.dir, 'stalled-ffprobe.pids');
    const stalledProbe = join(files.dir, 'stalled-ffprobe');
    await writeFile(stalledProbe, `#!/bin/sh\necho $$ >> '${pids}'\nexec sleep 600\n`);
    await chmod(stalledProbe, 0o755);
    const base = app.services.apiDeps!;
    const api = createApp({
      ...base,
      media: { ...base.media, tools: { ffmpeg: tools.ffmpeg, ffprobe: stalledProbe }, probeTimeoutMs: 500 },
    });
    const server = await new Promise<Server>((resolve, reject) => {
      const s = api.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const video = await makeVideo(join(files.dir, 'fine.mp4'));
      const rowsBefore = await mediaRows();

      const res = await upload({ url, headers: user.api.headers }, await readFile(video), 'fine.mp4');

      expectProblem(res, 422, 'file');
      expect(res.body.errors[0].message).toMatch(/^could not read this video within 0\.5 s/);
      expect(JSON.stringify(res.body)).not.toContain(files.dir);
      const started = (await readFile(pids, 'utf8')).split('\n').filter(Boolean).map(Number);
      expect(started.length).toBeGreaterThan(0);
      expect(started.filter(alive)).toEqual([]);
      expect(await mediaRows()).toBe(rowsBefore);
      expect(await readdir(join(app.dataDir, 'media', '.incoming')).catch(() => [])).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('picture size', () => {
  it.each([
    ['wider than 8192 pixels', 8448, 64],
    ['more than 8K in area', 6144, 6144],
  ])('refuses a video %s at upload with 422 naming the file, before any thumbnail', async (_, width, height) => {
    const path = join(files.dir, `huge-${width}x${height}.mp4`);
    // One flat frame: cheap to encode at any size, and as costly to decode as any other.
    await run(tools.ffmpeg, [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=s=${width}x${height}:r=1:d=1`],
      ...['-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path],
    ]);
    const rowsBefore = await mediaRows();
    const res = await upload(user.api, await readFile(path), 'huge.mp4');
    expectProblem(res, 422, 'file');
    expect(res.body.errors[0].message).toBe(
      `the video is ${width}×${height} pixels; at most 8192 pixels on a side and 35.3 megapixels (8K) are accepted`,
    );
    expect(await mediaRows()).toBe(rowsBefore);
    expect(await readdir(join(app.dataDir, 'media', 'thumbnails')).catch(() => [])).toEqual([]);
  });

  it('accepts DCI 8K footage, the largest cameras and phones record', async () => {
    const path = join(files.dir, 'dci-8k.mp4');
    await run(tools.ffmpeg, [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=s=8192x4320:r=1:d=1'],
      ...['-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path],
    ]);
    const res = await upload(user.api, await readFile(path), '8k.mp4');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ kind: 'video', width: 8192, height: 4320 });
    expect(8192 * 4320).toBe(MAX_VIDEO_PIXELS);
    expect(MAX_VIDEO_SIDE).toBe(8192);
  });

  it('refuses a video recorded before the bound existed when a post is checked or rendered, not only at upload', () => {
    const facts: VideoFacts = {
      kind: 'video',
      bytes: 10_000_000,
      container: 'mp4',
      formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
      durationSec: 5,
      width: 16384,
      height: 16384,
      codedWidth: 16384,
      codedHeight: 16384,
      rotation: 0,
      videoCodec: 'h264',
      pixelFormat: 'yuv420p',
      frameRate: 30,
      variableFrameRate: false,
      interlaced: false,
      hasAudio: false,
      faststart: true,
    };
    const rules = rulesOf('generic', 'video');
    const refused = checkMedia(facts, rules).filter((p) => !p.fixable);
    expect(refused.map((p) => p.code)).toEqual(['dimensions_too_large']);
    expect(refused[0]!.message).toMatch(/^The video is 16384×16384 pixels/);
    expect(planTranscode(facts, rules).action).toBe('refuse');
  });
});

describe('partial outputs', () => {
  it('removes the partials a killed worker left behind, but not one still being written, nor finished files', async () => {
    const post = join(files.dir, 'renditions', 'post-1');
    await mkdir(join(post, 'ig'), { recursive: true });
    const stale = [
      join(post, 'ig', '0.mp4.partial-3f1c'),
      join(post, 'ig', '0.mp4.partial-3f1c.9a2b.partial'),
      join(post, 'ig', '0-cover.jpg.partial-77aa.12cd.partial'),
    ];
    const writing = join(post, 'ig', '1.mp4.partial-5e6f.0d1e.partial');
    const finished = join(post, 'ig', '2.mp4');
    const hoursAgo = new Date(Date.now() - STALE_PARTIAL_MS - 3600_000);
    for (const path of [...stale, writing, finished]) await writeFile(path, 'bytes');
    for (const path of [...stale, finished]) await utimes(path, hoursAgo, hoursAgo);

    expect(await removeStalePartials(post)).toBe(3);
    expect((await readdir(join(post, 'ig'))).sort()).toEqual(['1.mp4.partial-5e6f.0d1e.partial', '2.mp4']);
    expect(await removeStalePartials(join(files.dir, 'renditions', 'no-such-post'))).toBe(0);
  });
});
