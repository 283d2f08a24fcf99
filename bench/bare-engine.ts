import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { workerTuning } from '../runtime/worker-tuning.js';
import type { BareActivities } from './bare-workflow.js';
import { inPool } from './stats.js';

const noop = async () => {};
const activities: BareActivities = { prepare: noop, deliver: noop, record: noop };

export interface BareEngine {
  /** Workflows per second for `count` bare workflows, `width` at a time. */
  rate(count: number, width: number, workflowType?: 'bareShape' | 'bareShapeIndexed'): Promise<number>;
  stop(): Promise<void>;
}

/** A worker for the bare workflow on a task queue of its own, with the app's worker tuning. */
export async function startBareEngine(address: string, client: Client): Promise<BareEngine> {
  const taskQueue = `bench-bare-${randomUUID()}`;
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)),
    activities,
    ...workerTuning(),
  });
  const running = worker.run();
  return {
    async rate(count, width, workflowType = 'bareShape') {
      const started = performance.now();
      await inPool(count, width, async () => {
        await client.workflow.execute(workflowType, { taskQueue, workflowId: `bare-${randomUUID()}` });
      });
      return count / ((performance.now() - started) / 1000);
    },
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
