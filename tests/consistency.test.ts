import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../runtime/config.js';

const read = (file: string) => readFile(new URL(`../${file}`, import.meta.url), 'utf8');

describe('documentation and deployment match the configuration the code reads', () => {
  it('README lists every variable, and only those', async () => {
    const readme = await read('README.md');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Running the parts'));
    // A row may document a family of variables in its first cell: `A`, `B`.
    const firstCells = [...table.matchAll(/^\| ((?:`[A-Z0-9_]+`(?:, )?)+)\s*\|/gm)].map((m) => m[1]!);
    const documented = firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect(documented.sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('docker-compose gives the API and workers a configuration that validates', async () => {
    const compose = parse(await read('docker-compose.yml'), { merge: true });
    for (const name of ['api', 'worker']) {
      const service = compose.services[name];
      const env: Record<string, string> = Object.fromEntries(
        Object.entries(service.environment as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
      for (const key of Object.keys(env)) expect(CONFIG_VARIABLES, `${name}: ${key}`).toContain(key);
      env.APP_SECRET = 'x'.repeat(32);
      const config = loadConfig(env);
      expect(config.DATABASE_URL).toMatch(/@postgres:5432\//);
      expect(config.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(service.command).toEqual(['npm', 'run', name]);
    }
    expect(compose.services.temporal.environment.DB).toBe('postgres12');
    for (const name of ['postgres', 'temporal', 'api', 'worker'])
      expect(compose.services[name].healthcheck).toBeDefined();
  });
});
