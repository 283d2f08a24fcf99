import { startServices } from './composition/services.js';
import { loadConfig } from './runtime/config.js';
import { createLogger } from './runtime/logger.js';
import { isMain, runMain, shutdownSignal } from './runtime/process.js';
import { installTemporalLogging } from './runtime/temporal-logging.js';

/** `npm run worker`: a worker process on its own, against TEMPORAL_ADDRESS and DATABASE_URL. */
async function main() {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  installTemporalLogging(logger);
  if (!config.TEMPORAL_ADDRESS || !config.DATABASE_URL) {
    throw new Error(
      'A separate worker needs TEMPORAL_ADDRESS and DATABASE_URL (the embedded database serves a single process: use `npm start` for the all-in-one setup).',
    );
  }
  const services = await startServices({
    config,
    logger,
    temporalAddress: config.TEMPORAL_ADDRESS,
    worker: true,
    api: false,
  });
  logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, address: config.TEMPORAL_ADDRESS }, 'worker started');
  await Promise.race([shutdownSignal(), services.workerDone]);
  await services.stop();
}

if (isMain(import.meta.url)) runMain(main);
