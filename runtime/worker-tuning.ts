import type { WorkerOptions } from '@temporalio/worker';

// Worker options chosen from `npm run bench` (figures and method in BENCHMARKS.md).
//
// Cache: a cached workflow costs about 0.1 MB of the worker's memory (2,000 posts waiting: 805 MB
// with every one cached, 618 MB with 100). The SDK's default size grows with the heap limit
// (about 2,300 workflows on a 4 GB heap), so memory would grow with the number of posts waiting.
// A sleeping post needs no memory: when its timer fires, an evicted workflow is replayed from its
// short history in milliseconds. 500 holds every post moving through the pipeline at once with
// room to spare, for about 50 MB.
//
// Everything else stays at the SDK's defaults, which measured no worse here: 40 workflow tasks and
// 100 activities at once (rendering limits itself to one source per core, see
// activities/render-media.ts), sticky queue timeout 10 s.
export function workerTuning(): Partial<WorkerOptions> {
  return {
    maxCachedWorkflows: 500,
  };
}
