import { fileURLToPath } from 'node:url';

/** The workflow bundle's entry: .ts under tsx and vitest, .js once compiled. */
export const WORKFLOWS_PATH = fileURLToPath(
  new URL(`../workflows/index${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
);
