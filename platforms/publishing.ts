import type { Platform } from './connector.js';
import { scrubAll } from './http.js';
import { parsePlatformJson } from './platform-json.js';
import { type HttpAnswer, PublishError } from './publish-errors.js';
import { ConnectionLost, type Progress } from './upload-source.js';

/**
 * Publishing as a sequence of steps (prepare, upload, commit, poll) over a journal. Every handle a
 * platform gives back is recorded before the next call that depends on it, and every call whose
 * effect cannot be undone is announced in the journal before it is sent. A resumed run reads the
 * journal and continues: it asks the platform where an upload or a container stands, and where the
 * platform offers no way to ask, it ends as "outcome unknown" instead of posting a second time.
 */

export type JournalValue = string | number | boolean | null | string[];
export type Journal = Record<string, JournalValue | undefined>;

/**
 * Journal key: true from the moment the platform may hold something that publishes (the call that
 * publishes was sent, even if its answer was lost) until the platform's own verdict ends it (it
 * answered that call with an error, or says the video failed, was rejected or deleted). A refusal
 * while it is true keeps the journal, so a person's retry resumes and asks the platform instead of
 * sending a second copy; a refusal while it is false lets the retry start afresh.
 */
export const COMMITTED = 'committed';

/** Whether a journal holds something the platform may publish (see COMMITTED). */
export function committedToPlatform(journal: Record<string, unknown> | null | undefined): boolean {
  return journal?.[COMMITTED] === true;
}

/** Persisted by the caller (the publication row); `record` must be durable when it returns. */
export interface PublishJournal {
  get(): Promise<Journal>;
  record(patch: Journal): Promise<void>;
}

/** For tests of the publishing core: a journal in memory, which can be told to fail (a crash). */
export function memoryJournal(initial: Journal = {}) {
  const state: Journal = { ...initial };
  const journal = {
    state,
    /** Throws on the write whose patch has this key (or matches), storing nothing: a kill between steps. */
    crashOn: undefined as string | ((patch: Journal) => boolean) | undefined,
    async get() {
      return { ...state };
    },
    async record(patch: Journal) {
      const crash = journal.crashOn;
      if (crash && (typeof crash === 'string' ? crash in patch : crash(patch))) {
        journal.crashOn = undefined;
        throw new Error(`journal write of ${Object.keys(patch).join(', ')} failed (simulated crash)`);
      }
      Object.assign(state, patch);
    },
  };
  return journal;
}

/** The connection's tokens: refresh goes through the connection (and persists the new token). */
export interface Credentials {
  accessToken(): Promise<string>;
  refresh(): Promise<string>;
}

/** A platform's own pace of status checks, where its contract names one. */
export interface PollPace {
  intervalMs?: number;
  maxPolls?: number;
}

export interface PublishContext {
  journal: PublishJournal;
  credentials: Credentials;
  onProgress?: Progress;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Waits until one more call to a per-token limited endpoint fits (`budget` names the endpoint and
   * the token), counted across every worker. Without it such calls are not paced.
   */
  pace?: (budget: string, perMinute: number) => Promise<void>;
  /** Longest wait a run takes by itself; longer ones are thrown for the caller to schedule. */
  maxWaitMs?: number;
  /** Pause between status polls. */
  pollIntervalMs?: number;
  maxPolls?: number;
  /** Attempts for a call that failed transiently before the error is thrown. */
  attempts?: number;
  timeoutMs?: number;
}

export type PublishResult =
  | { status: 'published'; postId: string | null; url: string | null; note?: string }
  | { status: 'unknown'; reason: string };

export type StepName = 'prepare' | 'upload' | 'commit' | 'poll';

export interface PublishStep {
  name: StepName;
  run(run: PublishRun): Promise<void>;
}

export interface PlatformPublisher<Input> {
  platform: Platform;
  steps(input: Input): PublishStep[];
}

export interface JsonRequest {
  what: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  form?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** How the token travels: `Bearer`, `OAuth` (Meta's upload hosts), `param` (access_token=) or not at all. */
  auth: 'bearer' | 'oauth' | 'param' | 'none';
  token?: string;
}

export class PublishRun {
  journal: Journal = {};
  result: PublishResult | undefined;
  /** Every token this run sent: none of them may come back in an answer (Graph echoes a malformed one). */
  private readonly tokens = new Set<string>();
  constructor(
    readonly ctx: PublishContext,
    readonly platform: Platform,
  ) {}

  async load(): Promise<void> {
    this.journal = await this.ctx.journal.get();
  }

  /** Durable before it returns; the in-memory view follows only after the write succeeded. */
  async record(patch: Journal): Promise<void> {
    await this.ctx.journal.record(patch);
    Object.assign(this.journal, patch);
  }

  /** Records `patch` with the crossing of the point of no return, before the call that crosses it. */
  async commit(patch: Journal = {}): Promise<void> {
    await this.record({ ...patch, [COMMITTED]: true });
  }

  /** Records `patch` with the platform's word that nothing it holds of this journal can publish any more. */
  async uncommit(patch: Journal = {}): Promise<void> {
    await this.record({ ...patch, [COMMITTED]: false });
  }

  /** The tokens this run has used, for a byte upload's answer to be cleaned of (`sendBytes` `secrets`). */
  secrets(): string[] {
    return [...this.tokens];
  }

  async published(postId: string | null, url: string | null, note?: string): Promise<void> {
    await this.record({ outcome: 'published', postId, url, ...(note ? { note } : {}) });
    this.result = { status: 'published', postId, url, ...(note ? { note } : {}) };
  }

  async unknown(reason: string): Promise<void> {
    await this.record({ outcome: 'unknown', unknownReason: reason });
    this.result = { status: 'unknown', reason };
  }

  sleep(ms: number): Promise<void> {
    return (this.ctx.sleep ?? ((t: number) => new Promise<void>((r) => setTimeout(r, t))))(ms);
  }

  /** One HTTP call with a JSON (or empty) answer; a network failure is a PublishError of kind `lost`. */
  async send(req: JsonRequest): Promise<HttpAnswer> {
    const url = new URL(req.url);
    if (req.token) this.tokens.add(req.token);
    const headers: Record<string, string> = { accept: 'application/json', ...(req.headers ?? {}) };
    const form = req.form ? { ...req.form } : undefined;
    if (req.auth === 'bearer') headers.authorization = `Bearer ${req.token}`;
    if (req.auth === 'oauth') headers.authorization = `OAuth ${req.token}`;
    const query = { ...(req.query ?? {}) };
    if (req.auth === 'param') {
      if (form) form.access_token = req.token;
      else query.access_token = req.token;
    }
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    let body: string | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json; charset=UTF-8';
      body = JSON.stringify(req.json);
    } else if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) if (v !== undefined) params.set(k, String(v));
      body = params.toString();
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: req.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.ctx.timeoutMs ?? 60_000),
      });
      text = await response.text();
    } catch (err) {
      // The URL may carry a token: never echo it.
      if (neverSent(err)) {
        // No connection was made, so the platform cannot have acted on it: safe to send again.
        throw new PublishError(this.platform, 'transient', `${req.what}: could not reach ${url.host}`);
      }
      throw new PublishError(this.platform, 'lost', `${req.what}: the connection failed before an answer came`);
    }
    let parsed: unknown = null;
    try {
      parsed = text.trim() === '' ? null : parsePlatformJson(text);
    } catch {
      parsed = text;
    }
    // Cleaned before any error is built from it: an error's words reach attempt rows, logs and the API.
    return { status: response.status, headers: response.headers, body: scrubAll(parsed, this.secrets()) };
  }

  /** Runs `call` with the access token; an expired token is refreshed once through the connection. */
  async authed<T>(call: (token: string) => Promise<T>): Promise<T> {
    const token = await this.ctx.credentials.accessToken();
    this.tokens.add(token);
    try {
      return await call(token);
    } catch (err) {
      if (!(err instanceof PublishError) || err.kind !== 'token_expired') throw err;
    }
    const fresh = await this.ctx.credentials.refresh();
    this.tokens.add(fresh);
    try {
      return await call(fresh);
    } catch (err) {
      if (err instanceof PublishError && err.kind === 'token_expired') {
        throw new PublishError(
          this.platform,
          'needs_reconnect',
          `${err.message}; a refreshed token was refused too, so the account must be connected again`,
          err.details,
        );
      }
      throw err;
    }
  }

  /**
   * Retries what the platform says to retry: rate limits after the wait it asks for (when that
   * wait is short enough to take here), transient failures with exponential backoff. A lost answer
   * is retried only for calls that are safe to repeat.
   */
  async retrying<T>(call: () => Promise<T>, options: { idempotent: boolean }): Promise<T> {
    const attempts = this.ctx.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const lost = err instanceof ConnectionLost || (err instanceof PublishError && err.kind === 'lost');
        if (!(err instanceof PublishError) && !lost) throw err;
        if (attempt >= attempts) throw err;
        if (err instanceof PublishError && err.kind === 'rate_limited') {
          const wait = err.retryAfterMs ?? 60_000;
          if (wait > (this.ctx.maxWaitMs ?? 120_000)) throw err;
          await this.sleep(wait);
          continue;
        }
        const again =
          (err instanceof PublishError && err.kind === 'transient' && !err.details.notAsIs) ||
          (lost && options.idempotent);
        if (!again) throw err;
        await this.sleep(Math.min(2 ** (attempt - 1) * 250, 8000) * (0.5 + Math.random() / 2));
      }
    }
  }

  /**
   * Asks `check` until it returns a value; each answer of undefined waits one poll interval. A
   * platform with its own pace (`intervalMs`, `maxPolls`) passes it; else the context's applies.
   */
  async poll<T>(what: string, check: () => Promise<T | undefined>): Promise<T>;
  async poll<T>(what: string, pace: PollPace, check: () => Promise<T | undefined>): Promise<T>;
  async poll<T>(
    what: string,
    paceOrCheck: PollPace | (() => Promise<T | undefined>),
    maybeCheck?: () => Promise<T | undefined>,
  ): Promise<T> {
    const pace = typeof paceOrCheck === 'function' ? {} : paceOrCheck;
    const check = typeof paceOrCheck === 'function' ? paceOrCheck : maybeCheck!;
    const max = pace.maxPolls ?? this.ctx.maxPolls ?? 60;
    for (let i = 0; i < max; i++) {
      const value = await check();
      if (value !== undefined) return value;
      await this.sleep(pace.intervalMs ?? this.ctx.pollIntervalMs ?? 5000);
    }
    throw new PublishError(this.platform, 'transient', `${what} was still processing after ${max} checks`);
  }

  progress(sent: number, total: number): void {
    this.ctx.onProgress?.(sent, total);
  }
}

/** Runs a publisher's steps over the journal; a finished journal returns its recorded result at once. */
export async function publish<Input>(
  publisher: PlatformPublisher<Input>,
  input: Input,
  ctx: PublishContext,
): Promise<PublishResult> {
  const run = new PublishRun(ctx, publisher.platform);
  await run.load();
  const recorded = recordedResult(run.journal);
  if (recorded) return recorded;
  for (const step of publisher.steps(input)) {
    await step.run(run);
    if (run.result) return run.result;
  }
  throw new PublishError(publisher.platform, 'transient', 'publishing ended without a result');
}

export function recordedResult(journal: Journal): PublishResult | undefined {
  if (journal.outcome === 'published') {
    return {
      status: 'published',
      postId: typeof journal.postId === 'string' ? journal.postId : null,
      url: typeof journal.url === 'string' ? journal.url : null,
      ...(typeof journal.note === 'string' ? { note: journal.note } : {}),
    };
  }
  if (journal.outcome === 'unknown') {
    return { status: 'unknown', reason: String(journal.unknownReason ?? 'the outcome is unknown') };
  }
  return undefined;
}

export const UNKNOWN_CHECK = 'check the account: if the post is not there, retry it';

/** Failures before any byte reached the platform (no such host, refused, unreachable). */
const NOT_SENT = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH']);

function neverSent(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT.has(code)) return true;
  }
  return false;
}
