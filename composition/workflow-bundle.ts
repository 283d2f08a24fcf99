import { spawn } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Logger } from '../runtime/logger.js';
import { isMain, runMain } from '../runtime/process.js';
import { WORKFLOWS_PATH } from './workflows-path.js';

// The worker runs workflow code from a webpack bundle. Building it inside the worker's process
// leaves webpack's heap behind for the process's life (about 100 MB of a 380 MB idle worker,
// BENCHMARKS.md), so the worker builds it in a short-lived child process, or is handed one built
// ahead (`npm run build:workflows`, WORKFLOW_BUNDLE_PATH).

/** Bundles the workflows into `outPath` (written whole, then renamed, so a reader never sees half). */
export async function buildWorkflowBundle(outPath: string): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  await mkdir(dirname(outPath), { recursive: true });
  const partial = `${outPath}.${process.pid}.partial`;
  await writeFile(partial, code);
  await rename(partial, outPath);
}

/** Node flags that load TypeScript (tsx) and must reach the child; profilers and heap limits must not. */
function loaderFlags(execArgv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (/^--(import|require|loader|experimental-loader)=/.test(arg)) out.push(arg);
    else if (/^--(import|require|loader|experimental-loader)$/.test(arg) && execArgv[i + 1] !== undefined)
      out.push(arg, execArgv[++i]!);
    else if (arg === '-r' && execArgv[i + 1] !== undefined) out.push(arg, execArgv[++i]!);
  }
  return out;
}

/** Builds the bundle under `dir` in a child process and returns its path. */
export async function prepareWorkflowBundle(dir: string, logger: Logger): Promise<string> {
  const outPath = join(dir, 'workflow-bundle.js');
  const started = Date.now();
  const errors: string[] = [];
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(process.execPath, [...loaderFlags(process.execArgv), fileURLToPath(import.meta.url), outPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
    child.once('error', fail);
    child.once('exit', done);
  });
  if (code !== 0) throw new Error(`Building the workflow bundle failed:\n${errors.join('').trim()}`);
  logger.info({ path: outPath, ms: Date.now() - started }, 'workflow bundle built');
  return outPath;
}

if (isMain(import.meta.url)) {
  const out = process.argv[2];
  runMain(async () => {
    if (!out) throw new Error('usage: workflow-bundle <output file>');
    await buildWorkflowBundle(resolve(out));
  });
}
