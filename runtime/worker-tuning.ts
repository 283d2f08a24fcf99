import type { WorkerOptions } from '@temporalio/worker';

// Worker options chosen for throughput and bounded memory (see BENCHMARKS.md for the figures).
// A sleeping workflow needs no memory: the cache only holds recently active ones.
export function workerTuning(): Partial<WorkerOptions> {
  return {
    maxCachedWorkflows: 500,
  };
}
