import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { WORKFLOWS_PATH } from '../../composition/workflows-path.js';
import { requireBinary } from '../../runtime/temporal-binary.js';
import { startDevServer } from '../../runtime/temporal-dev-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

/** One real Temporal dev server per test run (each test file gets its own task queue), and one workflow bundle. */
export default async function setup(project: TestProject) {
  const server = await startDevServer({
    binary: requireBinary('temporal', process.env.TEMPORAL_CLI_PATH),
    headless: true,
  });
  const dir = await mkdtemp(join(tmpdir(), 'autopostpanel-bundle-'));
  const bundlePath = join(dir, 'workflows.js');
  try {
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
    });
    await writeFile(bundlePath, code);
  } catch (err) {
    await server.stop();
    throw err;
  }
  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', bundlePath);
  return async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
