import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type SniffedType, SUPPORTED_UPLOAD_TYPES, sniffMediaType } from '../storage/sniff.js';
import { type SniffedVideo, SUPPORTED_VIDEO_TYPES, sniffVideoType } from './video-sniff.js';

// Fetches media a user (or an AI image service) points at, without letting the URL reach inside
// the network the server sits in (SSRF). Every hop is checked after DNS resolution, and the
// connection goes to the address that was checked: no second lookup an attacker's DNS could
// answer differently (DNS rebinding). MEDIA_URL_ALLOWLIST names the local emulators exempted.

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

export type SniffedMedia = SniffedType | SniffedVideo;

export interface UrlImportOptions {
  maxBytes: number;
  /** The whole import, redirects included. */
  timeoutMs?: number;
  maxRedirects?: number;
  /** `host[:port]` entries (config MEDIA_URL_ALLOWLIST) that may resolve to internal addresses. */
  allowlist?: readonly string[];
  resolver?: Resolver;
  /** Decides from the first bytes whether the content is wanted; default: the images and videos we accept. */
  sniff?: (head: Uint8Array) => SniffedMedia | undefined;
  signal?: AbortSignal;
}

export interface UrlImportResult {
  bytes: number;
  mime: string;
  ext: string;
  kind: 'image' | 'video';
  /** The URL the content finally came from. */
  finalUrl: string;
  redirects: number;
}

export type UrlImportErrorCode =
  | 'invalid_url'
  | 'scheme_not_allowed'
  | 'address_not_allowed'
  | 'dns_failed'
  | 'too_many_redirects'
  | 'http_status'
  | 'too_large'
  | 'unsupported_type'
  | 'timeout'
  | 'network';

export class UrlImportError extends Error {
  constructor(
    readonly code: UrlImportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UrlImportError';
  }
}

// --- addresses -----------------------------------------------------------------------------------

function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

const V4_BLOCKED: [string, number, string][] = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'a private address'],
  ['100.64.0.0', 10, 'a carrier-grade NAT address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address'],
  ['172.16.0.0', 12, 'a private address'],
  ['192.0.0.0', 24, 'an IETF protocol address'],
  ['192.0.2.0', 24, 'a documentation address'],
  ['192.88.99.0', 24, 'a 6to4 relay address'],
  ['192.168.0.0', 16, 'a private address'],
  ['198.18.0.0', 15, 'a benchmarking address'],
  ['198.51.100.0', 24, 'a documentation address'],
  ['203.0.113.0', 24, 'a documentation address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved address'],
];

function classifyIpv4(ip: string): string | undefined {
  const n = ipv4ToNumber(ip);
  for (const [base, bits, reason] of V4_BLOCKED) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((n & mask) >>> 0 === (ipv4ToNumber(base) & mask) >>> 0) return reason;
  }
  return undefined;
}

/** Eight 16-bit groups; handles `::` and a dotted IPv4 tail. Assumes isIP(ip) === 6. */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const tail = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (tail?.[1]) {
    const v4 = ipv4ToNumber(tail[1]);
    text = `${text.slice(0, -tail[1].length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const middle = rest === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((g) => Number.parseInt(g, 16));
}

function classifyIpv6(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0] = g;
  const g7 = g[7] ?? 0;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return 'the unspecified address';
  if (zeroUpTo(7) && g7 === 1) return 'a loopback address';
  if (zeroUpTo(5) && g5 === 0xffff) return 'an IPv4-mapped address';
  if (zeroUpTo(6)) return 'an IPv4-compatible address';
  if (zeroUpTo(4) && g4 === 0xffff && g5 === 0) return 'an IPv4-translated address';
  if (g0 === 0x64 && g1 === 0xff9b) return 'a NAT64 address';
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'a discard-only address';
  if ((g0 & 0xfe00) === 0xfc00) return 'a unique local address';
  if ((g0 & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((g0 & 0xffc0) === 0xfec0) return 'a site-local address';
  if ((g0 & 0xff00) === 0xff00) return 'a multicast address';
  if ((g0 & 0xe000) !== 0x2000) return 'a reserved address';
  // Inside global unicast (2000::/3): special-purpose blocks.
  if (g0 === 0x2001 && g1 === 0xdb8) return 'a documentation address';
  if (g0 === 0x2001 && g1 < 0x200) return 'an IETF protocol address (e.g. Teredo)';
  if (g0 === 0x2002) return 'a 6to4 address';
  if ((g0 & 0xfff0) === 0x3ff0) return 'a documentation address';
  return undefined;
}

/**
 * Why an address must not be fetched from ("a loopback address", …), or undefined for an
 * ordinary public one. Anything that is not a well-formed IP address is refused too.
 */
export function internalAddressReason(ip: string): string | undefined {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (bare.includes('%')) return 'a scoped (link-local) address';
  const version = isIP(bare);
  if (version === 4) return classifyIpv4(bare);
  if (version === 6) return classifyIpv6(bare);
  return 'not an IP address';
}

// --- the fetch -----------------------------------------------------------------------------------

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const SNIFF_BYTES = 64;
const ACCEPTED = new Set([...SUPPORTED_UPLOAD_TYPES, ...SUPPORTED_VIDEO_TYPES]);

export const defaultSniff = (head: Uint8Array): SniffedMedia | undefined => {
  const found = sniffMediaType(head) ?? sniffVideoType(head);
  return found && ACCEPTED.has(found.mime) ? found : undefined;
};

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

function isAllowlisted(url: URL, allowlist: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = defaultPort(url);
  return allowlist.some((entry) => {
    const match = entry.toLowerCase().match(/^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/);
    return !!match && match[1] === host && (match[2] === undefined || match[2] === port);
  });
}

function parseUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new UrlImportError('invalid_url', `"${raw.slice(0, 200)}" is not a URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UrlImportError('scheme_not_allowed', `Only http and https URLs can be imported, not ${url.protocol}.`);
  }
  if (url.username || url.password) {
    throw new UrlImportError('invalid_url', 'URLs with a user name or password cannot be imported.');
  }
  return url;
}

/** Resolves the host once and picks the address to connect to, refusing internal ones. */
async function pinAddress(url: URL, options: UrlImportOptions, signal: AbortSignal): Promise<ResolvedAddress> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const allowlisted = isAllowlisted(url, options.allowlist ?? []);
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await untilAborted((options.resolver ?? systemResolver)(host), signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new UrlImportError('dns_failed', `The host name ${host} could not be resolved.`);
    }
    if (addresses.length === 0) throw new UrlImportError('dns_failed', `The host name ${host} has no address.`);
  }
  if (!allowlisted) {
    // Every address must be public: a name that also resolves inside is refused outright.
    for (const { address } of addresses) {
      const reason = internalAddressReason(address);
      if (reason) {
        const shown = address === host ? host : `${host} (${address})`;
        throw new UrlImportError(
          'address_not_allowed',
          `${shown} is ${reason}; media can only be imported from public addresses.`,
        );
      }
    }
  }
  return addresses[0]!;
}

/** A lookup cannot be cancelled, but the import need not wait for it past its time limit. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function request(url: URL, pinned: ResolvedAddress, signal: AbortSignal): Promise<IncomingMessage> {
  const secure = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request({
      host: pinned.address,
      family: pinned.family,
      port: Number(defaultPort(url)),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      // Certificates are still checked against the name in the URL.
      ...(secure && !isIP(host) ? { servername: host } : {}),
      headers: {
        host: url.host,
        'user-agent': 'AutoPostPanel media import',
        accept: 'image/*, video/*',
        'accept-encoding': 'identity',
      },
      agent: false,
      signal,
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

/**
 * Downloads `rawUrl` into `destination` (written under a temporary name, renamed when complete),
 * following at most `maxRedirects` redirects, each checked like the first URL.
 */
export async function importFromUrl(
  rawUrl: string,
  destination: string,
  options: UrlImportOptions,
): Promise<UrlImportResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxRedirects = options.maxRedirects ?? 5;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const sniff = options.sniff ?? defaultSniff;
  const partial = `${destination}.${randomUUID()}.partial`;

  const fail = (error: unknown): never => {
    if (error instanceof UrlImportError) throw error;
    if (timeout.aborted) {
      const seconds = timeoutMs < 10_000 ? (timeoutMs / 1000).toFixed(1) : String(Math.round(timeoutMs / 1000));
      throw new UrlImportError('timeout', `The download did not finish within ${seconds} s.`);
    }
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new UrlImportError('network', `The download failed: ${(error as Error).message}.`);
  };

  try {
    let url = parseUrl(rawUrl);
    for (let redirects = 0; ; redirects++) {
      const pinned = await pinAddress(url, options, signal);
      const response = await request(url, pinned, signal);
      const status = response.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        response.resume();
        const location = response.headers.location;
        if (!location) throw new UrlImportError('http_status', `The server answered ${status} without a Location.`);
        if (redirects >= maxRedirects) {
          throw new UrlImportError('too_many_redirects', `The URL redirected more than ${maxRedirects} times.`);
        }
        url = parseUrl(location, url);
        continue;
      }
      if (status < 200 || status > 299) {
        response.resume();
        throw new UrlImportError('http_status', `The server answered ${status} ${response.statusMessage ?? ''}`.trim());
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        response.destroy();
        throw tooLarge(options.maxBytes);
      }
      const sniffed = await save(response, partial, options.maxBytes, sniff, signal);
      await rename(partial, destination);
      return { ...sniffed.type, bytes: sniffed.bytes, finalUrl: url.href, redirects };
    }
  } catch (error) {
    await rm(partial, { force: true });
    return fail(error);
  }
}

function tooLarge(maxBytes: number) {
  return new UrlImportError('too_large', `The file is larger than the limit of ${maxBytes} bytes.`);
}

async function save(
  response: IncomingMessage,
  path: string,
  maxBytes: number,
  sniff: (head: Uint8Array) => SniffedMedia | undefined,
  signal: AbortSignal,
): Promise<{ type: SniffedMedia; bytes: number }> {
  let bytes = 0;
  let head = Buffer.alloc(0);
  let type: SniffedMedia | undefined;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        done(tooLarge(maxBytes));
        return;
      }
      if (type) {
        done(null, chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      if (head.length < SNIFF_BYTES) {
        done();
        return;
      }
      type = sniff(head);
      if (!type) done(unsupported());
      else done(null, head);
    },
    flush(done) {
      if (type) {
        done();
        return;
      }
      type = head.length > 0 ? sniff(head) : undefined;
      if (!type) done(unsupported());
      else done(null, head);
    },
  });
  await pipeline(response, check, createWriteStream(path, { flags: 'wx' }), { signal });
  return { type: type!, bytes };
}

function unsupported() {
  return new UrlImportError(
    'unsupported_type',
    'The URL does not lead to a supported image or video (JPEG, PNG, WebP, GIF, AVIF, MP4, MOV or WebM).',
  );
}
