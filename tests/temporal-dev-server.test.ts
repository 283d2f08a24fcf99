import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes.js';
import { findBinary, requireBinary } from '../runtime/temporal-binary.js';
import { freePort, startDevServer } from '../runtime/temporal-dev-server.js';

describe('finding the Temporal binary', () => {
  it('uses an explicit path when it is executable, and says so when it is not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bin-'));
    const fake = join(dir, 'temporal');
    await writeFile(fake, '#!/bin/sh\n');
    await chmod(fake, 0o755);
    expect(findBinary('temporal', fake)).toBe(fake);
    expect(() => findBinary('temporal', join(dir, 'missing'))).toThrow(/missing or not executable/);
    expect(() => findBinary('temporal', dir)).toThrow(/missing or not executable/);
  });

  it('finds the installed binaries without downloading anything', () => {
    expect(requireBinary('temporal')).toMatch(/temporal$/);
    expect(requireBinary('temporal-test-server')).toMatch(/temporal-test-server$/);
  });
});

describe('the dev server the app starts', () => {
  it('registers the search attributes, persists to its SQLite file across restarts, and stops', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'temporal-dev-'));
    const dbFile = join(dir, 'temporal', 'dev.sqlite');
    const binary = requireBinary('temporal');
    const port = await freePort();

    const first = await startDevServer({ binary, dbFile, port, headless: true });
    let connection = await Connection.connect({ address: first.address });
    let client = new Client({ connection });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const attribute of SEARCH_ATTRIBUTES) expect(Object.keys(customAttributes ?? {})).toContain(attribute.name);
    // Nobody polls this queue: the workflow just has to survive the restart.
    await client.workflow.start('postPipeline', {
      taskQueue: 'nobody-polls',
      workflowId: 'survives-restart',
      args: [],
    });
    await connection.close();
    await first.stop();
    await expect(Connection.connect({ address: first.address, connectTimeout: 500 })).rejects.toThrow();

    const second = await startDevServer({ binary, dbFile, port, headless: true });
    connection = await Connection.connect({ address: second.address });
    client = new Client({ connection });
    const description = await client.workflow.getHandle('survives-restart').describe();
    expect(description.status.name).toBe('RUNNING');
    await client.workflow.getHandle('survives-restart').terminate('test done');
    await connection.close();
    await second.stop();
  });

  it('stops a dev server left behind by an app that was killed outright, before starting anew', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'temporal-dev-'));
    const dbFile = join(dir, 'dev.sqlite');
    const port = await freePort();
    // Started and never stopped: what a `kill -9` of the app leaves behind.
    const orphan = await startDevServer({ binary: requireBinary('temporal'), dbFile, port, headless: true });
    const pid = Number((await readFile(`${dbFile}.pid`, 'utf8')).trim());
    expect(pid).toBeGreaterThan(0);

    const fresh = await startDevServer({ binary: requireBinary('temporal'), dbFile, port, headless: true });
    expect(() => process.kill(pid, 0)).toThrow();
    const connection = await Connection.connect({ address: fresh.address });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    await fresh.stop();
    await orphan.stop();
  });

  it('refuses a port that is taken, with a message that says so', async () => {
    const busy = await startDevServer({ binary: requireBinary('temporal'), headless: true });
    const port = Number(busy.address.split(':')[1]);
    await expect(startDevServer({ binary: requireBinary('temporal'), port, headless: true })).rejects.toThrow(
      /Port \d+ \(Temporal gRPC\) is already in use/,
    );
    await busy.stop();
  });
});
