import { ConnectorError, PLATFORM_NAMES, type Platform } from './connector.js';
import { parsePlatformJson } from './platform-json.js';
import { waitFromHeaders } from './publish-errors.js';

/** What connectors need from the outside world; tests pass nothing and talk to emulators on loopback. */
export interface ConnectorDeps {
  fetch?: typeof fetch;
  /** The connectors' clock: issue and expiry times of new tokens. */
  now?: () => Date;
  timeoutMs?: number;
}

export interface PlatformResponse {
  status: number;
  /** Parsed JSON, or null when the body was empty or not JSON. */
  body: unknown;
  headers: Headers;
}

export interface PlatformRequest {
  platform: Platform;
  /** Words for error messages ("token exchange"); the URL is never used, it may carry tokens. */
  what: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  query?: Record<string, string | undefined>;
  form?: Record<string, string | undefined>;
  bearer?: string;
  /** Every secret this request carries, scrubbed from anything echoed back into an error. */
  secrets: (string | null | undefined)[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function createHttp(deps: ConnectorDeps = {}) {
  const doFetch = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return async function send(request: PlatformRequest): Promise<PlatformResponse> {
    const url = new URL(request.url);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    let body: string | undefined;
    if (request.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = formBody(request.form);
    }
    if (request.bearer) headers.authorization = `Bearer ${request.bearer}`;
    let response: Response;
    try {
      response = await doFetch(url, {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      // undici's messages can include the URL, and with it a token in the query string.
      const reason =
        (err as Error)?.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : networkReason(err);
      throw new ConnectorError(
        request.platform,
        'transient',
        `${PLATFORM_NAMES[request.platform]} ${request.what} failed: ${reason}.`,
      );
    }
    const text = await response.text().catch(() => '');
    return { status: response.status, body: scrubBody(parseJson(text), request.secrets), headers: response.headers };
  };
}

export type Send = ReturnType<typeof createHttp>;

function formBody(form: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) if (value !== undefined) params.set(key, value);
  return params.toString();
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code ? `could not reach the server (${code})` : 'could not reach the server';
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return parsePlatformJson(text);
  } catch {
    return null;
  }
}

/** Removes every secret (and its URL-encoded form) from text a platform echoed back. */
export function scrub(text: string, secrets: (string | null | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])) {
      out = out.split(form).join('[redacted]');
    }
  }
  return out;
}

/** Every string in a parsed answer with the secrets removed, token fields too: for answers that hand over no tokens. */
export function scrubAll(value: unknown, secrets: (string | null | undefined)[]): unknown {
  if (typeof value === 'string') return scrub(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrubAll(v, secrets));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubAll(v, secrets)]));
  return value;
}

/** Fields that carry the tokens an answer hands over: a platform may hand back the very token it was sent. */
const TOKEN_FIELDS = new Set(['access_token', 'refresh_token']);

/**
 * The answer with every secret the request carried removed from its text, except in token fields:
 * a refresh that returns the same refresh token, or an exchange that returns the token it was
 * given (platform-apis.md 1.1, 4.1, section 5), must store that token, not "[redacted]".
 */
function scrubBody(value: unknown, secrets: (string | null | undefined)[], key?: string): unknown {
  if (typeof value === 'string') return key !== undefined && TOKEN_FIELDS.has(key) ? value : scrub(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrubBody(v, secrets));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubBody(v, secrets, k)]));
  return value;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;

/**
 * The wait an answer asks for, in seconds: Retry-After (seconds or a date), or Meta's
 * estimated_time_to_regain_access in its usage headers. Undefined when it names none, so the
 * caller's own backoff applies (a missing header is not a request to retry at once).
 */
export function retryAfter(headers: Headers): number | undefined {
  const ms = waitFromHeaders(headers);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

/** Generic classification by status, for answers that carry no recognisable error body. */
export function statusError(platform: Platform, what: string, response: PlatformResponse): ConnectorError {
  const status = response.status;
  const name = PLATFORM_NAMES[platform];
  if (status === 429 || status >= 500) {
    return new ConnectorError(platform, 'transient', `${name} ${what} failed: HTTP ${status}, try again later.`, {
      status,
      retryAfterSeconds: retryAfter(response.headers),
    });
  }
  if (status === 401) {
    return new ConnectorError(platform, 'access_expired', `${name} no longer accepts the access token (HTTP 401).`, {
      status,
    });
  }
  return new ConnectorError(platform, 'rejected', `${name} ${what} failed: HTTP ${status}.`, { status });
}

export type OAuthPhase = 'exchange' | 'refresh' | 'revoke';

const OAUTH_TRANSIENT = new Set(['server_error', 'temporarily_unavailable', 'rate_limit_exceeded']);
const OAUTH_OPERATOR = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_request',
  'unsupported_grant_type',
  'unsupported_response_type',
  'invalid_scope',
  'redirect_uri_mismatch',
]);

/**
 * RFC 6749 error bodies (`{error, error_description}`), which TikTok may send with HTTP 200: the
 * body decides, not the status. Returns null when the body is not an OAuth error.
 */
export function oauthError(
  platform: Platform,
  what: string,
  response: PlatformResponse,
  phase: OAuthPhase,
): ConnectorError | null {
  const body = isRecord(response.body) ? response.body : {};
  const code = typeof body.error === 'string' ? body.error : undefined;
  if (!code) return response.status >= 400 ? statusError(platform, what, response) : null;
  const name = PLATFORM_NAMES[platform];
  const description = text(body.error_description);
  const details = { status: response.status, code };
  const because = description ? `${description.replace(/\s+/g, ' ').slice(0, 300)} (${code})` : code;
  if (OAUTH_TRANSIENT.has(code) || response.status === 429 || response.status >= 500) {
    return new ConnectorError(platform, 'transient', `${name} ${what} failed for now: ${because}.`, {
      ...details,
      retryAfterSeconds: retryAfter(response.headers),
    });
  }
  if (OAUTH_OPERATOR.has(code)) {
    return new ConnectorError(
      platform,
      'rejected',
      `${name} refused the ${what}: ${because}. Check the app's client credentials and redirect URI.`,
      details,
    );
  }
  if (phase === 'exchange') {
    const kind = code === 'access_denied' ? 'denied' : 'rejected';
    return new ConnectorError(platform, kind, `${name} refused the ${what}: ${because}. Connect again.`, details);
  }
  // invalid_grant, access_denied, invalid_token... on a refresh or revoke: the grant is gone.
  return new ConnectorError(
    platform,
    'needs_reconnect',
    `${name} no longer accepts this connection (${because}); connect the account again.`,
    details,
  );
}
