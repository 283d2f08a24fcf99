import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the four platform emulators share: a loopback HTTP server, a clock tests can move, a fault
 * queue, a record of every request and of every request that broke the contract, single-use
 * authorization codes, and a token store with expiry, rotation and revocation. Each platform module
 * adds its own endpoints and error shapes on top.
 */

export interface EmulatorOptions {
  /** 0 or omitted picks a free port. */
  port?: number;
  host?: string;
  /** One line per answered request, for the CLI. */
  onLog?: (line: string) => void;
}

export const FAULT_KINDS = ['server_error', 'rate_limit', 'invalid_grant', 'deny_consent'] as const;
export const FAULT_TARGETS = ['authorize', 'token', 'refresh', 'profile', 'revoke', 'any'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultTarget = (typeof FAULT_TARGETS)[number];

/** Queued; the next request to a matching endpoint consumes it. */
export interface Fault {
  kind: FaultKind;
  /** Which endpoint it hits; `any` (default) means the next one that can fail this way. */
  on?: FaultTarget;
  retryAfterSeconds?: number;
}

export interface Violation {
  endpoint: string;
  problem: string;
  at: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | null;
  /** Form fields by name; values of secret-looking fields are kept, this is a test double. */
  form: Record<string, string> | null;
  authorization: 'bearer' | 'absent' | 'other';
  at: string;
}

export interface EmulatorRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | null;
  /** Parsed only when the content type is application/x-www-form-urlencoded. */
  form: URLSearchParams | null;
  raw: string;
  bearer: string | null;
  /** The Authorization header as sent (null when absent). */
  authorization: string | null;
}

export interface Answer {
  status: number;
  body?: unknown;
  /** A redirect target; status should be 302. */
  location?: string;
  headers?: Record<string, string>;
  /** Publishing emulators: the request was carried out, then the connection is cut before the answer. */
  hangUp?: boolean;
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): Answer => ({
  status,
  body,
  headers,
});
export const redirect = (location: string): Answer => ({ status: 302, location });

/** Thrown from a handler to answer at once. */
export class Reply extends Error {
  constructor(readonly answer: Answer) {
    super(`HTTP ${answer.status}`);
  }
}

const MAX_BODY_BYTES = 1024 * 1024;
const CODE_LIFETIME_SECONDS = 10 * 60;

export interface TokenRecord {
  token: string;
  kind: string;
  grantId: string;
  issuedAtMs: number;
  expiresAtMs: number | null;
  /** `rotated`: a refresh token already exchanged for a new pair; using it again breaks the contract. */
  state: 'live' | 'rotated' | 'revoked';
  data: Record<string, unknown>;
}

export interface CodeRecord {
  code: string;
  expiresAtMs: number;
  used: boolean;
  data: Record<string, unknown>;
}

/** Shared emulator state; platform modules read and write it directly. */
export class Kit {
  readonly requests: RecordedRequest[] = [];
  readonly violations: Violation[] = [];
  readonly faults: Fault[] = [];
  readonly tokens = new Map<string, TokenRecord>();
  readonly codes = new Map<string, CodeRecord>();
  clockOffsetMs = 0;

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  violate(endpoint: string, problem: string): void {
    this.violations.push({ endpoint, problem, at: new Date(this.now()).toISOString() });
  }

  /** The first queued fault aimed at `target` that `allowed` kinds cover, removed from the queue. */
  takeFault(target: FaultTarget, allowed: readonly FaultKind[]): Fault | undefined {
    const index = this.faults.findIndex(
      (f) => allowed.includes(f.kind) && (f.on === undefined || f.on === 'any' || f.on === target),
    );
    return index === -1 ? undefined : this.faults.splice(index, 1)[0];
  }

  issueCode(data: Record<string, unknown>, prefix = 'code'): string {
    const code = `${prefix}-${randomBytes(16).toString('base64url')}`;
    this.codes.set(code, { code, expiresAtMs: this.now() + CODE_LIFETIME_SECONDS * 1000, used: false, data });
    return code;
  }

  /** The code's data, or why it cannot be used; a second use is a contract violation. */
  redeemCode(
    endpoint: string,
    code: string | null,
  ): { ok: true; data: Record<string, unknown> } | { ok: false; why: string } {
    const record = code ? this.codes.get(code) : undefined;
    if (!record) return { ok: false, why: 'unknown code' };
    if (record.used) {
      this.violate(endpoint, 'authorization code used twice');
      return { ok: false, why: 'code already used' };
    }
    if (record.expiresAtMs <= this.now()) return { ok: false, why: 'code expired' };
    record.used = true;
    return { ok: true, data: record.data };
  }

  issueToken(
    kind: string,
    grantId: string,
    lifetimeSeconds: number | null,
    prefix: string,
    data: Record<string, unknown> = {},
  ): TokenRecord {
    const record: TokenRecord = {
      token: `${prefix}${randomBytes(24).toString('base64url')}`,
      kind,
      grantId,
      issuedAtMs: this.now(),
      expiresAtMs: lifetimeSeconds === null ? null : this.now() + lifetimeSeconds * 1000,
      state: 'live',
      data,
    };
    this.tokens.set(record.token, record);
    return record;
  }

  /** A token of one of `kinds` that is live and unexpired, or why not. */
  check(
    token: string | null,
    kinds: string[],
  ): { ok: true; record: TokenRecord } | { ok: false; why: 'unknown' | 'expired' | 'revoked' | 'rotated' } {
    const record = token ? this.tokens.get(token) : undefined;
    if (!record || !kinds.includes(record.kind)) return { ok: false, why: 'unknown' };
    if (record.state !== 'live') return { ok: false, why: record.state };
    if (record.expiresAtMs !== null && record.expiresAtMs <= this.now()) return { ok: false, why: 'expired' };
    return { ok: true, record };
  }

  /** Ends a grant: every token issued under it stops working. */
  revokeGrant(grantId: string): number {
    let count = 0;
    for (const record of this.tokens.values()) {
      if (record.grantId === grantId && record.state !== 'revoked') {
        record.state = 'revoked';
        count++;
      }
    }
    return count;
  }

  liveGrants(): Set<string> {
    const grants = new Set<string>();
    for (const record of this.tokens.values()) {
      if (record.state === 'live' && (record.expiresAtMs === null || record.expiresAtMs > this.now())) {
        grants.add(record.grantId);
      }
    }
    return grants;
  }

  reset(): void {
    // Emptied in place: callers may hold on to the arrays.
    this.requests.length = 0;
    this.violations.length = 0;
    this.faults.length = 0;
    this.tokens.clear();
    this.codes.clear();
    this.clockOffsetMs = 0;
  }
}

export interface EmulatorServer {
  url: string;
  kit: Kit;
  stop(): Promise<void>;
}

export interface EmulatorHandlers {
  api(req: EmulatorRequest, kit: Kit): Answer | Promise<Answer>;
  /** Platform-specific control endpoints below /__control/; undefined when the path is not one. */
  control?(
    method: string,
    path: string,
    body: Record<string, unknown>,
    kit: Kit,
  ): Answer | undefined | Promise<Answer | undefined>;
  /** Called by POST /__control/reset after the shared state is cleared. */
  reset?(): void;
  /**
   * Sees every request first, body unread; true when it answered it itself. Publishing endpoints
   * need this: binary uploads larger than the buffered limit, and connections dropped mid-body.
   */
  raw?(req: IncomingMessage, res: ServerResponse, url: URL, kit: Kit): Promise<boolean>;
}

export async function startEmulatorServer(
  options: EmulatorOptions,
  handlers: EmulatorHandlers,
): Promise<EmulatorServer> {
  const host = options.host ?? '127.0.0.1';
  const kit = new Kit();
  const server = createServer((req, res) => {
    void handle(req, res, kit, handlers, options);
  });
  const port = await listen(server, options.port ?? 0, host);
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    kit,
    stop: () => {
      stopped ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`Port ${port} on ${host} is already in use. Stop whatever uses it, or choose another port.`)
          : err,
      ),
    );
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  kit: Kit,
  handlers: EmulatorHandlers,
  options: EmulatorOptions,
): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://emulator');
  let answer: Answer;
  try {
    if (handlers.raw && (await handlers.raw(req, res, url, kit))) return;
    const raw = await readBody(req);
    if (url.pathname.startsWith('/__control/')) {
      answer = await handleControl(method, url.pathname, raw, kit, handlers);
    } else {
      const request = toRequest(method, url, req, raw);
      kit.requests.push(record(request, kit));
      answer = await handlers.api(request, kit);
    }
  } catch (err) {
    answer =
      err instanceof Reply
        ? err.answer
        : json(500, { error: 'server_error', error_description: err instanceof Error ? err.message : String(err) });
  }
  send(res, answer);
  if (!url.pathname.startsWith('/__control/')) options.onLog?.(`${method} ${url.pathname} → ${answer.status}`);
}

function toRequest(method: string, url: URL, req: IncomingMessage, raw: string): EmulatorRequest {
  const contentType = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase() ?? null;
  const auth = req.headers.authorization;
  const bearer = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : null;
  return {
    method,
    path: url.pathname,
    query: url.searchParams,
    contentType,
    form: contentType === 'application/x-www-form-urlencoded' ? new URLSearchParams(raw) : null,
    raw,
    bearer,
    authorization: auth ?? null,
  };
}

function record(request: EmulatorRequest, kit: Kit): RecordedRequest {
  return {
    method: request.method,
    path: request.path,
    query: Object.fromEntries(request.query),
    contentType: request.contentType,
    form: request.form ? Object.fromEntries(request.form) : null,
    authorization: request.bearer ? 'bearer' : request.authorization ? 'other' : 'absent',
    at: new Date(kit.now()).toISOString(),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES)
    throw new Reply(json(413, { error: 'invalid_request', error_description: 'body too large' }));
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, answer: Answer): void {
  if (res.destroyed || res.writableEnded) return;
  const headers: Record<string, string | number> = { ...(answer.headers ?? {}) };
  if (answer.location) headers.location = answer.location;
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers).end();
    return;
  }
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  headers['content-type'] ??= typeof answer.body === 'string' ? 'text/html; charset=utf-8' : 'application/json';
  headers['content-length'] = Buffer.byteLength(text);
  res.writeHead(answer.status, headers).end(text);
}

// ---------------------------------------------------------------------------------------------
// Control API shared by every platform emulator

async function handleControl(
  method: string,
  path: string,
  raw: string,
  kit: Kit,
  handlers: EmulatorHandlers,
): Promise<Answer> {
  let body: Record<string, unknown> = {};
  let parsed: unknown = null;
  if (raw.trim() !== '') {
    try {
      parsed = JSON.parse(raw);
    } catch {
      return json(400, { error: 'The control request body is not valid JSON' });
    }
    if (isRecord(parsed)) body = parsed;
  }
  const route = `${method} ${path}`;
  if (route === 'GET /__control/requests') return json(200, kit.requests);
  if (route === 'GET /__control/violations') return json(200, kit.violations);
  if (route === 'POST /__control/reset') {
    kit.reset();
    handlers.reset?.();
    return { status: 204 };
  }
  if (route === 'POST /__control/faults') {
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const faults: Fault[] = [];
    for (const [i, value] of list.entries()) {
      const fault = parseFault(value);
      if (typeof fault === 'string') return json(400, { error: `fault [${i}]: ${fault}` });
      faults.push(fault);
    }
    kit.faults.push(...faults);
    return { status: 204 };
  }
  if (route === 'POST /__control/clock') {
    const seconds = body.advanceSeconds;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      return json(400, { error: 'expected { "advanceSeconds": <number> }' });
    }
    kit.clockOffsetMs += seconds * 1000;
    return json(200, { now: new Date(kit.now()).toISOString() });
  }
  const answer = await handlers.control?.(method, path, body, kit);
  return answer ?? json(404, { error: `Unknown control request ${route}` });
}

export function parseFault(value: unknown): Fault | string {
  if (!isRecord(value)) return 'expected an object';
  const kind = FAULT_KINDS.find((k) => k === value.kind);
  if (!kind) return `kind must be one of ${FAULT_KINDS.join(', ')}`;
  const on = value.on === undefined ? undefined : FAULT_TARGETS.find((t) => t === value.on);
  if (value.on !== undefined && !on) return `on must be one of ${FAULT_TARGETS.join(', ')}`;
  const retry = value.retryAfterSeconds;
  if (retry !== undefined && (typeof retry !== 'number' || !(retry >= 0)))
    return 'retryAfterSeconds must be a number ≥ 0';
  return { kind, ...(on ? { on } : {}), ...(typeof retry === 'number' ? { retryAfterSeconds: retry } : {}) };
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A redirect back to the client: `params` added to the redirect URI's own query. */
export function callbackUrl(
  redirectUri: string,
  params: Record<string, string | undefined>,
  fragment?: string,
): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return `${url.toString()}${fragment ?? ''}`;
}

/** Validates a redirect URI the way the platforms' registration rules do (absolute http(s), no fragment). */
export function validRedirectUri(value: string | null): value is string {
  if (!value) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '';
  } catch {
    return false;
  }
}

/** Fields a request must carry; each one missing is recorded as a violation. */
export function missingFields(kit: Kit, endpoint: string, params: URLSearchParams | null, names: string[]): string[] {
  const missing = names.filter((name) => !params?.get(name));
  for (const name of missing) kit.violate(endpoint, `missing ${name}`);
  return missing;
}

/** Records the contract break of a token request that is not a form post. */
export function requireForm(kit: Kit, endpoint: string, req: EmulatorRequest): boolean {
  if (req.method !== 'POST') {
    kit.violate(endpoint, `method ${req.method} instead of POST`);
    return false;
  }
  if (req.contentType !== 'application/x-www-form-urlencoded') {
    kit.violate(endpoint, `content type ${req.contentType ?? 'missing'} instead of application/x-www-form-urlencoded`);
    return false;
  }
  return true;
}

export interface Identity {
  id: string;
  displayName: string;
  avatarUrl: string;
}

/** Calls a control endpoint of a running emulator (for tests and scripts). */
export async function callControl(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await fetch(`${baseUrl}/__control/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`Control ${method} ${path} failed: HTTP ${response.status} ${text}`);
  return text === '' ? null : JSON.parse(text);
}

export function positiveSeconds(value: unknown, name: string): number | undefined | string {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    return `${name} must be a positive number of seconds`;
  return value;
}

/** An identity from a control request, keeping `fallback`'s values for what it leaves out. */
export function identity(value: Record<string, unknown>, fallback: Identity): Identity {
  return {
    id: typeof value.id === 'string' ? value.id : fallback.id,
    displayName: typeof value.displayName === 'string' ? value.displayName : fallback.displayName,
    avatarUrl: typeof value.avatarUrl === 'string' ? value.avatarUrl : fallback.avatarUrl,
  };
}
