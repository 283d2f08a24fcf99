import { join } from 'node:path';
import { startServices } from './composition/services.js';
import { loadConfig } from './runtime/config.js';
import { createLogger } from './runtime/logger.js';
import { isMain, runMain, shutdownSignal } from './runtime/process.js';
import { loadOrCreateSecret } from './runtime/secret.js';
import { requireBinary } from './runtime/temporal-binary.js';
import { type DevServer, startDevServer } from './runtime/temporal-dev-server.js';
import { installTemporalLogging } from './runtime/temporal-logging.js';

/**
 * `npm start`: the whole system in one process tree on embedded defaults. Temporal is the one at
 * TEMPORAL_ADDRESS, or a dev server started here (persistent SQLite under the data dir).
 */
async function main() {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  installTemporalLogging(logger);
  await loadOrCreateSecret(config.DATA_DIR, config.APP_SECRET);

  let devServer: DevServer | undefined;
  let temporalAddress = config.TEMPORAL_ADDRESS;
  let temporalUiUrl = config.TEMPORAL_UI_URL;
  if (!temporalAddress) {
    const binary = requireBinary('temporal', config.TEMPORAL_CLI_PATH);
    logger.info({ binary }, 'starting the Temporal dev server');
    devServer = await startDevServer({
      binary,
      dbFile: join(config.DATA_DIR, 'temporal', 'dev.sqlite'),
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_DEV_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
      onLog: (line) => logger.debug({ temporal: line }, 'temporal dev server'),
    });
    temporalAddress = devServer.address;
    temporalUiUrl ??= devServer.uiUrl;
  }

  try {
    const services = await startServices({ config, logger, temporalAddress, temporalUiUrl, worker: true, api: true });
    const database = config.DATABASE_URL
      ? 'PostgreSQL (DATABASE_URL)'
      : `embedded PGlite in ${join(config.DATA_DIR, 'pglite')}`;
    console.log(
      [
        '',
        'AutoPostPanel is running.',
        `  API:          ${services.apiUrl}/api/v1   (health: ${services.apiUrl}/readyz)`,
        `  Temporal UI:  ${temporalUiUrl ?? '(set TEMPORAL_UI_URL to link to it)'}`,
        `  Temporal:     ${temporalAddress}, namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE}`,
        `  Database:     ${database}`,
        `  Data dir:     ${config.DATA_DIR}`,
        'Press Ctrl+C to stop.',
        '',
      ].join('\n'),
    );
    const stoppedBy = await Promise.race([shutdownSignal(), services.workerDone?.then(() => 'worker stopped')]);
    logger.info({ reason: stoppedBy }, 'shutting down');
    await services.stop();
  } finally {
    await devServer?.stop();
  }
}

if (isMain(import.meta.url)) runMain(main);
