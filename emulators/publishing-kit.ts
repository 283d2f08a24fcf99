import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Answer, isRecord, json, type Kit, type TokenRecord } from './oauth-kit.js';

/**
 * What the four publishing emulators share: they read bodies themselves (binary, several MB, and a
 * connection can be dropped half way), keep their own fault queue and switches, record every
 * published item with the bytes received, and answer the /__control/publishing/ API tests use.
 */

export const PUBLISHING_FAULTS = ['server_error', 'rate_limit', 'drop', 'token_expired', 'answer'] as const;
export type PublishingFaultKind = (typeof PUBLISHING_FAULTS)[number];

export interface PublishingFault {
  kind: PublishingFaultKind;
  /** Endpoint name as the platform module names it ("upload", "init", ...); `any` hits the next one. */
  on: string;
  retryAfterSeconds?: number;
  /** `answer`: the platform's reply in full, instead of carrying the request out (an error from its table). */
  status?: number;
  body?: unknown;
}

export interface PublishedItem {
  id: string;
  kind: string;
  /** The account it was published to. */
  account: string;
  params: Record<string, unknown>;
  /** Media as received, in order (one entry per video or image). */
  media: Buffer[];
  at: string;
}

export interface Call {
  method: string;
  path: string;
  endpoint: string;
  query: URLSearchParams;
  header(name: string): string | undefined;
  body: Buffer;
  /** The connection is dropped after this request: the body holds only what arrived before. */
  partial: boolean;
  /** Query, form and JSON fields together (JSON values stringified when not strings). */
  params: URLSearchParams;
  json: Record<string, unknown> | null;
  /** Bearer, `OAuth <token>` or `access_token` parameter. */
  token: string | null;
}

export interface PublishingModule {
  /** The endpoint name of a request this module answers, or null when it is not one of its own. */
  classify(method: string, path: string): string | null;
  handle(call: Call, pub: PublishingState): Answer | Promise<Answer>;
  /** Platform switches set by POST /__control/publishing/switches. */
  switches: Record<string, unknown>;
  reset(): void;
}

export class PublishingState {
  readonly published: PublishedItem[] = [];
  readonly faults: PublishingFault[] = [];
  constructor(readonly kit: Kit) {}

  publish(kind: string, account: string, params: Record<string, unknown>, media: Buffer[], id?: string): PublishedItem {
    const item: PublishedItem = {
      id: id ?? String(10 ** 15 + Math.floor(Math.random() * 9 * 10 ** 14)),
      kind,
      account,
      params,
      media,
      at: new Date(this.kit.now()).toISOString(),
    };
    this.published.push(item);
    return item;
  }

  takeFault(endpoint: string, kinds: readonly PublishingFaultKind[] = PUBLISHING_FAULTS): PublishingFault | undefined {
    const i = this.faults.findIndex((f) => kinds.includes(f.kind) && (f.on === 'any' || f.on === endpoint));
    return i === -1 ? undefined : this.faults.splice(i, 1)[0];
  }

  /** Expires the token now: the fault "token expires mid-upload". */
  expire(token: string | null): void {
    const record = token ? this.kit.tokens.get(token) : undefined;
    if (record) record.expiresAtMs = this.kit.now() - 1;
  }

  check(token: string | null, kinds: string[]): { ok: true; record: TokenRecord } | { ok: false; why: string } {
    return this.kit.check(token, kinds);
  }

  reset(): void {
    this.published.length = 0;
    this.faults.length = 0;
  }
}

export const newId = (prefix = ''): string => `${prefix}${BigInt(`0x${randomBytes(7).toString('hex')}`).toString()}`;
export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const MAX_UPLOAD_BYTES = 256 * 1024 * 1024;

/**
 * The raw hook for startEmulatorServer: answers a module's endpoints and /__control/publishing/*,
 * and clears its state on POST /__control/reset (then lets the shared reset run too).
 */
export function publishingHook(module: PublishingModule, tokenKinds: { kinds: string[]; prefix: string }) {
  let state: PublishingState | undefined;
  return async (req: IncomingMessage, res: ServerResponse, url: URL, kit: Kit): Promise<boolean> => {
    state ??= new PublishingState(kit);
    const pub = state;
    const method = req.method ?? 'GET';
    if (url.pathname === '/__control/reset') {
      pub.reset();
      module.reset();
      return false;
    }
    if (url.pathname.startsWith('/__control/publishing/')) {
      const body = await readAll(req, 1024 * 1024);
      reply(res, control(method, url, body.bytes, pub, module, kit, tokenKinds));
      return true;
    }
    const endpoint = module.classify(method, url.pathname);
    if (!endpoint) return false;
    const fault = pub.takeFault(endpoint, ['drop']);
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    // On an upload the connection dies half way through the body; elsewhere the request is
    // carried out and only the answer is lost.
    const cut = Boolean(fault) && endpoint.startsWith('upload') && Number.isFinite(declared);
    const limit = cut ? Math.floor(declared / 2) : MAX_UPLOAD_BYTES;
    const { bytes, complete } = await readAll(req, limit, cut);
    const call = toCall(method, url, req, bytes, endpoint, !complete || Boolean(fault));
    kit.requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'] ?? null,
      form: null,
      authorization: /^bearer /i.test(req.headers.authorization ?? '')
        ? 'bearer'
        : req.headers.authorization
          ? 'other'
          : 'absent',
      at: new Date(kit.now()).toISOString(),
    });
    let answer: Answer;
    try {
      answer = await module.handle(call, pub);
    } catch (err) {
      answer = json(500, { error: { message: err instanceof Error ? err.message : String(err) } });
    }
    if (call.partial) {
      res.destroy();
      req.socket.destroy();
      return true;
    }
    reply(res, answer);
    return true;
  };
}

function control(
  method: string,
  url: URL,
  raw: Buffer,
  pub: PublishingState,
  module: PublishingModule,
  kit: Kit,
  tokenKinds: { kinds: string[]; prefix: string },
): Answer {
  let body: unknown = null;
  try {
    body = raw.length ? JSON.parse(raw.toString('utf8')) : null;
  } catch {
    return json(400, { error: 'body is not JSON' });
  }
  const route = `${method} ${url.pathname.slice('/__control/publishing'.length)}`;
  if (route === 'GET /published') {
    return json(
      200,
      pub.published.map((p) => ({
        ...p,
        media: p.media.map((m) => ({ bytes: m.length, sha256: sha256(m) })),
      })),
    );
  }
  const mediaMatch = /^GET \/published\/([^/]+)\/media\/(\d+)$/.exec(route);
  if (mediaMatch) {
    const item = pub.published.find((p) => p.id === mediaMatch[1]);
    const media = item?.media[Number(mediaMatch[2])];
    if (!media) return json(404, { error: 'no such item or media' });
    return { status: 200, body: media, headers: { 'content-type': 'application/octet-stream' } };
  }
  if (route === 'POST /faults') {
    const list = Array.isArray(body) ? body : [body];
    for (const f of list) {
      if (!isRecord(f) || !PUBLISHING_FAULTS.includes(f.kind as PublishingFaultKind)) {
        return json(400, { error: `kind must be one of ${PUBLISHING_FAULTS.join(', ')}` });
      }
      pub.faults.push({
        kind: f.kind as PublishingFaultKind,
        on: typeof f.on === 'string' ? f.on : 'any',
        ...(typeof f.retryAfterSeconds === 'number' ? { retryAfterSeconds: f.retryAfterSeconds } : {}),
        ...(typeof f.status === 'number' ? { status: f.status } : {}),
        ...('body' in f ? { body: f.body } : {}),
      });
    }
    return { status: 204 };
  }
  if (route === 'POST /switches') {
    if (!isRecord(body)) return json(400, { error: 'expected an object of switches' });
    for (const [key, value] of Object.entries(body)) {
      if (!(key in module.switches)) return json(400, { error: `unknown switch ${key}` });
      module.switches[key] = value;
    }
    return json(200, module.switches);
  }
  if (route === 'POST /token') {
    // A token for publishing tests that skip the consent flow; same store as OAuth-issued ones.
    const b = isRecord(body) ? body : {};
    const kind = typeof b.kind === 'string' ? b.kind : (tokenKinds.kinds[0] as string);
    const seconds = typeof b.seconds === 'number' ? b.seconds : 3600;
    const data = isRecord(b.data) ? b.data : {};
    const record = kit.issueToken(kind, `grant-${randomBytes(4).toString('hex')}`, seconds, tokenKinds.prefix, data);
    return json(200, { token: record.token });
  }
  return json(404, { error: `unknown publishing control ${route}` });
}

function toCall(
  method: string,
  url: URL,
  req: IncomingMessage,
  body: Buffer,
  endpoint: string,
  partial: boolean,
): Call {
  const header = (name: string) => {
    const v = req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const type = header('content-type')?.split(';')[0]?.trim().toLowerCase();
  const params = new URLSearchParams(url.searchParams);
  let parsed: Record<string, unknown> | null = null;
  if (type === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.set(k, v);
  } else if (type === 'application/json') {
    try {
      const value = JSON.parse(body.toString('utf8'));
      if (isRecord(value)) {
        parsed = value;
        for (const [k, v] of Object.entries(value)) params.set(k, typeof v === 'string' ? v : JSON.stringify(v));
      }
    } catch {
      parsed = null;
    }
  }
  const auth = header('authorization');
  const token = auth?.match(/^(?:Bearer|OAuth)\s+(.+)$/i)?.[1]?.trim() ?? params.get('access_token');
  return {
    method,
    path: url.pathname,
    endpoint,
    query: url.searchParams,
    header,
    body,
    partial,
    params,
    json: parsed,
    token,
  };
}

async function readAll(
  req: IncomingMessage,
  limit: number,
  stopAtLimit = false,
): Promise<{ bytes: Buffer; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    const room = limit - size;
    if (room <= 0) {
      if (stopAtLimit) return { bytes: Buffer.concat(chunks), complete: false };
      continue;
    }
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    size += Math.min(chunk.length, room);
    if (stopAtLimit && size >= limit) return { bytes: Buffer.concat(chunks), complete: false };
  }
  return { bytes: Buffer.concat(chunks), complete: size <= limit };
}

function reply(res: ServerResponse, answer: Answer): void {
  if (res.destroyed || res.writableEnded) return;
  if (answer.hangUp) {
    res.socket?.destroy();
    return;
  }
  const headers: Record<string, string | number> = { ...(answer.headers ?? {}) };
  if (answer.location) headers.location = answer.location;
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers).end();
    return;
  }
  const payload = Buffer.isBuffer(answer.body) ? answer.body : Buffer.from(JSON.stringify(answer.body));
  headers['content-type'] ??= 'application/json';
  headers['content-length'] = payload.length;
  res.writeHead(answer.status, headers).end(payload);
}

/** The fault answers every platform shares in shape but words differently. */
export interface FaultWords {
  serverError(): Answer;
  rateLimited(retryAfterSeconds: number): Answer;
}

/** Applies a queued server_error / rate_limit / token_expired fault for this endpoint, if any. */
export function injected(call: Call, pub: PublishingState, words: FaultWords): Answer | undefined {
  const fault = pub.takeFault(call.endpoint, ['server_error', 'rate_limit', 'token_expired', 'answer']);
  if (!fault) return undefined;
  if (fault.kind === 'answer') return json(fault.status ?? 400, fault.body ?? {});
  if (fault.kind === 'server_error') return words.serverError();
  if (fault.kind === 'rate_limit') return words.rateLimited(fault.retryAfterSeconds ?? 1);
  pub.expire(call.token);
  return undefined;
}

/** Several modules behind one host (graph.facebook.com answers Pages and Instagram-with-Facebook-Login). */
export function combine(...modules: PublishingModule[]): PublishingModule {
  const owner = new Map<string, PublishingModule>();
  return {
    switches: new Proxy({} as Record<string, unknown>, {
      has: (_, key) => modules.some((m) => key in m.switches),
      get: (_, key) => modules.find((m) => (key as string) in m.switches)?.switches[key as string],
      set: (_, key, value) => {
        // A switch both modules know (processingPolls) applies to both.
        for (const m of modules) if ((key as string) in m.switches) m.switches[key as string] = value;
        return true;
      },
      ownKeys: () => [...new Set(modules.flatMap((m) => Object.keys(m.switches)))],
      getOwnPropertyDescriptor: (_, key) => {
        const m = modules.find((x) => (key as string) in x.switches);
        return m ? { enumerable: true, configurable: true, value: m.switches[key as string] } : undefined;
      },
    }),
    classify(method, path) {
      for (const m of modules) {
        const endpoint = m.classify(method, path);
        if (endpoint) {
          owner.set(`${method} ${path}`, m);
          return endpoint;
        }
      }
      return null;
    },
    handle(call, pub) {
      const m = owner.get(`${call.method} ${call.path}`) ?? modules[0];
      return (m as PublishingModule).handle(call, pub);
    },
    reset() {
      for (const m of modules) m.reset();
    },
  };
}

/** Downloads media a platform pulls by URL ("We cURL media"); null when it cannot be fetched. */
export async function pullMedia(url: string): Promise<Buffer | null> {
  try {
    const res = await fetch(url, { redirect: 'manual' });
    if (res.status !== 200) return null;
    return Buffer.from(await res.arrayBuffer());
  } catch {
    return null;
  }
}

/** Meta's Graph error body. */
export function graphFail(
  status: number,
  message: string,
  code: number,
  subcode?: number,
  extra: Record<string, unknown> = {},
): Answer {
  return json(status, {
    error: {
      message,
      type: 'OAuthException',
      code,
      ...(subcode ? { error_subcode: subcode } : {}),
      fbtrace_id: randomBytes(8).toString('base64url'),
      ...extra,
    },
  });
}
