import { basename } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that spend minutes waiting on the wall clock (minute-granular campaign slots, platform rate
 * windows, workers killed and restarted), longest first. Their waits cost little CPU, so they start
 * first and overlap the busy files; left to the default order (largest file first when no earlier
 * run's timings are cached, as in CI) they started last and trailed the rest by a minute or more.
 */
const WALL_CLOCK_BOUND = [
  'campaign-restart.test.ts',
  'platform-faults.test.ts',
  'publishing-drill.test.ts',
  'campaigns-catch-up-time-skipping.test.ts',
  'campaigns-time-skipping.test.ts',
  'platform-publishing.test.ts',
  'schemathesis.test.ts',
  'panel.test.ts',
];

export default class WallClockFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const at = WALL_CLOCK_BOUND.indexOf(basename(spec.moduleId));
      return at === -1 ? WALL_CLOCK_BOUND.length : at;
    };
    // Array.prototype.sort is stable: the rest keep the base sequencer's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
