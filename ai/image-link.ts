import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importFromUrl, type Resolver, UrlImportError } from '../media/url-import.js';
import { sniffMediaType } from '../storage/sniff.js';
import { capText, withoutSecrets } from './endpoint-errors.js';

// An image endpoint may answer with a link instead of the bytes (DALL·E without response_format,
// many OpenAI-compatible servers). The link is fetched exactly like a URL import: same SSRF checks
// on every hop, same allow-list. Links are often signed (an Azure SAS in the query), so nothing
// past the host ever reaches an error.

export type GeneratedImageType = 'image/png' | 'image/jpeg' | 'image/webp';

const GENERATED_IMAGE_TYPES: ReadonlySet<string> = new Set<GeneratedImageType>([
  'image/png',
  'image/jpeg',
  'image/webp',
]);

/** The type of a generated image by its first bytes, or undefined when it is not one we take. */
export function generatedImageType(head: Uint8Array): GeneratedImageType | undefined {
  const type = sniffMediaType(head)?.mime;
  return type && GENERATED_IMAGE_TYPES.has(type) ? (type as GeneratedImageType) : undefined;
}

/** Generated images are a few megabytes; a larger answer is not an image we asked for. */
export const IMAGE_LINK_MAX_BYTES = 32 * 1024 * 1024;

export interface ImageLinkOptions {
  /** MEDIA_URL_ALLOWLIST: `host[:port]` entries that may resolve to internal addresses. */
  allowlist?: readonly string[] | undefined;
  /** Tests only (a host name resolving to a chosen address); the system's otherwise. */
  resolver?: Resolver | undefined;
  maxBytes?: number | undefined;
}

/** The link could not give an image; `notAnImage`: it gave something else. */
export class ImageLinkError extends Error {
  override name = 'ImageLinkError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly notAnImage = false,
  ) {
    super(message);
  }
}

export interface FetchImageLinkOptions extends ImageLinkOptions {
  /** Relative links are read against the endpoint's base URL. */
  base: string;
  signal?: AbortSignal | undefined;
  /** What is left of the image request's time limit. */
  timeoutMs: number;
  /** The whole time limit, as the error says it. */
  limitWords: string;
  /** Also kept out of messages (the API key, the base URL's credentials). */
  secrets: readonly string[];
}

/**
 * Downloads the image `link` names. A cancelled caller gets its signal's reason; every other
 * failure is an `ImageLinkError` naming the link's host only.
 */
export async function fetchImageLink(
  link: string,
  options: FetchImageLinkOptions,
): Promise<{ bytes: Buffer; mimeType: GeneratedImageType }> {
  let url: URL;
  try {
    url = new URL(link, options.base);
  } catch {
    throw new ImageLinkError('The image endpoint answered with an image link that is not a URL', false);
  }
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'autopostpanel-ai-image-'));
    const saved = await importFromUrl(url.href, join(dir, 'image'), {
      maxBytes: options.maxBytes ?? IMAGE_LINK_MAX_BYTES,
      timeoutMs: Math.max(1, options.timeoutMs),
      allowlist: options.allowlist ?? [],
      ...(options.resolver ? { resolver: options.resolver } : {}),
      sniff: (head) => {
        const type = sniffMediaType(head);
        return type && GENERATED_IMAGE_TYPES.has(type.mime) ? type : undefined;
      },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { bytes: await readFile(join(dir, 'image')), mimeType: saved.mime as GeneratedImageType };
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    const failure =
      err instanceof UrlImportError
        ? inWords(err, url, options)
        : // The server's own disk, whose paths stay out of the message.
          {
            message: `${answeredAt(url)}, but it could not be kept on this server (${errorCode(err)})`,
            retryable: true,
          };
    const secrets = [...options.secrets, ...linkSecrets(url), ...(dir ? [dir] : [])];
    throw new ImageLinkError(capText(withoutSecrets(failure.message, secrets)), failure.retryable, failure.notAnImage);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

const answeredAt = (url: URL) => `The image endpoint answered with a link to the image at ${url.host}`;

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : 'an unexpected error';
}

/** Parts of a link that may be credentials: its query (a SAS signature) and path, and their values. */
function linkSecrets(url: URL): string[] {
  return [
    url.href,
    url.pathname,
    url.search.slice(1),
    ...[...url.searchParams.values()],
    url.username,
    url.password,
  ].filter((part) => part.length > 0);
}

function inWords(
  err: UrlImportError,
  url: URL,
  options: FetchImageLinkOptions,
): { message: string; retryable: boolean; notAnImage?: boolean } {
  const at = answeredAt(url);
  // Read on from ours: "The server answered 503" becomes "…: the server answered 503".
  const said = err.message
    .replace(/\.$/, '')
    .replace(/^(?:The download failed: )?([A-Z])(?=[a-z])/, (_, first: string) => first.toLowerCase());
  switch (err.code) {
    case 'address_not_allowed':
      return {
        message: `${at}, which was not fetched: ${said}. An image service inside your own network can be allowed by adding ${url.host} to MEDIA_URL_ALLOWLIST`,
        retryable: false,
      };
    case 'unsupported_type':
      return {
        message: `${at}, but it led to something that is not a PNG, JPEG or WebP image`,
        retryable: true,
        notAnImage: true,
      };
    case 'timeout':
      return {
        message: `${at}, but the image had not arrived in full ${options.limitWords} after asking for it`,
        retryable: true,
      };
    case 'too_large':
      return {
        message: `${at}, but the image is larger than the ${Math.round((options.maxBytes ?? IMAGE_LINK_MAX_BYTES) / 1024 / 1024)} MiB taken`,
        retryable: false,
      };
    case 'http_status': {
      const status = Number(/\b(\d{3})\b/.exec(err.message)?.[1]);
      const passing = status >= 500 || status === 408 || status === 429;
      const expired = status === 401 || status === 403 ? ' (a signed link may have expired)' : '';
      return { message: `${at}, but fetching it failed: ${said}${expired}`, retryable: passing };
    }
    case 'invalid_url':
      // Its own message repeats the address, signature and all.
      return {
        message: `${at}, but the link or a redirect from it is not an address that can be fetched`,
        retryable: false,
      };
    case 'scheme_not_allowed':
      return { message: `${at}, but only http and https links are fetched`, retryable: false };
    case 'dns_failed':
    case 'network':
      return { message: `${at}, but it could not be fetched: ${said}`, retryable: true };
    default:
      return { message: `${at}, but it could not be fetched: ${said}`, retryable: false };
  }
}
