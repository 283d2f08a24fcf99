import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { allocatorEnv, findJemalloc } from '../scripts/allocator.mjs';

// `npm start` runs the app on jemalloc (scripts/allocator.mjs); `npm test` installs it as setup does.

/** The shared libraries a Node process started with `env` has mapped. */
function librariesOf(env: Record<string, string>): string {
  const child = spawnSync(
    process.execPath,
    ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'))"],
    {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    },
  );
  expect(child.status).toBe(0);
  return child.stdout;
}

describe('the app process allocator', () => {
  it('is jemalloc, loaded into the process, returning memory from a background thread', () => {
    const library = findJemalloc();
    expect(library, 'libjemalloc2 should have been installed by npm test').toBeDefined();
    const env = allocatorEnv({});
    expect(env).toEqual({
      LD_PRELOAD: library,
      MALLOC_CONF: 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0',
      MALLOC_ARENA_MAX: '2',
    });
    expect(librariesOf(env)).toContain('libjemalloc.so.2');
    expect(librariesOf(allocatorEnv({ LD_PRELOAD: '' }))).not.toContain('libjemalloc');
  });

  it("leaves the operator's own choices alone", () => {
    expect(allocatorEnv({ LD_PRELOAD: '' })).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(allocatorEnv({ LD_PRELOAD: '/opt/tcmalloc.so', MALLOC_ARENA_MAX: '4' })).toEqual({ MALLOC_ARENA_MAX: '4' });
    expect(allocatorEnv({ MALLOC_CONF: 'narenas:1' }).MALLOC_CONF).toBe('narenas:1');
  });
});
