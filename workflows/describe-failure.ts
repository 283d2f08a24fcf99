import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';

/** What actually went wrong under Temporal's wrappers (an activity failure, its timeout). */
export function innermostFailure(err: unknown): unknown {
  let current: unknown = err;
  while ((current instanceof ActivityFailure || current instanceof TimeoutFailure) && current.cause) {
    current = current.cause;
  }
  return current;
}

/** The innermost message: what actually went wrong, not "activity task failed". */
export function describeFailure(err: unknown): string {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  if (current instanceof TimeoutFailure) {
    // Out of time: say so, with the last attempt's own error when there was one.
    const last = innermostFailure(current);
    const because = last !== current && last instanceof Error ? `; last error: ${last.message}` : '';
    return `${current.message || 'timed out'}${because}`;
  }
  if (current instanceof ApplicationFailure || current instanceof Error) return current.message;
  return String(current);
}
