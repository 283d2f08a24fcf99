import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from '../activities/index.js';
import { createApp } from '../api/app.js';
import { answerClientErrors } from '../api/client-errors.js';
import type { ApiDeps } from '../api/deps.js';
import { deriveAuthKeys } from '../auth/secrets.js';
import { createTemporalClient, ensureSearchAttributes } from '../client.js';
import { type DatabaseHandle, openDatabase } from '../db/client.js';
import { createConnectorRegistry } from '../platforms/connectors.js';
import { createPublishers } from '../platforms/registry.js';
import { type Config, uploadTaskQueue } from '../runtime/config.js';
import { safeError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { loadOrCreateSecret } from '../runtime/secret.js';
import { workerTuning } from '../runtime/worker-tuning.js';
import { MediaStore } from '../storage/media-store.js';
import type { ConnectionDeps } from '../use-cases/connections/deps.js';
import { ensureAllOwners, requestRenewal } from '../use-cases/connections/owner.js';
import { createTokenVault, loadKeyring } from '../vault/token-vault.js';
import { aiConfigured, createDraftGenerator } from './draft-generator.js';
import { ensureHousekeepingSchedule } from './housekeeping-schedule.js';
import { mediaServicesOf } from './media-services.js';
import { PIPELINE_SWEEP, type PipelineSweepTiming, runPipelineSweep } from './pipeline-sweep.js';
import { prepareWorkflowBundle } from './workflow-bundle.js';

// The composition root: the one place that builds the database, Temporal client, worker and API
// from configuration and hands each its dependencies.

/** A person is waiting on every API call to Temporal: none may take longer than this. */
export const TEMPORAL_CALL_TIMEOUT_MS = 10_000;

export interface ServicesOptions {
  config: Config;
  logger: Logger;
  temporalAddress: string;
  temporalUiUrl?: string | undefined;
  worker: boolean;
  api: boolean;
  /** Listen on this port instead of config.PORT (0 picks a free one; tests). */
  port?: number;
  workflowBundlePath?: string;
  /** Deadline of each API call to Temporal; TEMPORAL_CALL_TIMEOUT_MS unless a test needs it shorter. */
  temporalCallTimeoutMs?: number;
  /** How the API starts pipelines Temporal never confirmed; PIPELINE_SWEEP unless a test needs it sooner. */
  pipelineSweep?: PipelineSweepTiming;
}

export interface Services {
  database: DatabaseHandle;
  store: MediaStore;
  apiUrl?: string;
  /** What the API was built from (tests build a second API from it, e.g. against a blocked Temporal). */
  apiDeps?: ApiDeps;
  worker?: Worker;
  /** Settles when the worker stops; rejects if it fails. */
  workerDone?: Promise<void>;
  stop(): Promise<void>;
}

/** Opens the database (migrating it), then runs the worker and/or the API against Temporal. */
export async function startServices(options: ServicesOptions): Promise<Services> {
  const { config, logger } = options;
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => logger.error({ err: safeError(err) }, 'error while stopping'));
    }
  };
  try {
    const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR });
    cleanups.push(() => database.close());
    await database.migrate();
    const store = new MediaStore(config.DATA_DIR);
    const services: Services = { database, store, stop };

    const client = await createTemporalClient({
      address: options.temporalAddress,
      namespace: config.TEMPORAL_NAMESPACE,
    });
    cleanups.push(() => client.connection.close());
    const searchAttributes = await ensureSearchAttributes(client);
    const secret = await loadOrCreateSecret(config.DATA_DIR, config.APP_SECRET);
    // Redirect URIs name the API's own URL unless PUBLIC_URL says otherwise; it is known once it listens.
    let ownUrl = `http://${config.HOST}:${config.PORT}`;
    const publicUrl = () => config.PUBLIC_URL ?? ownUrl;
    const connections: ConnectionDeps = {
      db: database.db,
      vault: createTokenVault(loadKeyring(config, secret)),
      connectors: createConnectorRegistry(config, publicUrl),
      retryWindowDays: config.RETRY_WINDOW_DAYS,
    };
    const media = mediaServicesOf(config, secret, publicUrl, logger);

    if (options.worker) {
      const connection = await NativeConnection.connect({ address: options.temporalAddress });
      cleanups.push(() => connection.close());
      const deps: ActivityDeps = {
        db: database.db,
        store,
        logger,
        publishers: createPublishers({ dataDir: config.DATA_DIR, platforms: config }),
        mediaTools: media.tools,
        drafts: createDraftGenerator(config),
        connections,
        temporal: { temporal: client, callTimeoutMs: options.temporalCallTimeoutMs ?? TEMPORAL_CALL_TIMEOUT_MS },
        requestRenewal: (connectionId, request) =>
          requestRenewal(
            {
              temporal: client,
              taskQueue: config.TEMPORAL_TASK_QUEUE,
              callTimeoutMs: options.temporalCallTimeoutMs ?? TEMPORAL_CALL_TIMEOUT_MS,
            },
            connectionId,
            request,
          ),
        links: media.links,
        quotas: config,
        tiktokAudited: config.TIKTOK_APP_AUDITED,
        publishing: { pollIntervalMs: config.PUBLISH_POLL_INTERVAL_MS },
      };
      const activities = createActivities(deps);
      const worker = await Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        activities,
        // Bounded workflow cache and the rest of the measured settings (BENCHMARKS.md).
        ...workerTuning(),
        workflowBundle: {
          codePath:
            options.workflowBundlePath ??
            config.WORKFLOW_BUNDLE_PATH ??
            (await prepareWorkflowBundle(join(config.DATA_DIR, 'worker'), logger)),
        },
      });
      // Uploads have their own queue and slots: a long upload never holds back database work.
      const uploadWorker = await Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: uploadTaskQueue(config),
        activities: { publishTarget: activities.publishTarget },
        maxConcurrentActivityTaskExecutions: config.UPLOAD_WORKER_SLOTS,
      });
      const workerDone = Promise.all([worker.run(), uploadWorker.run()]).then(() => undefined);
      cleanups.push(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        if (uploadWorker.getState() === 'RUNNING') uploadWorker.shutdown();
        await workerDone;
      });
      await ensureHousekeepingSchedule(client, {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        auditRetentionDays: config.AUDIT_RETENTION_DAYS,
        logger,
      });
      // Every connection has its owner running (one whose start Temporal missed gets it now).
      await ensureAllOwners(database.db, {
        temporal: client,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        callTimeoutMs: options.temporalCallTimeoutMs ?? TEMPORAL_CALL_TIMEOUT_MS,
      }).catch((err: unknown) => logger.warn({ err: safeError(err) }, 'could not start every connection owner'));
      services.worker = worker;
      services.workerDone = workerDone;
    }

    if (options.api) {
      await store.removeStaleUploads();
      const apiDeps: ApiDeps = {
        db: database.db,
        store,
        temporal: client,
        temporalCallTimeoutMs: options.temporalCallTimeoutMs ?? TEMPORAL_CALL_TIMEOUT_MS,
        logger,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        searchAttributes,
        temporalUiUrl: options.temporalUiUrl,
        mediaMaxBytes: config.MEDIA_MAX_BYTES,
        media,
        dataDir: config.DATA_DIR,
        authKeys: deriveAuthKeys(secret),
        sessionTtlHours: config.SESSION_TTL_HOURS,
        authIpLimit: config.AUTH_IP_LIMIT,
        bodyDeadlineMs: config.REQUEST_BODY_TIMEOUT_SECONDS * 1000,
        authAccountLimit: config.AUTH_ACCOUNT_LIMIT,
        trustProxy: config.TRUST_PROXY,
        reviewMaxRounds: config.REVIEW_MAX_ROUNDS,
        tiktokAudited: config.TIKTOK_APP_AUDITED,
        aiImages: aiConfigured(config),
        uploadTaskQueue: uploadTaskQueue(config),
        quotas: config,
        retryWindowDays: config.RETRY_WINDOW_DAYS,
        pingDatabase: () => database.ping(),
        connections: {
          ...connections,
          publicUrl,
          tiktokApiUrl: config.TIKTOK_API_URL,
          noticeSecrets: {
            tiktok: config.TIKTOK_CLIENT_SECRET,
            facebook: config.FACEBOOK_APP_SECRET,
            instagram: config.INSTAGRAM_APP_SECRET,
          },
        },
      };
      services.apiDeps = apiDeps;
      const app = createApp(apiDeps);
      const server = await listen(app, options.port ?? config.PORT, config.HOST);
      cleanups.push(() => close(server));
      const { port } = server.address() as AddressInfo;
      const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
      services.apiUrl = `http://${host}:${port}`;
      const stopSweep = runPipelineSweep(
        {
          db: database.db,
          temporal: client,
          callTimeoutMs: apiDeps.temporalCallTimeoutMs,
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          searchAttributes,
          retryWindowDays: config.RETRY_WINDOW_DAYS,
          reviewMaxRounds: config.REVIEW_MAX_ROUNDS,
          uploadTaskQueue: uploadTaskQueue(config),
        },
        logger,
        options.pipelineSweep ?? PIPELINE_SWEEP,
      );
      cleanups.push(stopSweep);
      ownUrl = services.apiUrl;
      for (const status of connections.connectors.status()) {
        if (!status.configured) continue;
        logger.info(
          { platform: status.platform, redirectUri: connections.connectors.redirectUri(status.platform) },
          'connected accounts: register this redirect URI with the platform',
        );
      }
    }
    return services;
  } catch (err) {
    await stop();
    throw err;
  }
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(server)));
    answerClientErrors(server);
    // Node's default cuts any request at 5 minutes: too short for a large upload on a slow line.
    server.requestTimeout = 60 * 60 * 1000;
    server.once('error', reject);
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
