import { createHmac } from 'node:crypto';
import { findMediaTools, MediaToolsMissingError } from '../media/tools.js';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaServices } from '../use-cases/media/media-services.js';

/** Public media links stay valid this long: platforms fetch within minutes, retries within hours. */
const PUBLIC_LINK_TTL_SECONDS = 24 * 3600;
const URL_IMPORT_TIMEOUT_MS = 60_000;

/** ffmpeg/ffprobe (absent: images only, said once in the log), link signing and URL import settings. */
export function mediaServicesOf(
  config: Config,
  secret: string,
  publicUrl: () => string,
  logger: Logger,
): MediaServices {
  let tools: MediaServices['tools'];
  try {
    tools = findMediaTools(config);
  } catch (err) {
    if (!(err instanceof MediaToolsMissingError)) throw err;
    logger.warn({ missing: err.missing }, `${err.message} Until then only images are accepted.`);
  }
  return {
    tools,
    // A key for public links only: APP_SECRET itself signs nothing a platform ever sees.
    links: {
      secret: createHmac('sha256', secret).update('autopostpanel:public-media').digest('base64url'),
      publicUrl,
      ttlSeconds: PUBLIC_LINK_TTL_SECONDS,
    },
    urlImport: { allowlist: config.MEDIA_URL_ALLOWLIST, timeoutMs: URL_IMPORT_TIMEOUT_MS },
  };
}
