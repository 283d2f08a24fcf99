import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { JSON_SCHEMA_PROMPT } from '../ai/draft-schemas.js';

/**
 * A local stand-in for an OpenAI-compatible endpoint, speaking real HTTP on loopback, so tests and
 * demos exercise the official SDK end to end without a key, a network, or a bill.
 */
export const EMULATOR_MODEL = 'emulator-model';

export interface OpenAiEmulatorOptions {
  /** 0 or omitted picks a free port. */
  port?: number;
  host?: string;
  latencyMs?: number;
  /** When set, API requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** One line per answered request, for the CLI. */
  onLog?: (line: string) => void;
  /** How images are handed over; `reset()` comes back to this. Default: base64, as gpt-image models do. */
  imageHosting?: Partial<ImageHosting>;
}

/** How image generations are answered, and what the links to images serve. */
export interface ImageHosting {
  /**
   * The answer to an image request that names no `response_format`: base64 in the JSON, as
   * gpt-image models send, or a link to a copy the emulator serves itself, as DALL·E and many
   * OpenAI-compatible servers send. A `response_format` in the request is followed either way.
   */
  answer: 'b64_json' | 'url';
  /**
   * What a link serves: the image as PNG, JPEG or WebP, or an HTML page in its place (what a
   * storage proxy's sign-in page looks like to a client).
   */
  serve: 'png' | 'jpeg' | 'webp' | 'html';
  /** A link's download sends its headers and first bytes, then nothing until the client gives up. */
  stallDownloads: boolean;
}

const DEFAULT_IMAGE_HOSTING: ImageHosting = { answer: 'b64_json', serve: 'png', stallDownloads: false };

export interface OpenAiEmulator {
  /** Base URL including /v1, to pass as the SDK's `baseURL`. */
  url: string;
  /** Every API request received, oldest first (control requests under /_emulator/ are not recorded). */
  requests: RecordedRequest[];
  /** Queued; each request to /v1/chat/completions or /v1/images/generations consumes the next one. */
  injectFaults(faults: Fault[]): void;
  setLatency(ms: number): void;
  /**
   * Off: like many OpenAI-compatible servers, refuses `response_format: json_schema` (400) and
   * answers `json_object` requests from a JSON schema written in the prompt after
   * `JSON_SCHEMA_PROMPT` (ai/draft-schemas.ts), or with `{ reply }` when there is none.
   */
  setStructuredOutputs(on: boolean): void;
  /** Changes how images are handed over (see `ImageHosting`) until the next `reset()`. */
  setImageHosting(hosting: Partial<ImageHosting>): void;
  /** Clears requests, faults and latency, and restores the image hosting given at start. */
  reset(): void;
  stop(): Promise<void>;
}

export type Fault =
  | { kind: 'rate_limit'; retryAfterSeconds?: number }
  | { kind: 'server_error' }
  | { kind: 'bad_request'; message?: string }
  /** 429 with OpenAI's `insufficient_quota`: the account's credit is used up (no retry helps). */
  | { kind: 'quota' }
  | { kind: 'malformed' }
  /** An answer cut off at the output limit (`finish_reason: length`). */
  | { kind: 'truncated' }
  /** An answer withheld by the content filter (`finish_reason: content_filter`, no content). */
  | { kind: 'filtered' }
  /**
   * 200 and the start of a JSON body, then nothing more until the client gives up; with
   * `trickleEveryMs`, a space every so often (a stream of nothing that keeps the connection busy).
   */
  | { kind: 'stall_after_headers'; trickleEveryMs?: number }
  /** A long HTML error page, as a reverse proxy or gateway in front of a model server sends (502 unless given). */
  | { kind: 'html_error'; status?: number }
  /** The connection reset (TCP RST) instead of an answer. */
  | { kind: 'reset' };

/** Faults that break HTTP itself rather than answer in OpenAI's error shape. */
type TransportFault = Extract<Fault, { kind: 'stall_after_headers' | 'html_error' | 'reset' }>;
const TRANSPORT_FAULTS: readonly string[] = ['stall_after_headers', 'html_error', 'reset'];

/** Faults that shape the answer instead of refusing the request. */
type AnswerShape = 'malformed' | 'truncated' | 'filtered';
const ANSWER_SHAPES: readonly string[] = ['malformed', 'truncated', 'filtered'];

export interface RecordedRequest {
  method: string;
  /** Without the query: the signature of an image link is not kept. */
  path: string;
  body: unknown;
  receivedAt: string;
  authorization: 'present' | 'absent';
  /**
   * The client closed the connection before the whole answer was sent (a cancelled caller, a
   * client-side deadline); the emulator then stops working on it.
   */
  aborted: boolean;
}

const FAULT_KINDS = [
  'rate_limit',
  'server_error',
  'bad_request',
  'quota',
  'malformed',
  'truncated',
  'filtered',
  'stall_after_headers',
  'html_error',
  'reset',
] as const;
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const MAX_IMAGE_SIDE = 4096;
const MAX_IMAGES = 10;
const DEFAULT_ARRAY_ITEMS = 3;
const DESCRIPTION_MAX_BYTES = 5000;
// Deep enough for any real draft schema; a recursive `$ref` stops here instead of looping.
const MAX_SCHEMA_DEPTH = 8;
/** Images kept for their links; older ones are dropped, as a real store expires them. */
const MAX_HOSTED_FILES = 32;
/** How long an image link's signature is valid (OpenAI's image URLs last an hour). */
const LINK_TTL_MS = 3600_000;

interface HostedFile {
  bytes: Buffer;
  contentType: string;
  stall: boolean;
}

interface State {
  requests: RecordedRequest[];
  faults: Fault[];
  latencyMs: number;
  completions: number;
  structuredOutputs: boolean;
  imageHosting: ImageHosting;
  /** What the emulator was started with, which `reset()` restores. */
  startImageHosting: ImageHosting;
  /** Where the links point: this emulator's own origin. */
  origin: string;
  /** Signs image links like a storage SAS, so a client that drops or changes the query is refused. */
  linkKey: Buffer;
  files: Map<string, HostedFile>;
}

/** An answer in OpenAI's error shape, thrown from anywhere in a handler. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Thrown by a handler to break the exchange itself (see `misbehave`). */
class TransportFailure extends Error {
  constructor(readonly fault: TransportFault) {
    super(fault.kind);
  }
}

const badRequest = (message: string, param: string | null = null) =>
  new ApiError(400, message, 'invalid_request_error', param);

export async function startOpenAiEmulator(options: OpenAiEmulatorOptions = {}): Promise<OpenAiEmulator> {
  const host = options.host ?? '127.0.0.1';
  const startImageHosting: ImageHosting = { ...DEFAULT_IMAGE_HOSTING, ...options.imageHosting };
  const state: State = {
    requests: [],
    faults: [],
    latencyMs: options.latencyMs ?? 0,
    completions: 0,
    structuredOutputs: true,
    imageHosting: { ...startImageHosting },
    startImageHosting,
    origin: '',
    linkKey: randomBytes(32),
    files: new Map(),
  };
  // Aborts latency waits on stop, so a slow answer never outlives the emulator.
  const stopping = new AbortController();
  const server = createServer((req, res) => {
    void handle(req, res, state, options, stopping.signal);
  });
  const port = await listen(server, options.port ?? 0, host);
  state.origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let stopped: Promise<void> | undefined;

  return {
    url: `${state.origin}/v1`,
    requests: state.requests,
    injectFaults: (faults) => {
      state.faults.push(...faults.map((fault) => ({ ...fault })));
    },
    setLatency: (ms) => {
      state.latencyMs = Math.max(0, ms);
    },
    setStructuredOutputs: (on) => {
      state.structuredOutputs = on;
    },
    setImageHosting: (hosting) => {
      state.imageHosting = { ...state.imageHosting, ...hosting };
    },
    reset: () => resetState(state),
    stop: () => {
      stopped ??= new Promise<void>((resolve, reject) => {
        stopping.abort();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

function resetState(state: State): void {
  // Emptied in place: callers may hold on to `emulator.requests`.
  state.requests.length = 0;
  state.faults.length = 0;
  state.latencyMs = 0;
  state.structuredOutputs = true;
  state.imageHosting = { ...state.startImageHosting };
  state.files.clear();
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
  state: State,
  options: OpenAiEmulatorOptions,
  stopping: AbortSignal,
): Promise<void> {
  const method = req.method ?? 'GET';
  const path = pathOf(req.url);
  // The client going away ends the work on its request, as stopping the emulator does.
  const gone = new AbortController();
  const ended = AbortSignal.any([stopping, gone.signal]);
  /** Closed by the emulator itself (a reset), not by the client. */
  let dropped = false;
  try {
    const raw = await readBody(req);
    if (path.startsWith('/_emulator/')) {
      handleControl(method, path, raw, state, res);
      return;
    }
    const parsed = parseJson(raw);
    const record: RecordedRequest = {
      method,
      path,
      body: parsed.ok ? parsed.value : raw,
      receivedAt: new Date().toISOString(),
      authorization: req.headers.authorization ? 'present' : 'absent',
      aborted: false,
    };
    state.requests.push(record);
    res.once('close', () => {
      if (!res.writableFinished && !dropped && !stopping.aborted) {
        record.aborted = true;
        options.onLog?.(`${method} ${path} → closed by the client before the answer`);
      }
      gone.abort();
    });
    if (method === 'GET' && path.startsWith(FILES_PATH)) {
      // A file store, not the model: no latency, no faults from the queue.
      const status = await serveFile(req, res, path, state, ended);
      options.onLog?.(`${method} ${path} → ${status}`);
      return;
    }
    if (state.latencyMs > 0) await sleep(state.latencyMs, undefined, { signal: ended });
    const answer = await handleApi(method, path, req.headers.authorization, parsed, raw, state, options);
    sendJson(res, 200, answer);
    options.onLog?.(`${method} ${path} → 200`);
  } catch (err) {
    if (ended.aborted) {
      res.destroy();
      return;
    }
    if (err instanceof TransportFailure) {
      if (err.fault.kind === 'reset') dropped = true;
      await misbehave(req, res, err.fault, ended);
      options.onLog?.(`${method} ${path} → ${err.fault.kind} (injected fault)`);
      return;
    }
    const error = err instanceof ApiError ? err : new ApiError(500, errorMessage(err), 'server_error');
    sendJson(res, error.status, errorBody(error), error.headers);
    options.onLog?.(`${method} ${path} → ${error.status} ${error.message}`);
  }
}

/** Breaks the exchange as the fault says; a stall lasts until the client or the emulator ends it. */
async function misbehave(req: IncomingMessage, res: ServerResponse, fault: TransportFault, ended: AbortSignal) {
  if (fault.kind === 'reset') {
    req.socket.resetAndDestroy();
    return;
  }
  if (fault.kind === 'html_error') {
    const page = proxyErrorPage(fault.status ?? 502);
    res.writeHead(fault.status ?? 502, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(page),
    });
    res.end(page);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"id": "chatcmpl-emu-stalled", ');
  const every = fault.trickleEveryMs;
  try {
    for (;;) {
      await sleep(every ?? 2 ** 31 - 1, undefined, { signal: ended });
      if (every !== undefined) res.write(' ');
    }
  } catch {
    res.destroy();
  }
}

/** A gateway's error page: long, styled, and nothing like OpenAI's JSON errors. */
function proxyErrorPage(status: number): string {
  const title = `${status} ${status === 502 ? 'Bad Gateway' : status === 503 ? 'Service Unavailable' : 'Error'}`;
  const filler = Array.from(
    { length: 40 },
    (_, i) =>
      `<p class="note">Trace line ${i + 1}: the upstream model server did not give a valid answer to the gateway.</p>`,
  ).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>body { font-family: sans-serif; margin: 4em; color: #333 } .note { color: #777; font-size: 0.8em }</style>
</head>
<body>
<h1>${title}</h1>
<p>The server encountered a temporary error and could not complete your request. Please try again in 30 seconds.</p>
${filler}
<hr><address>emulated-gateway/1.0 (injected fault)</address>
</body>
</html>
`;
}

function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://emulator').pathname;
  } catch {
    return url ?? '/';
  }
}

/** The body as text; too large a body is still read to the end so the answer reaches the client. */
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) {
    throw new ApiError(413, `Request body is larger than ${MAX_BODY_BYTES} bytes`, 'invalid_request_error');
  }
  return Buffer.concat(chunks).toString('utf8');
}

type Parsed = { ok: true; value: unknown } | { ok: false };

function parseJson(raw: string): Parsed {
  if (raw.trim() === '') return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function errorBody(error: ApiError) {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Control endpoints (for people poking the emulator by hand; never delayed, never recorded)

function handleControl(method: string, path: string, raw: string, state: State, res: ServerResponse): void {
  const route = `${method} ${path}`;
  if (route === 'GET /_emulator/requests') {
    sendJson(res, 200, state.requests);
    return;
  }
  if (route === 'POST /_emulator/reset') resetState(state);
  else if (route === 'POST /_emulator/faults') state.faults.push(...parseFaults(requireJson(raw)));
  else if (route === 'POST /_emulator/latency') state.latencyMs = parseLatency(requireJson(raw));
  else throw notFound(method, path);
  res.writeHead(204).end();
}

function requireJson(raw: string): unknown {
  const parsed = parseJson(raw);
  if (!parsed.ok) throw badRequest('The request body is not valid JSON');
  return parsed.value;
}

function parseFaults(body: unknown): Fault[] {
  if (!Array.isArray(body)) throw badRequest('Expected a JSON array of faults');
  return body.map((fault, i) => parseFault(fault, `[${i}]`));
}

function parseFault(value: unknown, where: string): Fault {
  const fault = isRecord(value) ? value : {};
  const kind = FAULT_KINDS.find((k) => k === fault.kind);
  if (!kind) throw badRequest(`Fault ${where} needs a kind, one of ${FAULT_KINDS.join(', ')}`, `${where}.kind`);
  if (kind === 'rate_limit') {
    const seconds = fault.retryAfterSeconds;
    if (seconds === undefined) return { kind };
    if (typeof seconds !== 'number' || !(seconds >= 0)) {
      throw badRequest(`Fault ${where}: retryAfterSeconds must be a number ≥ 0`, `${where}.retryAfterSeconds`);
    }
    return { kind, retryAfterSeconds: seconds };
  }
  if (kind === 'html_error' && fault.status !== undefined) {
    const status = fault.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
      throw badRequest(`Fault ${where}: status must be an HTTP error status (400 to 599)`, `${where}.status`);
    }
    return { kind, status };
  }
  if (kind === 'stall_after_headers' && fault.trickleEveryMs !== undefined) {
    const every = fault.trickleEveryMs;
    if (typeof every !== 'number' || !Number.isFinite(every) || every <= 0) {
      throw badRequest(`Fault ${where}: trickleEveryMs must be a number > 0`, `${where}.trickleEveryMs`);
    }
    return { kind, trickleEveryMs: every };
  }
  if (kind === 'bad_request' && fault.message !== undefined) {
    if (typeof fault.message !== 'string') throw badRequest(`Fault ${where}: message must be a string`);
    return { kind, message: fault.message };
  }
  return { kind } as Fault;
}

function parseLatency(body: unknown): number {
  const ms = isRecord(body) ? body.ms : undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw badRequest('Expected { "ms": <milliseconds ≥ 0> }', 'ms');
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------
// API endpoints

type ApiRoute = { faulty: boolean; answer: (body: unknown, shape: AnswerShape | undefined, state: State) => unknown };

const API_ROUTES: Record<string, ApiRoute> = {
  'GET /v1/models': { faulty: false, answer: listModels },
  'POST /v1/chat/completions': { faulty: true, answer: chatCompletion },
  'POST /v1/images/generations': {
    faulty: true,
    answer: (body, shape, state) => imageGeneration(body, shape !== undefined, state),
  },
};

async function handleApi(
  method: string,
  path: string,
  authorization: string | undefined,
  parsed: Parsed,
  raw: string,
  state: State,
  options: OpenAiEmulatorOptions,
): Promise<unknown> {
  const route = API_ROUTES[`${method} ${path}`];
  if (!route) throw notFound(method, path);
  // A request without the key never reaches the "model", so it leaves the fault queue alone.
  if (options.apiKey !== undefined) checkApiKey(authorization, options.apiKey);
  const fault = route.faulty ? state.faults.shift() : undefined;
  if (fault && TRANSPORT_FAULTS.includes(fault.kind)) throw new TransportFailure(fault as TransportFault);
  const shape = fault && ANSWER_SHAPES.includes(fault.kind) ? (fault.kind as AnswerShape) : undefined;
  if (fault && !shape) throw faultError(fault as Exclude<Fault, { kind: AnswerShape } | TransportFault>);
  if (!parsed.ok) throw badRequest(`The request body is not valid JSON: ${raw.slice(0, 80)}`);
  return route.answer(parsed.value, shape, state);
}

function notFound(method: string, path: string): ApiError {
  return new ApiError(404, `Unknown request URL: ${method} ${path}`, 'invalid_request_error', null, 'unknown_url');
}

function checkApiKey(authorization: string | undefined, apiKey: string): void {
  if (authorization === `Bearer ${apiKey}`) return;
  const message = authorization
    ? 'Incorrect API key provided.'
    : "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.";
  throw new ApiError(401, message, 'invalid_api_key', null, 'invalid_api_key');
}

function faultError(fault: Exclude<Fault, { kind: AnswerShape } | TransportFault>): ApiError {
  switch (fault.kind) {
    case 'quota':
      return new ApiError(
        429,
        'You exceeded your current quota, please check your plan and billing details (injected fault).',
        'insufficient_quota',
        null,
        'insufficient_quota',
      );
    case 'rate_limit': {
      const seconds = fault.retryAfterSeconds ?? 1;
      return new ApiError(
        429,
        `Rate limit reached (injected fault). Please try again in ${seconds}s.`,
        'rate_limit_exceeded',
        null,
        'rate_limit_exceeded',
        { 'retry-after': String(seconds) },
      );
    }
    case 'server_error':
      return new ApiError(
        500,
        'The server had an error while processing your request (injected fault).',
        'server_error',
      );
    case 'bad_request':
      return badRequest(fault.message ?? 'Bad request (injected fault).');
  }
}

function listModels() {
  return {
    object: 'list',
    data: [{ id: EMULATOR_MODEL, object: 'model', created: nowSeconds(), owned_by: 'autopostpanel-emulator' }],
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// ---------------------------------------------------------------------------------------------
// Chat completions

interface ChatRequest {
  model: string;
  messages: Record<string, unknown>[];
  responseFormat: Record<string, unknown> | undefined;
}

function chatCompletion(body: unknown, shape: AnswerShape | undefined, state: State) {
  const request = parseChatRequest(body);
  const prompt = readPrompt(request.messages);
  if (!state.structuredOutputs && request.responseFormat?.type === 'json_schema') {
    throw badRequest("response_format type 'json_schema' is not supported by this model", 'response_format');
  }
  const full = answerContent(request.responseFormat, prompt, request.messages);
  // Valid JSON, wrong shape: what a model that ignored the schema would send.
  const content =
    shape === 'malformed'
      ? JSON.stringify({ unexpected: true })
      : shape === 'truncated'
        ? full.slice(0, Math.floor(full.length / 2))
        : shape === 'filtered'
          ? null
          : full;
  const promptTokens = tokens(request.messages.map((m) => messageText(m)).join('\n'));
  const completionTokens = tokens(content ?? '');
  state.completions += 1;
  return {
    id: `chatcmpl-emu-${state.completions}`,
    object: 'chat.completion',
    created: nowSeconds(),
    model: request.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        finish_reason: shape === 'truncated' ? 'length' : shape === 'filtered' ? 'content_filter' : 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

const tokens = (text: string) => Math.max(1, Math.round(text.length / 4));

function parseChatRequest(body: unknown): ChatRequest {
  if (!isRecord(body)) throw badRequest('The request body must be a JSON object');
  if (typeof body.model !== 'string' || body.model === '') {
    throw badRequest("Missing required parameter: 'model'.", 'model');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw badRequest("Missing required parameter: 'messages' (a non-empty array).", 'messages');
  }
  body.messages.forEach((message, i) => {
    if (!isRecord(message) || typeof message.role !== 'string') {
      throw badRequest(`Invalid message at messages[${i}]: expected an object with a role.`, `messages[${i}]`);
    }
  });
  if (body.stream === true) {
    throw badRequest('The emulator does not support streaming; leave out `stream`.', 'stream');
  }
  return {
    model: body.model,
    messages: body.messages as Record<string, unknown>[],
    responseFormat: parseResponseFormat(body.response_format),
  };
}

function parseResponseFormat(format: unknown): Record<string, unknown> | undefined {
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format) || !['text', 'json_object', 'json_schema'].includes(String(format.type))) {
    throw badRequest("response_format.type must be 'text', 'json_object' or 'json_schema'.", 'response_format.type');
  }
  if (format.type === 'json_schema') {
    const spec = format.json_schema;
    if (!isRecord(spec) || typeof spec.name !== 'string') {
      throw badRequest("response_format.json_schema needs a 'name'.", 'response_format.json_schema.name');
    }
    if (spec.schema !== undefined && !isRecord(spec.schema)) {
      throw badRequest('response_format.json_schema.schema must be an object.', 'response_format.json_schema.schema');
    }
  }
  return format;
}

/** What the app's prompt says, line by line (`Topic: …`, `Feedback: …`), so answers echo the brief. */
export interface PromptFacts {
  topic: string;
  tone?: string;
  audience?: string;
  language?: string;
  feedback?: string;
}

const PROMPT_LINE = /^\s*(topic|tone|audience|language|feedback)\s*:\s*(.*?)\s*$/i;

function readPrompt(messages: Record<string, unknown>[]): PromptFacts {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const text = lastUser ? messageText(lastUser) : '';
  const facts: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = PROMPT_LINE.exec(line);
    // YouTube refuses "<" and ">" in titles and descriptions; a model told so would leave them out.
    const value = match?.[2]?.replace(/[<>]/g, '').trim();
    if (match?.[1] && value) facts[match[1].toLowerCase()] ??= value;
  }
  const firstLine = text.split('\n').find((line) => line.trim() !== '') ?? '';
  const topic = facts.topic ?? (truncateChars(firstLine.replace(/[<>]/g, '').trim(), 80) || 'your post');
  return { ...facts, topic };
}

/** Text of a message whose content is a string or an array of `{ type: 'text', text }` parts. */
function messageText(message: Record<string, unknown>): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .filter((part) => part !== '')
    .join('\n');
}

function answerContent(
  format: Record<string, unknown> | undefined,
  prompt: PromptFacts,
  messages: Record<string, unknown>[],
): string {
  if (format?.type === 'json_schema') {
    const spec = format.json_schema as Record<string, unknown>;
    return JSON.stringify(valueFromSchema(spec.schema ?? { type: 'object' }, prompt));
  }
  if (format?.type === 'json_object') {
    const text = messages.map((m) => messageText(m)).join('\n');
    const at = text.lastIndexOf(JSON_SCHEMA_PROMPT);
    if (at >= 0) {
      try {
        return JSON.stringify(valueFromSchema(JSON.parse(text.slice(at + JSON_SCHEMA_PROMPT.length)), prompt));
      } catch {
        // Not a schema after all: answer as a plain json_object request.
      }
    }
  }
  const reply = plainReply(prompt);
  return format?.type === 'json_object' ? JSON.stringify({ reply }) : reply;
}

function plainReply(prompt: PromptFacts): string {
  const revised = prompt.feedback ? ` (revised: ${prompt.feedback})` : '';
  return `Emulated reply about "${prompt.topic}"${revised}.`;
}

// ---------------------------------------------------------------------------------------------
// Values from a JSON schema

type Schema = Record<string, unknown>;

interface Walk {
  root: Schema;
  prompt: PromptFacts;
  depth: number;
}

/** A value satisfying `schema`, with strings written from the prompt's topic, tone and feedback. */
export function valueFromSchema(schema: unknown, prompt: PromptFacts): unknown {
  const root = isRecord(schema) ? schema : {};
  return generate(root, { root, prompt, depth: 0 }, '');
}

function generate(input: unknown, walk: Walk, name: string, index?: number): unknown {
  if (walk.depth > MAX_SCHEMA_DEPTH * 2) return null;
  const schema = resolveRefs(isRecord(input) ? input : {}, walk.root);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0)
    return schema.enum.find((v) => v !== null) ?? schema.enum[0];
  const branch = firstNonNullBranch(schema.anyOf) ?? firstNonNullBranch(schema.oneOf);
  if (branch) return generate(branch, walk, name, index);
  const merged = mergeAllOf(schema, walk.root);
  if (merged !== schema) return generate(merged, walk, name, index);
  const deeper = { ...walk, depth: walk.depth + 1 };
  switch (typeOf(schema)) {
    case 'object':
      return objectFor(schema, deeper);
    case 'array':
      return arrayFor(schema, deeper, name);
    case 'integer':
      return numberFor(schema, true);
    case 'number':
      return numberFor(schema, false);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return stringFor(schema, walk.prompt, name, index);
  }
}

/** Follows `$ref`s to `#`, `#/$defs/…` or `#/definitions/…`; an unresolvable one reads as `{}`. */
function resolveRefs(schema: Schema, root: Schema): Schema {
  let current = schema;
  for (let hops = 0; typeof current.$ref === 'string' && hops < 32; hops++) {
    const { $ref, ...siblings } = current;
    current = { ...siblings, ...lookUp(root, $ref as string) };
  }
  return current;
}

function lookUp(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#')) return {};
  let node: unknown = root;
  for (const raw of ref
    .slice(1)
    .split('/')
    .filter((part) => part !== '')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isRecord(node) ? node[key] : undefined;
  }
  return isRecord(node) ? node : {};
}

function firstNonNullBranch(branches: unknown): Schema | undefined {
  if (!Array.isArray(branches)) return undefined;
  const records = branches.filter(isRecord);
  return records.find((b) => b.type !== 'null' && !('const' in b && b.const === null)) ?? records[0];
}

function mergeAllOf(schema: Schema, root: Schema): Schema {
  if (!Array.isArray(schema.allOf)) return schema;
  const { allOf, ...rest } = schema;
  const merged: Schema = { ...rest };
  for (const part of (allOf as unknown[]).filter(isRecord)) Object.assign(merged, resolveRefs(part, root));
  return merged;
}

function typeOf(schema: Schema): string {
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== 'null') ?? schema.type[0]) : schema.type;
  if (typeof type === 'string') return type;
  if (isRecord(schema.properties)) return 'object';
  if (schema.items !== undefined || schema.prefixItems !== undefined) return 'array';
  return 'string';
}

function objectFor(schema: Schema, walk: Walk): Record<string, unknown> {
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : [];
  // Past the depth limit only required properties are filled, which ends recursive schemas.
  const names = walk.depth > MAX_SCHEMA_DEPTH ? required : [...new Set([...Object.keys(properties), ...required])];
  const value: Record<string, unknown> = {};
  for (const name of names) value[name] = generate(properties[name] ?? {}, walk, name);
  return value;
}

function arrayFor(schema: Schema, walk: Walk, name: string): unknown[] {
  const min = finite(schema.minItems) ?? 0;
  const max = finite(schema.maxItems) ?? Number.POSITIVE_INFINITY;
  const wanted = walk.depth > MAX_SCHEMA_DEPTH ? min : Math.max(min, Math.min(max, DEFAULT_ARRAY_ITEMS));
  // Draft 2020-12 spells tuples `prefixItems`, draft 7 an array under `items`.
  const prefix = Array.isArray(schema.prefixItems)
    ? schema.prefixItems
    : Array.isArray(schema.items)
      ? schema.items
      : [];
  const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
  return Array.from({ length: wanted }, (_, i) =>
    generate(i < prefix.length ? prefix[i] : (rest ?? {}), walk, name, i),
  );
}

function numberFor(schema: Schema, integer: boolean): number {
  const minimum = finite(schema.minimum);
  const exclusive = finite(schema.exclusiveMinimum);
  const maximum = finite(schema.maximum);
  let value = minimum ?? (exclusive !== undefined ? exclusive + 1 : 0);
  if (maximum !== undefined && value > maximum) value = maximum;
  return integer ? Math.ceil(value) : value;
}

const finite = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

const FORMATS: Record<string, () => string> = {
  'date-time': () => new Date().toISOString(),
  date: () => new Date().toISOString().slice(0, 10),
  email: () => 'emulator@example.com',
  uri: () => 'https://example.com/emulator',
  url: () => 'https://example.com/emulator',
  uuid: () => '00000000-0000-4000-8000-000000000000',
};

function stringFor(schema: Schema, prompt: PromptFacts, name: string, index?: number): string {
  const max = finite(schema.maxLength) ?? Number.POSITIVE_INFINITY;
  const min = finite(schema.minLength) ?? 0;
  const format = typeof schema.format === 'string' ? FORMATS[schema.format] : undefined;
  let text: string;
  if (format) text = format();
  else if (/hashtag/i.test(name)) text = hashtagText(prompt.topic, index);
  else text = composeText(prompt, name, index, max);
  text = padTo(truncateChars(text, max).trimEnd(), Math.min(min, max));
  return /description/i.test(name) ? truncateBytes(text, DESCRIPTION_MAX_BYTES) : text;
}

/** `#word` from the topic: one per array item, or three in a row for a single string. */
function hashtagText(topic: string, index: number | undefined): string {
  const words = [
    ...new Set(
      topic
        .toLowerCase()
        .split(/[^\p{L}\p{N}]+/u)
        .filter((w) => w !== ''),
    ),
  ];
  const pool = words.length > 0 ? words : ['emulator'];
  const tag = (i: number) => `#${pool[i % pool.length]}${i >= pool.length ? i + 1 : ''}`;
  return index === undefined
    ? pool
        .slice(0, 3)
        .map((_, i) => tag(i))
        .join(' ')
    : tag(index);
}

/**
 * "<Topic> — <name in words>", with tone and audience in fields long enough to read like a post,
 * then the revision note when there is feedback. The note wins over the end of the label when
 * space is short, so a revision is visible in every field that can hold it.
 */
function composeText(prompt: PromptFacts, name: string, index: number | undefined, max: number): string {
  const label = `${prompt.topic} — ${nameInWords(name)}${index === undefined ? '' : ` ${index + 1}`}`;
  const detail = max >= 200 ? detailSentence(prompt) : undefined;
  const body = detail ? `${label}. ${detail}` : label;
  if (!prompt.feedback) return body;
  const note = `(revised: ${prompt.feedback})`;
  for (const text of [body, label]) if (text.length + 1 + note.length <= max) return `${text} ${note}`;
  const room = max - note.length - 1;
  return room >= Math.min(label.length, 10) ? `${truncateChars(label, room).trimEnd()} ${note}` : label;
}

function detailSentence(prompt: PromptFacts): string | undefined {
  const tone = prompt.tone ? ` in a ${prompt.tone} tone` : '';
  const audience = prompt.audience ? ` for ${prompt.audience}` : '';
  return tone || audience ? `Written${tone}${audience}.` : undefined;
}

function nameInWords(name: string): string {
  const words = name
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase());
  return words.length > 0 ? words.join(' ') : 'reply';
}

function padTo(text: string, min: number): string {
  const length = [...text].length;
  return length >= min ? text : text + '.'.repeat(min - length);
}

/** Cuts at a character (code point) count, never inside a surrogate pair. */
function truncateChars(text: string, max: number): string {
  if (text.length <= max) return text;
  return Array.from(text).slice(0, Math.max(0, max)).join('');
}

function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let out = '';
  for (const char of text) {
    bytes += Buffer.byteLength(char);
    if (bytes > maxBytes) break;
    out += char;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Image generations

async function imageGeneration(body: unknown, malformed: boolean, state: State) {
  const request = parseImageRequest(body);
  // An answer the app must reject: a success status with no image in it.
  if (malformed) return { created: nowSeconds(), data: [] };
  const asLink = (request.responseFormat ?? state.imageHosting.answer) === 'url';
  const format = asLink && state.imageHosting.serve !== 'html' ? state.imageHosting.serve : 'png';
  const images = await Promise.all(
    Array.from({ length: request.n }, (_, i) =>
      renderImage(request.width, request.height, `${request.prompt}#${i}`, format),
    ),
  );
  return {
    created: nowSeconds(),
    data: images.map((image) =>
      asLink
        ? { url: hostImage(state, image, format), revised_prompt: request.prompt }
        : { b64_json: image.toString('base64'), revised_prompt: request.prompt },
    ),
  };
}

function parseImageRequest(body: unknown) {
  if (!isRecord(body)) throw badRequest('The request body must be a JSON object');
  if (typeof body.prompt !== 'string' || body.prompt.trim() === '') {
    throw badRequest("Missing required parameter: 'prompt'.", 'prompt');
  }
  const format = body.response_format;
  if (format !== undefined && format !== null && format !== 'b64_json' && format !== 'url') {
    throw badRequest("response_format must be 'url' or 'b64_json'.", 'response_format');
  }
  const n = body.n ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_IMAGES) {
    throw badRequest(`n must be an integer from 1 to ${MAX_IMAGES}.`, 'n');
  }
  return {
    prompt: body.prompt,
    n,
    responseFormat: (format ?? undefined) as 'url' | 'b64_json' | undefined,
    ...parseSize(body.size),
  };
}

function parseSize(size: unknown): { width: number; height: number } {
  if (size === undefined || size === null || size === 'auto') return { width: 1024, height: 1024 };
  const match = typeof size === 'string' ? /^(\d{1,5})x(\d{1,5})$/.exec(size) : null;
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  const fits = (side: number) => side >= 1 && side <= MAX_IMAGE_SIDE;
  if (!match || !fits(width) || !fits(height)) {
    throw badRequest(`size must look like '1024x1024', each side from 1 to ${MAX_IMAGE_SIDE}.`, 'size');
  }
  return { width, height };
}

/** A solid image whose colour comes from the prompt, so different prompts give visibly different images. */
function renderImage(width: number, height: number, seed: string, format: 'png' | 'jpeg' | 'webp'): Promise<Buffer> {
  const [r = 0, g = 0, b = 0] = createHash('sha256').update(seed).digest();
  const image = sharp({ create: { width, height, channels: 3, background: { r, g, b } } });
  return (format === 'jpeg' ? image.jpeg() : format === 'webp' ? image.webp() : image.png()).toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Image links: a small signed file store, like the Azure blob SAS URLs OpenAI's images come from

const FILES_PATH = '/files/';

const CONTENT_TYPES = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

const SIGN_IN_PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to continue</title></head>
<body><h1>Sign in to continue</h1><p>This file is only shared with members of the workspace.</p></body></html>
`;

/** Keeps the image (or the page served in its place) and answers with its signed link. */
function hostImage(state: State, image: Buffer, format: 'png' | 'jpeg' | 'webp'): string {
  const html = state.imageHosting.serve === 'html';
  const name = `img-${randomBytes(8).toString('hex')}.${format === 'jpeg' ? 'jpg' : format}`;
  state.files.set(name, {
    bytes: html ? Buffer.from(SIGN_IN_PAGE) : image,
    contentType: html ? 'text/html; charset=utf-8' : CONTENT_TYPES[format],
    stall: state.imageHosting.stallDownloads,
  });
  for (const oldest of state.files.keys()) {
    if (state.files.size <= MAX_HOSTED_FILES) break;
    state.files.delete(oldest);
  }
  const expires = new Date(Date.now() + LINK_TTL_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const query = new URLSearchParams({ sp: 'r', se: expires, sig: linkSignature(state, name, expires) });
  return `${state.origin}${FILES_PATH}${name}?${query}`;
}

function linkSignature(state: State, name: string, expires: string): string {
  return createHmac('sha256', state.linkKey).update(`${name}\n${expires}`).digest('base64');
}

/** Serves a hosted image to a request whose signature holds; the answer's status is returned. */
async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  state: State,
  ended: AbortSignal,
): Promise<number> {
  const name = path.slice(FILES_PATH.length);
  const query = new URL(req.url ?? '/', 'http://emulator').searchParams;
  const file = state.files.get(name);
  const expires = query.get('se') ?? '';
  const given = Buffer.from(query.get('sig') ?? '');
  const wanted = Buffer.from(linkSignature(state, name, expires));
  const signed = given.length === wanted.length && timingSafeEqual(given, wanted);
  const status = !signed || !(Date.parse(expires) > Date.now()) ? 403 : file ? 200 : 404;
  if (status !== 200 || !file) {
    const [code, message] =
      status === 403
        ? ['AuthenticationFailed', 'Signature did not match, or the link has expired.']
        : ['BlobNotFound', 'The specified blob does not exist.'];
    const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
    return status;
  }
  if (!file.stall) {
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length }).end(file.bytes);
    return 200;
  }
  res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length });
  res.write(file.bytes.subarray(0, Math.min(file.bytes.length - 1, 256)));
  try {
    await sleep(2 ** 31 - 1, undefined, { signal: ended });
  } catch {
    res.destroy();
  }
  return 200;
}
