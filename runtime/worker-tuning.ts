import type { WorkerOptions } from '@temporalio/worker';

// Worker options chosen from `npm run bench` (figures and method in BENCHMARKS.md).
//
// Cache: 100 workflows. A cached workflow costs the workflow thread's heap about 0.3 MB while it
// moves (3,000 posts created in a burst: that heap peaked at 338 MB with 500 cached, 173 MB with
// 100; worker+API with all waiting 441 -> 361 MB, BENCHMARKS.md). The SDK's default grows with the
// heap limit (about 2,300 on a 4 GB heap), so memory would grow with the number of posts waiting.
// A sleeping post needs no memory: when its timer fires, an evicted workflow is replayed from its
// short history in milliseconds, and campaigns keep theirs short by continuing as new. 100 is six
// times the posts the pipeline benchmark moves at once.
//
// Workflow tasks at once: 4, not the SDK's 40. All workflow code runs on one thread; a task the
// worker has taken waits there behind the others, in arrival order, so a post due now queues
// behind far ones and Temporal's task priorities (which order only the server's backlog) cannot
// help. Worse, a timer set in such a task starts only when the task completes, so its wait is
// added to the publish time. With 2,000 posts waiting and 100 due (BENCHMARKS.md, scale), the
// publish timer fired 0.8 s (p50) / 2.1 s (p99) late with 40, 0.9 s (p99) with 8, 0.4 s with 4
// (lateness p99 3.5 / 1.5 / 1.0 s). 4 still keeps the thread fed while the main thread decodes the
// next task; the pipeline's throughput did not drop.
//
// Heartbeats reach the server at most every 10 s, not the SDK's 60: an activity hears of its
// cancellation only in the answer to a heartbeat it sent, so a post cancelled while the AI writes
// closed the endpoint's request up to a minute late (tokens billed for nobody). Only long
// activities heartbeat (drafting, rendering, uploads), each every few seconds, so this costs at most one
// call per 10 s per running activity.
//
// Everything else stays at the SDK's defaults, which measured no worse here: 100 activities at
// once (rendering limits itself to one source per core, see activities/render-media.ts), sticky
// queue timeout 10 s.
export function workerTuning(): Partial<WorkerOptions> {
  return {
    maxCachedWorkflows: 100,
    maxConcurrentWorkflowTaskExecutions: 4,
    maxHeartbeatThrottleInterval: '10 seconds',
  };
}
