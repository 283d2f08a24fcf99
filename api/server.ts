import { startServices } from '../composition/services.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { isMain, runMain, shutdownSignal } from '../runtime/process.js';

/** `npm run api`: the REST API on its own, against TEMPORAL_ADDRESS and DATABASE_URL. */
async function main() {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  if (!config.TEMPORAL_ADDRESS || !config.DATABASE_URL) {
    throw new Error(
      'A separate API process needs TEMPORAL_ADDRESS and DATABASE_URL (the embedded database serves a single process: use `npm start` for the all-in-one setup).',
    );
  }
  const services = await startServices({
    config,
    logger,
    temporalAddress: config.TEMPORAL_ADDRESS,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    worker: false,
    api: true,
  });
  logger.info({ url: services.apiUrl }, 'API listening');
  await shutdownSignal();
  await services.stop();
}

if (isMain(import.meta.url)) runMain(main);
