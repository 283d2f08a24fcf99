// The memory allocator the long-running app process uses. glibc's malloc keeps freed memory of the
// worker's many threads (libuv pool with sharp, the Temporal SDK's Rust core, the workflow thread)
// resident in per-thread arenas; jemalloc hands it back to the system after a second of disuse.
// With 10,000 posts waiting the worker+API held 359 MB with jemalloc against 415 MB with glibc and
// two arenas, and 290 against 399 MB over a minute idle (medians; BENCHMARKS.md, scale). sharp's
// own docs recommend jemalloc on glibc systems for the same reason.
import { existsSync } from 'node:fs';

/** Debian's libjemalloc2 (`apt-get install libjemalloc2`), for this machine's architecture. */
export const JEMALLOC_PACKAGE = 'libjemalloc2';

const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** The jemalloc shared library when installed, else undefined. */
export function findJemalloc() {
  const arch = MULTIARCH[process.arch];
  const candidates = [
    ...(arch ? [`/usr/lib/${arch}/libjemalloc.so.2`] : []),
    '/usr/local/lib/libjemalloc.so.2',
    '/usr/lib64/libjemalloc.so.2',
    '/usr/lib/libjemalloc.so.2',
  ];
  return process.platform === 'linux' ? candidates.find((path) => existsSync(path)) : undefined;
}

/**
 * The environment additions for the app process: jemalloc preloaded (unless the operator set
 * LD_PRELOAD, even to nothing, which opts out), returning unused pages after 1 s from a background
 * thread so an idle process shrinks too; and, for glibc when jemalloc is absent or refused, two
 * arenas instead of eight per core. An operator's own MALLOC_CONF or MALLOC_ARENA_MAX wins.
 */
export function allocatorEnv(env = process.env) {
  const out = { MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2' };
  const jemalloc = env.LD_PRELOAD === undefined ? findJemalloc() : undefined;
  if (jemalloc) {
    out.LD_PRELOAD = jemalloc;
    out.MALLOC_CONF = env.MALLOC_CONF ?? 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0';
  }
  return out;
}
