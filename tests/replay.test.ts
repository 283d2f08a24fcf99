import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { HISTORIES_DIR } from './helpers/histories.js';

// Histories recorded from real runs of earlier code. If a workflow change would make any of them
// fail to replay, pipelines already running in production would break: that change needs
// versioning (patched()) instead.
const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();

describe('replay of committed workflow histories', () => {
  it('has histories to replay', () => {
    expect(files.filter((f) => f.startsWith('post-pipeline-v1-')).length).toBeGreaterThanOrEqual(4);
    expect(files.filter((f) => f.startsWith('post-pipeline-v2-')).length).toBeGreaterThanOrEqual(6);
    expect(files.filter((f) => f.startsWith('post-pipeline-v3-')).length).toBeGreaterThanOrEqual(8);
    // v3 runs that named their version in the input instead of asking patched() (no longer started so).
    expect(files.filter((f) => f.startsWith('post-pipeline-v3-by-input-')).length).toBeGreaterThanOrEqual(8);
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const history = JSON.parse(await readFile(join(HISTORIES_DIR, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, file);
  });
});
