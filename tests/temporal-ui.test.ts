import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workflowMetadataQuery } from '@temporalio/workflow';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTemporalClient } from '../client.js';
import { type Services, startServices } from '../composition/services.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { type DevServer, startDevServer } from '../runtime/temporal-dev-server.js';
import { postJson, signUp, waitForPost } from './helpers/api.js';
import { launchBrowser } from './helpers/browser.js';
import { createTestDatabase } from './helpers/database.js';

// What an operator sees: a dev server of its own with the Web UI (the shared one is headless),
// the real app on it, and Chromium on the workflow's page.

const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;

let server: DevServer;
let services: Services;
let browser: Browser;
let dataDir: string;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  server = await startDevServer({ binary: requireBinary('temporal', process.env.TEMPORAL_CLI_PATH) });
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-ui-'));
  services = await startServices({
    config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: database.url, TEMPORAL_TASK_QUEUE: 'ui-test' }),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporalAddress: server.address,
    temporalUiUrl: server.uiUrl,
    worker: true,
    api: true,
    port: 0,
    workflowBundlePath: inject('workflowBundlePath'),
  });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await services?.stop();
  await server?.stop();
  await dropDatabase?.();
  await rm(dataDir, { recursive: true, force: true });
});

it('shows the post, its targets and what the pipeline waits for on the workflow page', async () => {
  const user = await signUp(services.apiUrl!);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'Autumn sale starts Friday\nEverything in the shop, one weekend only',
    targets: [{ type: 'local_export', key: 'shop', platform: 'facebook' }],
    review: { mode: 'manual', deadline: '2031-03-01T17:00:00Z', onExpiry: 'cancel' },
    publishAt: { local: '2031-03-02T09:00', timeZone: 'Europe/Berlin' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
  const workflowId = created.body.workflow.id as string;

  // What Temporal holds: the static summary given at start, and the details the workflow keeps current.
  const temporal = await createTemporalClient({ address: server.address, namespace: 'default' });
  try {
    const handle = temporal.workflow.getHandle(workflowId);
    expect(await (await handle.describe()).staticSummary()).toBe('Autumn sale starts Friday -> shop (facebook)');
    const metadata = await handle.query(workflowMetadataQuery);
    expect(metadata.currentDetails).toBe('awaiting review (round 0), deadline 2031-03-01 18:00 Europe/Berlin');
  } finally {
    await temporal.connection.close();
  }

  // What the operator sees in the Web UI.
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    await page.goto(`${server.uiUrl}/namespaces/default/workflows/${workflowId}`);
    // The activity's summary is on the timeline; the workflow's summary and details on their tab.
    await page.getByText('markAwaitingReview • record: awaiting review').first().waitFor({ timeout: 30_000 });
    await page.getByText('User Metadata', { exact: true }).first().click();
    // The UI renders summaries and details as markdown in frames of their own.
    const shown = async () => {
      // The rendered text (innerText) is what an operator reads; evaluated in the page, not here.
      const texts = await Promise.all(page.frames().map((f) => f.evaluate<string>('document.body?.innerText ?? ""')));
      return texts.join('\n');
    };
    await expect.poll(shown, { timeout: 30_000 }).toContain('Autumn sale starts Friday -> shop (facebook)');
    const text = await shown();
    expect(text).toContain('awaiting review (round 0), deadline 2031-03-01 18:00 Europe/Berlin');
    expect(text).toContain('Publish: 2031-03-02 09:00 Europe/Berlin');
  } finally {
    // Kept either way: what the page showed is the first thing to look at when this fails.
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'temporal-ui-workflow.png'), fullPage: true });
    await page.close();
  }
}, 120_000);
