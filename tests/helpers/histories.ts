import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = new URL('../fixtures/histories/', import.meta.url).pathname;

/**
 * With CAPTURE_HISTORIES=1, keeps the event history of a finished workflow as a replay fixture.
 * Commit new fixtures when the workflow changes on purpose (give them the new version's prefix);
 * old ones stay, so running pipelines started by earlier code keep being proven replayable.
 */
export async function captureHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.CAPTURE_HISTORIES !== '1') return;
  await mkdir(HISTORIES_DIR, { recursive: true });
  // Never overwrite: a committed history stands for workflows already running somewhere.
  await writeFile(join(HISTORIES_DIR, `${name}.json`), `${historyToJSON(await handle.fetchHistory())}\n`, {
    flag: 'wx',
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}
