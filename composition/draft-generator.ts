import type { DraftGenerator } from '../ai/generator.js';
import { createOfflineGenerator } from '../ai/offline-generator.js';
import { createOpenAiGenerator } from '../ai/openai-generator.js';
import type { Config } from '../runtime/config.js';

/** An AI endpoint is configured: drafts are the AI's, and a brief's image can be made. */
export const aiConfigured = (config: Config): boolean => Boolean(config.OPENAI_API_KEY || config.OPENAI_BASE_URL);

/** The configured AI endpoint, or the offline drafter when there is none. */
export function createDraftGenerator(config: Config): DraftGenerator {
  if (!aiConfigured(config)) return createOfflineGenerator();
  return createOpenAiGenerator({
    apiKey: config.OPENAI_API_KEY,
    baseURL: config.OPENAI_BASE_URL,
    model: config.OPENAI_MODEL,
    imageModel: config.OPENAI_IMAGE_MODEL,
    // An image answered as a link is fetched as a URL import is: internal hosts only when listed.
    imageLinks: { allowlist: config.MEDIA_URL_ALLOWLIST },
  });
}
