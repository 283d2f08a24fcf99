import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The import direction in ARCHITECTURE.md is enforced by scripts/check-imports.mjs (run by
// `npm run lint`); here it meets a small tree with deliberate violations, as a real process.

const checker = join(import.meta.dirname, '..', 'scripts', 'check-imports.mjs');
let root: string;

const files: Record<string, string> = {
  // Allowed.
  'domain/pipeline.ts': 'export const A = 1;\n',
  'db/schema.ts': "import { A } from '../domain/pipeline.js';\nexport const B = A;\n",
  'use-cases/create.ts':
    "import { B } from '../db/schema.js';\nimport { cancel } from '../workflows/messages.js';\nimport type { W } from '../workflows/pipeline.js';\nexport const C = [B, cancel];\nexport type T = W;\n",
  'api/routes.ts': "import { C } from '../use-cases/create.js';\nexport const D = C;\n",
  'api/server.ts': "import { start } from '../composition/services.js';\nexport const E = start;\n",
  'workflows/messages.ts': 'export const cancel = 1;\n',
  'workflows/pipeline.ts':
    "import type { Activities } from '../activities/index.js';\nimport { type X, type Y } from '../activities/more.js';\nexport type W = Activities | X | Y;\n",
  'composition/services.ts': "import { D } from '../api/routes.js';\nexport const start = D;\n",
  // Violations, one per rule.
  'workflows/bad.ts':
    "import { createActivities } from '../activities/index.js';\nexport const F = createActivities;\n",
  'privacy/export.ts': "import { D } from '../api/routes.js';\nexport const G = D;\n",
  'runtime/config.ts': "import { B } from '../db/schema.js';\nexport const H = B;\n",
  'use-cases/reach-up.ts': "export { D } from '../api/routes.js';\n",
  'api/wiring.ts': "const services = await import('../composition/services.js');\nexport const I = services;\n",
  'domain/io.ts': "import type { Database } from '../db/client.js';\nexport type J = Database;\n",
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'import-direction-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function check(dir: string) {
  const run = spawnSync(process.execPath, [checker, dir], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('import direction', () => {
  it('fails on each deliberate violation, naming file and line, and on nothing else', () => {
    const { status, output } = check(root);
    expect(status).toBe(1);
    const reported = output
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^\S+\.ts:\d+:/.test(l))
      .map((l) => l.split(':')[0]);
    expect(reported.sort()).toEqual(
      [
        'api/wiring.ts',
        'domain/io.ts',
        'privacy/export.ts',
        'runtime/config.ts',
        'use-cases/reach-up.ts',
        'workflows/bad.ts',
      ].sort(),
    );
    expect(output).toContain('workflows/bad.ts:1: workflows may not import activities/index.ts');
  });

  it('holds for the project itself', () => {
    const { status, output } = check(join(import.meta.dirname, '..'));
    expect(output).toContain('Import direction: ok');
    expect(status).toBe(0);
  });
});
