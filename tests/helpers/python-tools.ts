import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A test tool from .tools/venv, installed at its pinned version by `npm test` (scripts/bootstrap.mjs). */
export function venvTool(name: 'schemathesis' | 'openapi-spec-validator'): string {
  const path = fileURLToPath(new URL(`../../.tools/venv/bin/${name}`, import.meta.url));
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: run the tests with \`npm test\` (or \`npm run setup\` once)`);
  }
  return path;
}
