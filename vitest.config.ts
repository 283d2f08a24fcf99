import { defineConfig } from 'vitest/config';
import WallClockFirst from './tests/helpers/wall-clock-first.js';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Temporal's native bridge and sharp's libvips are not safe to share across worker threads.
    pool: 'forks',
    globalSetup: ['tests/helpers/global-setup.ts'],
    setupFiles: ['tests/helpers/setup-file.ts'],
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores, but many files mostly wait (wall-clock slots, heartbeat timeouts, workers killed
    // and restarted): a third file in parallel fills that waiting without starving the busy ones.
    maxWorkers: 3,
    sequence: { sequencer: WallClockFirst },
    // A page's answer to a click goes through the API and often a Temporal Update: on a loaded
    // machine that takes more than expect.poll's default second, which failed browser tests that
    // were right. A poll that can never pass still fails, ten seconds later.
    expect: { poll: { timeout: 10_000 } },
  },
});
