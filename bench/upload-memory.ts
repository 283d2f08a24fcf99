import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startServices } from '../composition/services.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { startDevServer } from '../runtime/temporal-dev-server.js';

// Uploads a large image-typed body and reports the API process's memory growth and throughput:
// uploads are streamed to disk, so growth must stay far below the upload's size.
const SIZE_MB = Number(process.env.BENCH_UPLOAD_MB ?? 256);

export async function uploadMemoryBench(): Promise<void> {
  const temporal = await startDevServer({ binary: requireBinary('temporal'), headless: true });
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-upload-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    MEDIA_MAX_BYTES: String((SIZE_MB + 1) * 1024 * 1024),
    LOG_LEVEL: 'silent',
  });
  const services = await startServices({
    config,
    logger: createLogger('silent'),
    temporalAddress: temporal.address,
    worker: false,
    api: true,
    port: 0,
  });
  try {
    const base = services.apiUrl!;
    const reg = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bench', email: 'bench@example.test', password: 'bench password 1' }),
    });
    const cookie = reg.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const { csrfToken } = (await reg.json()) as { csrfToken: string };

    const boundary = 'benchboundary';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    chunk.set([0xff, 0xd8, 0xff, 0xe0]);
    async function* body() {
      yield head;
      for (let i = 0; i < SIZE_MB; i++) yield chunk;
      yield tail;
    }
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    const res = await fetch(`${base}/api/v1/media`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, cookie, 'x-csrf-token': csrfToken },
      body: Readable.toWeb(Readable.from(body())) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    await res.text();
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    // The bytes are not a decodable JPEG: a 422 after the whole body was streamed is expected.
    console.log(
      JSON.stringify({
        benchmark: 'upload-memory',
        uploadMB: SIZE_MB,
        status: res.status,
        seconds: Number(seconds.toFixed(2)),
        throughputMBps: Number((SIZE_MB / seconds).toFixed(1)),
        rssGrowthMB: Number(((peak - before) / 1024 / 1024).toFixed(1)),
      }),
    );
  } finally {
    await services.stop();
    await temporal.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
