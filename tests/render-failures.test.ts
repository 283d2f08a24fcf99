import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { videoRenderFailure } from '../activities/render-media.js';
import { placementRules } from '../domain/media-rules.js';
import { probeVideo, type VideoFacts } from '../media/probe.js';
import type { MediaToolError } from '../media/tools.js';
import { planTranscode, runTranscode, type TranscodePlan } from '../media/transcode.js';
import { makeVideo, tempDir, tools } from './helpers/media-files.js';

// Whether a failed conversion fails the post for good or is tried again, decided from what a real
// ffmpeg process did: killed, out of disk, or refusing its input.

let dir: string;
let cleanup: () => Promise<void>;
let source: string;
let facts: VideoFacts;
let plan: TranscodePlan;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('render-failures'));
  // Landscape, for a reel: a full transcode to 9:16.
  source = await makeVideo(join(dir, 'landscape.mp4'), { width: 320, height: 180, seconds: 3.2 });
  facts = await probeVideo(source, tools.ffprobe);
  plan = planTranscode(facts, placementRules('instagram', 'reel')!, { reframe: true, preset: 'ultrafast' });
  expect(plan.action).toBe('transcode');
});
afterAll(async () => {
  await cleanup?.();
});

/** An executable shell script standing in for ffmpeg. */
async function stub(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** What renderVideo would throw after running `ffmpeg` on `input`. */
async function failureOf(ffmpeg: string, input = source): Promise<unknown> {
  const error = await runTranscode(plan, facts, input, join(dir, 'out.mp4'), { ffmpeg, preset: 'ultrafast' }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeDefined();
  return videoRenderFailure(error);
}

const isFinal = (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable;

describe('a failed video conversion', () => {
  it('is tried again when ffmpeg was killed by a signal (the OOM killer)', async () => {
    const failure = await failureOf(await stub('ffmpeg-killed', 'kill -KILL $$'));
    expect(isFinal(failure)).toBe(false);
    expect(failure).toMatchObject({ signal: 'SIGKILL', message: 'killed by SIGKILL' });
  });

  it('is tried again when the disk is full', async () => {
    // The real ffmpeg, with its output sent to a device that is always full.
    const full = await stub(
      'ffmpeg-disk-full',
      [
        'n=$#; i=0',
        'for a do i=$((i + 1)); if [ "$i" -eq "$n" ]; then set -- "$@" /dev/full; else set -- "$@" "$a"; fi; shift; done',
        `exec ${tools.ffmpeg} "$@"`,
      ].join('\n'),
    );
    const failure = await failureOf(full);
    expect(isFinal(failure)).toBe(false);
    expect((failure as MediaToolError).stderrTail).toContain('No space left on device');
  });

  it('fails for good, in words without server paths, when ffmpeg cannot read the input', async () => {
    const broken = join(dir, 'broken.mp4');
    await writeFile(
      broken,
      Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), Buffer.alloc(4000, 0x5a)]),
    );
    const failure = await failureOf(tools.ffmpeg, broken);
    expect(isFinal(failure)).toBe(true);
    const message = (failure as Error).message;
    expect(message).toMatch(/^Could not convert the video: .*Invalid data found when processing input/);
    expect(message).not.toContain(dir);
    expect(message).not.toContain('broken.mp4');
  });
});
