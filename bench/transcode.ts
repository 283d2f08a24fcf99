import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { placementRules } from '../domain/media-rules.js';
import { probeVideo } from '../media/probe.js';
import { findMediaTools } from '../media/tools.js';
import { ffmpegArgs, planTranscode, runTranscode } from '../media/transcode.js';
import { median, report, round } from './stats.js';

// Transcode speed against the same ffmpeg command run directly (the ratio is our overhead:
// probing, planning, progress parsing), and peak memory for a short and a long video: the Node
// process and the ffmpeg child must both stay flat as the video grows.

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_TRANSCODE_SECONDS ?? 20);

/** Peak RSS (bytes) of this process and of its child processes while `task` runs. */
async function peakMemory<T>(task: () => Promise<T>): Promise<{ result: T; node: number; child: number }> {
  let node = process.memoryUsage().rss;
  let child = 0;
  const sample = async () => {
    node = Math.max(node, process.memoryUsage().rss);
    try {
      for (const tid of await readdir(`/proc/${process.pid}/task`)) {
        const children = (await readFile(`/proc/${process.pid}/task/${tid}/children`, 'utf8')).trim();
        for (const pid of children.split(/\s+/).filter(Boolean)) {
          const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
          const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
          child = Math.max(child, kb * 1024);
        }
      }
    } catch {
      // Not Linux: the child figure stays 0.
    }
  };
  const timer = setInterval(() => void sample(), 50);
  try {
    const result = await task();
    return { result, node, child };
  } finally {
    clearInterval(timer);
  }
}

export async function transcodeBench(): Promise<void> {
  const tools = findMediaTools(process.env);
  const dir = await mkdtemp(join(tmpdir(), 'bench-transcode-'));
  const reel = placementRules('instagram', 'reel')!;
  // Re-framed to 9:16 by padding on a blurred copy: the heaviest path a reel takes.
  const options = { reframe: true, fit: 'blur' } as const;
  try {
    const make = async (name: string, seconds: number) => {
      const path = join(dir, name);
      // A landscape HEVC phone clip, re-framed to 9:16 and re-encoded as H.264.
      await run(tools.ffmpeg, [
        ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=1280x720:r=30:d=${seconds}`],
        ...['-f', 'lavfi', '-i', `sine=d=${seconds}`, '-c:v', 'libx265', '-preset', 'ultrafast'],
        ...['-x265-params', 'log-level=error', '-c:a', 'aac', '-shortest', path],
      ]);
      return path;
    };
    const source = await make('source.mp4', SECONDS);
    const facts = await probeVideo(source, tools.ffprobe);
    const plan = planTranscode(facts, reel, options);
    if (plan.action !== 'transcode') throw new Error(`expected a transcode, got ${plan.action}`);

    const oursMs: number[] = [];
    const directMs: number[] = [];
    const ours = async () => {
      const t = performance.now();
      const f = await probeVideo(source, tools.ffprobe);
      await runTranscode(planTranscode(f, reel, options), f, source, join(dir, 'ours.mp4'), {
        ffmpeg: tools.ffmpeg,
        onProgress: () => {},
      });
      oursMs.push(performance.now() - t);
    };
    const direct = async () => {
      const t = performance.now();
      await run(tools.ffmpeg, ffmpegArgs(plan, source, join(dir, 'direct.mp4')));
      directMs.push(performance.now() - t);
    };
    // Alternating order, so both see the same machine load.
    for (let i = 0; i < 4; i++) {
      for (const step of i % 2 ? [direct, ours] : [ours, direct]) await step();
    }
    report('transcode-speed', {
      source: `${SECONDS}s 1280x720 HEVC -> instagram reel ${plan.output.width}x${plan.output.height} H.264`,
      oursMs: round(median(oursMs), 0),
      directFfmpegMs: round(median(directMs), 0),
      ratio: round(median(oursMs) / median(directMs)),
      goal: '<= 1.05',
    });

    for (const seconds of [SECONDS, SECONDS * 4]) {
      const path = seconds === SECONDS ? source : await make(`long-${seconds}.mp4`, seconds);
      const f = await probeVideo(path, tools.ffprobe);
      global.gc?.();
      const before = process.memoryUsage().rss;
      const { node, child } = await peakMemory(() =>
        runTranscode(planTranscode(f, reel, options), f, path, join(dir, `mem-${seconds}.mp4`), {
          ffmpeg: tools.ffmpeg,
          onProgress: () => {},
        }),
      );
      report('transcode-memory', {
        seconds,
        sourceMB: round(f.bytes / 1e6, 1),
        nodeGrowthMB: round((node - before) / 1e6, 1),
        ffmpegPeakMB: round(child / 1e6, 1),
        goal: 'flat: the same for both lengths',
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await transcodeBench();
