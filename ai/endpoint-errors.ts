import { cutText } from '../domain/cut-text.js';

/**
 * How much of what an endpoint said an attempt's error keeps: enough to read the reason, never a
 * proxy's whole error page in every attempt row and in the post's error.
 */
export const MAX_REASON_CHARS = 300;

/** `text` cut to at most `max` characters, whole characters only, marked when cut. */
export function capText(text: string, max = MAX_REASON_CHARS): string {
  return text.length <= max ? text : `${cutText(text, max - 1).trimEnd()}…`;
}

/** Host and port of the endpoint, which a person can check: no credentials, path or query. */
export function endpointHost(baseURL: string): string {
  try {
    return new URL(baseURL).host || 'its configured address';
  } catch {
    return 'its configured address';
  }
}

/** `text` with each secret (API key, credentials of the base URL) replaced, should an endpoint echo one. */
export function withoutSecrets(text: string, secrets: readonly string[]): string {
  let clean = text;
  // Short values (a placeholder key, a one-letter user name) would cut ordinary words apart.
  for (const secret of secrets) if (secret.length >= 8) clean = clean.split(secret).join('[redacted]');
  return clean;
}

const CONNECT_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host (its name does not resolve)',
  EAI_AGAIN: 'its name could not be looked up just now (DNS did not answer)',
  ETIMEDOUT: 'connecting timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  EHOSTDOWN: 'the host is down',
};

const BROKEN_CONNECTIONS: Record<string, string> = {
  ECONNRESET: 'connection reset',
  EPIPE: 'the connection closed while the request was being sent',
  UND_ERR_SOCKET: 'the endpoint closed the connection',
  UND_ERR_CLOSED: 'the connection was closed',
};

const TLS_FAILURE = /^(?:CERT_|ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_)/;

/** The first system or HTTP-client error code (ECONNREFUSED, UND_ERR_SOCKET, ...) among an error's causes. */
function causeCode(err: unknown): string | undefined {
  const queue: unknown[] = [err];
  const seen = new Set<unknown>();
  for (let i = 0; i < queue.length && i < 20; i++) {
    const current = queue[i];
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const { code, cause, errors } = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    queue.push(cause);
    // Trying each address of a name (IPv6, then IPv4) fails with all of them together.
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return undefined;
}

/**
 * Why no answer came, from the HTTP client's error: its cause in words and the endpoint's host,
 * never the URL's path or query or the key.
 */
export function connectionFailureInWords(err: unknown, host: string): string {
  const code = causeCode(err);
  const connect = code ? CONNECT_FAILURES[code] : undefined;
  if (connect) return `Could not connect to the AI endpoint at ${host}: ${connect}`;
  const broken = code ? BROKEN_CONNECTIONS[code] : undefined;
  if (broken) return `The connection to the AI endpoint at ${host} broke before it answered: ${broken}`;
  if (code && TLS_FAILURE.test(code)) {
    return `Could not connect to the AI endpoint at ${host}: its TLS certificate was not accepted (${code})`;
  }
  return `Could not reach the AI endpoint at ${host}${code ? ` (${code})` : ''}`;
}

const HTML_START = /^(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]/i;

function looksLikeHtml(text: string, contentType: string | null | undefined): boolean {
  return /\bhtml\b/i.test(contentType ?? '') || HTML_START.test(text) || /<\/html\s*>\s*$/i.test(text);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Text of an HTML fragment: tags dropped, the common entities decoded, spaces collapsed. */
function htmlText(fragment: string): string {
  return fragment
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? whole;
      const point = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      return point > 0 && point <= 0x10ffff && (point < 0xd800 || point > 0xdfff) ? String.fromCodePoint(point) : ' ';
    })
    .replace(/\s+/g, ' ')
    .trim();
}

/** The page's title, or its first heading: what a proxy's error page says in a line. */
function htmlHeadline(page: string): string | undefined {
  for (const element of [/<title[^>]*>([\s\S]*?)<\/title>/i, /<h1[^>]*>([\s\S]*?)<\/h1>/i]) {
    const text = htmlText(element.exec(page)?.[1] ?? '');
    if (text) return text;
  }
  return undefined;
}

/**
 * What an endpoint's answer body says, short and as plain text: an HTML page (a proxy's or
 * gateway's error page, a sign-in page) by its title, other text whitespace-collapsed and capped.
 */
export function bodyInWords(text: string, contentType?: string | null): string {
  const trimmed = text.trim();
  if (trimmed === '') return 'it gave no reason';
  if (looksLikeHtml(trimmed, contentType)) {
    const headline = htmlHeadline(trimmed);
    return headline ? `it answered with an HTML page ("${capText(headline, 120)}")` : 'it answered with an HTML page';
  }
  return capText(trimmed.replace(/\s+/g, ' '));
}
