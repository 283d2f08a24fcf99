import { createHash } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = new URL('../fixtures/histories/', import.meta.url).pathname;
/** `sha256sum` lines, one per committed history: only ever appended to (tests/history-immutability.test.ts). */
export const MANIFEST = join(HISTORIES_DIR, 'MANIFEST.sha256');

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * With CAPTURE_HISTORIES=1, keeps the event history of a finished workflow as a replay fixture
 * and records its checksum in the manifest. Only ever adds: a history of that name that exists
 * already is left exactly as it is, because it stands for workflows already running somewhere.
 * Give histories of a new workflow version that version's prefix.
 */
export async function captureHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.CAPTURE_HISTORIES !== '1') return;
  await mkdir(HISTORIES_DIR, { recursive: true });
  const file = `${name}.json`;
  const text = `${historyToJSON(await handle.fetchHistory())}\n`;
  try {
    await writeFile(join(HISTORIES_DIR, file), text, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  await appendFile(MANIFEST, `${sha256(text)}  ${file}\n`);
}
