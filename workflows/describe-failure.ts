import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** The innermost message: what actually went wrong, not "activity task failed". */
export function describeFailure(err: unknown): string {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  if (current instanceof ApplicationFailure || current instanceof Error) return current.message;
  return String(current);
}
