import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServices } from '../composition/services.js';
import { findMediaTools } from '../media/tools.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { startDevServer } from '../runtime/temporal-dev-server.js';
import { createPost, getPost, signUpBenchUser } from './api-client.js';
import { report } from './stats.js';

// A large phone video through the whole system: uploaded over HTTP, then transcoded by the
// worker for an Instagram Reel (its bit rate is over the cap). The API and worker run in this
// process (the uploading client, curl, does not), so its peak RSS and ffmpeg's are what they cost. Both must be flat: the same for a
// video four times smaller.

const run = promisify(execFile);
const SIZE_MB = Number(process.env.BENCH_UPLOAD_TRANSCODE_MB ?? 1024);
/** Source bit rate: high, as phones record, so a gigabyte is a few minutes of 240p. */
const BITRATE_MBPS = 40;

/** Peak RSS of this process and of its ffmpeg children, sampled while `task` runs. */
function sampler() {
  const peaks = { node: process.memoryUsage().rss, child: 0 };
  const sample = async () => {
    peaks.node = Math.max(peaks.node, process.memoryUsage().rss);
    try {
      for (const tid of await readdir(`/proc/${process.pid}/task`)) {
        const children = (await readFile(`/proc/${process.pid}/task/${tid}/children`, 'utf8')).trim();
        for (const pid of children.split(/\s+/).filter(Boolean)) {
          const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
          peaks.child = Math.max(peaks.child, Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * 1024);
        }
      }
    } catch {
      // Not Linux: no child figure.
    }
  };
  const timer = setInterval(() => void sample(), 100);
  return { peaks, stop: () => clearInterval(timer) };
}

/** A noisy 240p H.264/AAC MP4 of about `mb` megabytes: two seconds encoded once, then repeated by stream copy. */
async function makeVideo(ffmpeg: string, dir: string, mb: number): Promise<string> {
  const segment = join(dir, 'segment.mp4');
  await run(ffmpeg, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=426x240:r=30:d=2'],
    ...['-f', 'lavfi', '-i', 'sine=d=2', '-vf', 'noise=alls=80:allf=t', '-c:v', 'libx264', '-preset', 'ultrafast'],
    ...['-b:v', `${BITRATE_MBPS}M`, '-maxrate', `${BITRATE_MBPS}M`, '-bufsize', `${BITRATE_MBPS}M`],
    ...['-c:a', 'aac', '-shortest', segment],
  ]);
  const segmentMb = (await stat(segment)).size / 1e6;
  const copies = Math.max(1, Math.round(mb / segmentMb));
  const list = join(dir, 'list.txt');
  await writeFile(list, Array.from({ length: copies }, () => `file '${segment}'`).join('\n'));
  const out = join(dir, `video-${mb}.mp4`);
  await run(ffmpeg, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list],
    ...['-c', 'copy', '-movflags', '+faststart', out],
  ]);
  return out;
}

export async function uploadTranscodeMemoryBench(): Promise<void> {
  const tools = findMediaTools(process.env);
  const temporal = await startDevServer({ binary: requireBinary('temporal'), headless: true });
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-upload-transcode-'));
  const work = await mkdtemp(join(tmpdir(), 'bench-upload-transcode-src-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    MEDIA_MAX_BYTES: String((SIZE_MB + 64) * 1024 * 1024),
    LOG_LEVEL: 'silent',
  });
  const services = await startServices({
    config,
    logger: createLogger('silent'),
    temporalAddress: temporal.address,
    worker: true,
    api: true,
    port: 0,
  });
  try {
    const base = services.apiUrl!;
    const user = await signUpBenchUser(base);

    for (const mb of [Math.round(SIZE_MB / 4), SIZE_MB]) {
      const path = await makeVideo(tools.ffmpeg, work, mb);
      const bytes = (await stat(path)).size;
      global.gc?.();
      const before = process.memoryUsage().rss;
      const upload = sampler();
      const started = performance.now();
      // curl in its own process: an in-process fetch with a streaming body buffers the whole file
      // on the client side (measured: +936 MB for 1 GB), which would be charged to the server.
      const { stdout } = await run(
        'curl',
        [
          ...['-sS', '-w', '\n%{http_code}', '-H', `authorization: ${user.headers.authorization}`],
          ...['-F', `file=@${path};type=video/mp4;filename=phone.mp4`, `${base}/api/v1/media`],
        ],
        { maxBuffer: 1024 * 1024 },
      );
      upload.stop();
      const statusAt = stdout.lastIndexOf('\n');
      const uploadStatus = Number(stdout.slice(statusAt + 1));
      if (uploadStatus !== 201) throw new Error(`upload answered ${uploadStatus}: ${stdout.slice(0, statusAt)}`);
      const uploaded = JSON.parse(stdout.slice(0, statusAt)) as { id: string };
      const uploadSeconds = (performance.now() - started) / 1000;

      const transcode = sampler();
      const t = performance.now();
      const post = await createPost(user, {
        caption: 'Bench reel',
        mediaIds: [uploaded.id],
        targets: [{ type: 'local_export', platform: 'instagram', placement: 'reel' }],
      });
      let status = '';
      while (!['published', 'failed', 'cancelled', 'partially_published'].includes(status)) {
        await new Promise((r) => setTimeout(r, 500));
        status = String((await getPost(user, post.id)).status);
      }
      transcode.stop();
      report('upload-transcode-memory', {
        videoMB: Math.round(bytes / 1e6),
        uploadSeconds: Number(uploadSeconds.toFixed(1)),
        uploadNodeGrowthMB: Math.round((upload.peaks.node - before) / 1e6),
        status,
        transcodeSeconds: Number(((performance.now() - t) / 1000).toFixed(1)),
        transcodeNodeGrowthMB: Math.round((transcode.peaks.node - before) / 1e6),
        ffmpegPeakMB: Math.round(transcode.peaks.child / 1e6),
        goal: 'flat: the same for a quarter of the size',
      });
      await rm(path, { force: true });
    }
  } finally {
    await services.stop();
    await temporal.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}
