import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { createApp } from '../../api/app.js';
import { createTemporalClient } from '../../client.js';
import type { PipelineSweepTiming } from '../../composition/pipeline-sweep.js';
import { type Services, startServices } from '../../composition/services.js';
import type { Database } from '../../db/client.js';
import { loadConfig } from '../../runtime/config.js';
import { createLogger } from '../../runtime/logger.js';
import { createTestDatabase } from './database.js';

export interface TestApp {
  baseUrl: string;
  database: { url: string; drop: () => Promise<void> } | undefined;
  dataDir: string;
  db: Database;
  services: Services;
  temporal: Client;
  taskQueue: string;
  /** Every log line the app wrote, as JSON text. */
  logLines: string[];
  stop(): Promise<void>;
}

export interface TestAppOptions {
  /** PostgreSQL unless `TEST_DATABASE=pglite` runs the files that do not choose on the embedded one. */
  database?: 'postgres' | 'pglite';
  env?: Record<string, string>;
  /** Start again on the database, files and task queue of an app whose processes were stopped. */
  restartOf?: TestApp;
  /** How soon the API starts pipelines Temporal never confirmed (production: once a minute). */
  pipelineSweep?: PipelineSweepTiming;
}

/**
 * The real system for one test file: real PostgreSQL (or PGlite), the run's real Temporal dev
 * server with a task queue of its own, the worker, and the API on a free port.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const previous = options.restartOf;
  const dataDir = previous?.dataDir ?? (await mkdtemp(join(tmpdir(), 'autopostpanel-test-')));
  const database = previous
    ? previous.database
    : (options.database ?? process.env.TEST_DATABASE) === 'pglite'
      ? undefined
      : await createTestDatabase();
  const taskQueue = previous?.taskQueue ?? `test-${randomUUID()}`;
  const config = loadConfig({
    DATA_DIR: dataDir,
    TEMPORAL_TASK_QUEUE: taskQueue,
    HOST: '127.0.0.1',
    // Every test user registers from 127.0.0.1; the throttling test sets its own limits.
    AUTH_IP_LIMIT: '100000',
    // Instagram's once-a-minute container checks would make every test that publishes there wait.
    INSTAGRAM_POLL_INTERVAL_MS: '50',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...options.env,
  });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'debug', sink);
  const temporalAddress = inject('temporalAddress');
  const services = await startServices({
    config,
    logger,
    temporalAddress,
    temporalUiUrl: 'http://localhost:8233',
    worker: true,
    api: true,
    port: 0,
    workflowBundlePath: inject('workflowBundlePath'),
    ...(options.pipelineSweep ? { pipelineSweep: options.pipelineSweep } : {}),
  });
  const temporal = await createTemporalClient({ address: temporalAddress, namespace: config.TEMPORAL_NAMESPACE });
  return {
    baseUrl: services.apiUrl!,
    database,
    dataDir,
    db: services.database.db,
    services,
    temporal,
    taskQueue,
    logLines,
    async stop() {
      await temporal.connection.close();
      await services.stop();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A second API on the same users and rows as `app`, with parts of its surroundings replaced: its
 * Temporal at `temporalAddress` (a port that never answers, or one that refuses) and/or its
 * database handle `db` (e.g. through a proxy that can be taken down). How the API behaves in an outage.
 */
export async function startApiAgainst(
  app: TestApp,
  options: { temporalAddress?: string; temporalCallTimeoutMs?: number; db?: Database },
): Promise<{ baseUrl: string; stop(): Promise<void> }> {
  const base = app.services.apiDeps!;
  // Lazy: connecting happens on the first call, which is where an outage has to show.
  const connection = options.temporalAddress ? Connection.lazy({ address: options.temporalAddress }) : undefined;
  const temporal = connection ? new Client({ connection, namespace: app.temporal.options.namespace }) : base.temporal;
  const api = createApp({
    ...base,
    temporal,
    ...(options.db ? { db: options.db } : {}),
    temporalCallTimeoutMs: options.temporalCallTimeoutMs ?? base.temporalCallTimeoutMs,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = api.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await connection?.close().catch(() => {});
    },
  };
}
