import OpenAI from 'openai';
import { AI_IMAGE_SIZE, AI_REQUEST_TIMEOUT_MS, LIMITS } from '../domain/drafts.js';
import { JSON_SCHEMA_PROMPT, structuredOutputSchema } from './draft-schemas.js';
import { bodyInWords, capText, connectionFailureInWords, endpointHost, withoutSecrets } from './endpoint-errors.js';
import type { DraftGenerator, DraftRequest } from './generator.js';
import { fetchImageLink, generatedImageType, ImageLinkError, type ImageLinkOptions } from './image-link.js';

/** A failure talking to the AI endpoint, already sorted into "try again" or "needs a person". */
export class AiRequestError extends Error {
  override name = 'AiRequestError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    /** The endpoint does not take `response_format: json_schema`; the schema can go in the prompt. */
    readonly refusesJsonSchema = false,
  ) {
    super(message);
  }
}

/** The endpoint answered, but not with drafts of the requested shape. */
export class MalformedAiOutput extends Error {
  override name = 'MalformedAiOutput';
}

const SYSTEM_PROMPT = `You write social media drafts for AutoPostPanel.
Answer only with JSON matching the given schema: one draft per target key.
Respect every platform limit exactly:
- youtube: title at most ${LIMITS.youtubeTitleChars} characters with no "<" or ">", description at most ${LIMITS.youtubeDescriptionBytes} bytes, at most ${LIMITS.youtubeTags} tags, and a script for the video;
- tiktok: caption at most ${LIMITS.tiktokCaptionChars} characters, and a script for the video;
- instagram: caption at most ${LIMITS.instagramCaptionChars} characters with at most ${LIMITS.instagramHashtags} hashtags;
- facebook: a message; generic: a caption.
Write in the requested language and tone, for the requested audience.`;

export function buildPrompt(request: DraftRequest): string {
  const { brief } = request;
  const lines = [`Topic: ${brief.topic}`, `Language: ${brief.language}`];
  if (brief.tone) lines.push(`Tone: ${brief.tone}`);
  if (brief.audience) lines.push(`Audience: ${brief.audience}`);
  lines.push(`Targets: ${request.targets.map((t) => `${t.key} (${t.format})`).join(', ')}`);
  if (request.sourceMedia?.length) lines.push(`Source media: ${request.sourceMedia.join('; ')}`);
  if (brief.earlierInSeries?.length) {
    lines.push(`Earlier posts in this series (say something new): ${JSON.stringify(brief.earlierInSeries)}`);
  }
  if (request.feedback) {
    lines.push(`Feedback: ${request.feedback}`);
    lines.push(`Previous drafts: ${JSON.stringify(request.previous ?? {})}`);
    lines.push('Revise the previous drafts to address the feedback.');
  }
  return lines.join('\n');
}

export interface OpenAiGeneratorOptions {
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  model: string;
  imageModel: string;
  /** For each request as a whole, its answer's body included; for an image, its download too. */
  timeoutMs?: number;
  /** Images answered with a link are fetched like URL imports (media/url-import.ts), under these limits. */
  imageLinks?: ImageLinkOptions;
}

/** What the error texts may name of the endpoint, and what they must not. */
interface Endpoint {
  host: string;
  timeoutMs: number;
  secrets: string[];
}

/** A request of the SDK, started with our signal, whose response we read ourselves. */
type Send = (requestOptions: { signal: AbortSignal }) => { asResponse(): Promise<Response> };

export function createOpenAiGenerator(options: OpenAiGeneratorOptions): DraftGenerator {
  const timeoutMs = options.timeoutMs ?? AI_REQUEST_TIMEOUT_MS;
  const client = new OpenAI({
    // Local OpenAI-compatible servers often need no key, but the SDK insists on one.
    apiKey: options.apiKey ?? 'not-needed',
    baseURL: options.baseURL,
    // Temporal retries instead, so each try is recorded and visible.
    maxRetries: 0,
    // Covers only the wait for the response's headers; `exchange` bounds the whole request.
    timeout: timeoutMs,
  });
  const address = safeUrl(client.baseURL);
  const endpoint: Endpoint = {
    host: endpointHost(client.baseURL),
    timeoutMs,
    secrets: [options.apiKey, address?.password, address?.username, address?.search.slice(1)].filter(
      (secret): secret is string => Boolean(secret),
    ),
  };

  /**
   * One request, ended by the caller's signal or by one deadline for all of it. The SDK stops its
   * timer once the headers arrive, so a body that stalls (or trickles whitespace) would otherwise
   * hold the attempt for the HTTP client's idle limit (five minutes between bytes), or for ever.
   */
  async function exchange(send: Send, cancel: AbortSignal | undefined): Promise<unknown> {
    cancel?.throwIfAborted();
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = cancel ? AbortSignal.any([cancel, deadline]) : deadline;
    let answering = false;
    let body: string;
    try {
      const response = await send({ signal }).asResponse();
      answering = true;
      body = await response.text();
    } catch (err) {
      // A cancelled caller gets its own reason back: a cancellation, not an endpoint failure.
      if (cancel?.aborted) throw cancel.reason;
      if (deadline.aborted) throw answering ? stalled(endpoint) : unanswered(endpoint);
      throw classify(err, endpoint);
    }
    if (body.trim() === '') throw new MalformedAiOutput('The AI endpoint answered with an empty body');
    try {
      return JSON.parse(body);
    } catch {
      throw new MalformedAiOutput(
        `The AI endpoint answered with something that is not JSON: ${bodyInWords(withoutSecrets(body, endpoint.secrets))}`,
      );
    }
  }

  /** False once the endpoint refused `json_schema`: the schema then goes in the prompt, with `json_object`. */
  let structuredOutputs = true;
  return {
    mode: 'ai',
    async draft(request, call) {
      const started = Date.now();
      const schema = structuredOutputSchema(request.targets);
      const ask = (json: 'schema' | 'object') =>
        exchange(
          (requestOptions) =>
            client.chat.completions.create(
              {
                model: options.model,
                messages: [
                  { role: 'system', content: SYSTEM_PROMPT },
                  {
                    role: 'user',
                    content:
                      json === 'schema'
                        ? buildPrompt(request)
                        : `${buildPrompt(request)}\n\n${JSON_SCHEMA_PROMPT}\n${JSON.stringify(schema)}`,
                  },
                ],
                response_format:
                  json === 'schema'
                    ? { type: 'json_schema', json_schema: { name: 'drafts', schema, strict: false } }
                    : { type: 'json_object' },
              },
              requestOptions,
            ),
          call?.signal,
        );
      let answer: unknown;
      if (structuredOutputs) {
        try {
          answer = await ask('schema');
        } catch (err) {
          if (!(err instanceof AiRequestError && err.refusesJsonSchema)) throw err;
          // Remembered for this worker's life: the endpoint takes JSON, not a schema for it.
          structuredOutputs = false;
          answer = await ask('object');
        }
      } else {
        answer = await ask('object');
      }
      if (!isRecord(answer) || !Array.isArray(answer.choices)) {
        throw new MalformedAiOutput('The AI endpoint answered with JSON that is not a chat completion');
      }
      const completion = answer as unknown as OpenAI.Chat.Completions.ChatCompletion;
      const choice = completion.choices[0];
      const message = choice?.message;
      if (message?.refusal)
        throw new AiRequestError(`The AI declined to write these drafts: ${capText(message.refusal)}`, false);
      if (choice?.finish_reason === 'content_filter') {
        // The same brief meets the same filter: final, in words.
        throw new AiRequestError(
          "The AI endpoint's content filter withheld the drafts; change the brief and try again",
          false,
        );
      }
      if (choice?.finish_reason === 'length') {
        throw new MalformedAiOutput(
          "The AI's answer was cut off at its output limit (finish_reason: length); a model with a larger output limit, or fewer targets per post, avoids it",
        );
      }
      const content = message?.content;
      if (!content) throw new MalformedAiOutput('The AI answered with no content');
      let drafts: Record<string, unknown>;
      try {
        // Some OpenAI-compatible servers wrap JSON in a Markdown code fence despite response_format.
        drafts = JSON.parse(withoutCodeFence(content)) as Record<string, unknown>;
      } catch {
        throw new MalformedAiOutput(`The AI answered with text that is not JSON: ${capText(content, 120)}`);
      }
      if (!drafts || typeof drafts !== 'object' || Array.isArray(drafts)) {
        throw new MalformedAiOutput('The AI answered with JSON that is not an object of drafts');
      }
      return {
        drafts,
        mode: 'ai',
        model: completion.model || options.model,
        usage: completion.usage
          ? { promptTokens: completion.usage.prompt_tokens, completionTokens: completion.usage.completion_tokens }
          : null,
        latencyMs: Date.now() - started,
      };
    },
    async image(prompt, call) {
      // One deadline for the image, however it comes: generated, then fetched from a link.
      const deadline = Date.now() + timeoutMs;
      const result = await exchange(
        (requestOptions) =>
          client.images.generate(
            {
              model: options.imageModel,
              prompt,
              size: `${AI_IMAGE_SIZE.width}x${AI_IMAGE_SIZE.height}`,
              // DALL·E answers with URLs unless asked; gpt-image models always send base64.
              ...(options.imageModel.startsWith('dall-e') ? { response_format: 'b64_json' as const } : {}),
            },
            requestOptions,
          ),
        call?.signal,
      );
      const first = isRecord(result) && Array.isArray(result.data) ? (result.data[0] as unknown) : undefined;
      const b64 = isRecord(first) ? first.b64_json : undefined;
      const link = isRecord(first) ? first.url : undefined;
      if (typeof b64 === 'string' && b64 !== '') {
        const bytes = Buffer.from(b64, 'base64');
        const mimeType = generatedImageType(bytes);
        if (!mimeType)
          throw new MalformedAiOutput('The image endpoint returned data that is not a PNG, JPEG or WebP image');
        return { bytes, mimeType, model: options.imageModel };
      }
      if (typeof link !== 'string' || link === '') {
        throw new MalformedAiOutput('The image endpoint returned no image data');
      }
      try {
        const image = await fetchImageLink(link, {
          ...options.imageLinks,
          base: client.baseURL,
          signal: call?.signal,
          timeoutMs: deadline - Date.now(),
          limitWords: seconds(timeoutMs),
          secrets: endpoint.secrets,
        });
        return { ...image, model: options.imageModel };
      } catch (err) {
        if (!(err instanceof ImageLinkError)) throw err;
        throw err.notAnImage ? new MalformedAiOutput(err.message) : new AiRequestError(err.message, err.retryable);
      }
    },
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

function unanswered(endpoint: Endpoint): AiRequestError {
  return new AiRequestError(
    `The AI endpoint at ${endpoint.host} did not answer within ${seconds(endpoint.timeoutMs)}`,
    true,
  );
}

function stalled(endpoint: Endpoint): AiRequestError {
  return new AiRequestError(
    `The AI endpoint stopped answering mid-response: its answer had not arrived in full ${seconds(endpoint.timeoutMs)} after asking`,
    true,
  );
}

/** How long the server asked us to wait: retry-after-ms, or Retry-After in seconds or as a date. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  const until = Date.parse(value) - Date.now();
  return Number.isFinite(until) && until > 0 ? until : undefined;
}

/** What the endpoint gave as the reason for its error status: its own message, or its body in words. */
function statusReason(err: InstanceType<typeof OpenAI.APIError>, endpoint: Endpoint): string {
  const said: unknown = isRecord(err.error) ? err.error.message : undefined;
  const text = typeof said === 'string' ? said : err.message.replace(/^\d{3}\s*/, '');
  const reason = text === 'status code (no body)' ? '' : text;
  // Secrets out before the text is cut: a cut through an echoed key would leave half of it unmatched.
  return bodyInWords(withoutSecrets(reason, endpoint.secrets), err.headers?.get('content-type'));
}

/** 429, 408, 409 and 5xx pass; other 4xx need a person (a wrong key, an unknown model, a refused prompt). */
function classify(err: unknown, endpoint: Endpoint): Error {
  if (err instanceof OpenAI.APIConnectionTimeoutError) return unanswered(endpoint);
  if (err instanceof OpenAI.APIConnectionError) {
    return new AiRequestError(connectionFailureInWords(err.cause, endpoint.host), true);
  }
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    const reason = statusReason(err, endpoint);
    if (err.status === 429 && (err.code === 'insufficient_quota' || err.type === 'insufficient_quota')) {
      // Not a rate: the account's credit is used up, and waiting does not bring it back.
      return new AiRequestError(
        `The AI endpoint's quota is used up (429 insufficient_quota): ${reason}. Add credit or raise the limit, then retry the post`,
        false,
      );
    }
    if (err.status === 429) {
      return new AiRequestError(
        `The AI endpoint is rate limiting us (429): ${reason}`,
        true,
        retryAfterMs(err.headers),
      );
    }
    // 408 and 409 are passing conditions too (the SDK itself would retry them).
    if (err.status >= 500 || err.status === 408 || err.status === 409) {
      return new AiRequestError(`The AI endpoint failed (${err.status}): ${reason}`, true, retryAfterMs(err.headers));
    }
    return new AiRequestError(
      `The AI endpoint refused the request (${err.status}): ${reason}`,
      false,
      undefined,
      refusesJsonSchema(err),
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The text inside a Markdown code fence (```json ... ```), or the text itself when it has none. */
function withoutCodeFence(content: string): string {
  const fenced = /^\s*```[a-zA-Z]*\s*\n([\s\S]*?)\n?```\s*$/.exec(content);
  return fenced ? fenced[1]! : content;
}

/**
 * A 400 or 422 saying the endpoint does not take `response_format: json_schema` at all. Narrow on
 * purpose: an error about our schema itself ("Invalid schema for response_format ...") is not one,
 * and falling back on it would drop schema enforcement for the worker's life.
 */
function refusesJsonSchema(err: unknown): boolean {
  if (!(err instanceof OpenAI.APIError) || (err.status !== 400 && err.status !== 422)) return false;
  const subject = /response_format|json_schema|structured output/i;
  const unsupported = /not (?:be )?supported|unsupported|unavailable|not available|does not support|doesn't support/i;
  return subject.test(err.message) && unsupported.test(err.message);
}
