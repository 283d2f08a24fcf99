/**
 * Runs workflow tasks one at a time, in the order they were queued. Update handlers queue their
 * work as they are accepted, so edits and decisions land in exactly the order people sent them,
 * and a slow one can never be overtaken. Deterministic: a plain promise chain, no timers.
 */
export class FifoLock {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  run<T>(task: () => Promise<T>): Promise<T> {
    this.queued += 1;
    const result = this.tail.then(task).finally(() => {
      this.queued -= 1;
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** True while a task runs or waits. */
  get busy(): boolean {
    return this.queued > 0;
  }
}
