import OpenAI from 'openai';
import { LIMITS } from '../domain/drafts.js';
import { JSON_SCHEMA_PROMPT, structuredOutputSchema } from './draft-schemas.js';
import type { DraftGenerator, DraftRequest } from './generator.js';

/** A failure talking to the AI endpoint, already sorted into "try again" or "needs a person". */
export class AiRequestError extends Error {
  override name = 'AiRequestError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
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
  timeoutMs?: number;
}

export function createOpenAiGenerator(options: OpenAiGeneratorOptions): DraftGenerator {
  const client = new OpenAI({
    // Local OpenAI-compatible servers often need no key, but the SDK insists on one.
    apiKey: options.apiKey ?? 'not-needed',
    baseURL: options.baseURL,
    // Temporal retries instead, so each try is recorded and visible.
    maxRetries: 0,
    timeout: options.timeoutMs ?? 120_000,
  });

  /** False once the endpoint refused `json_schema`: the schema then goes in the prompt, with `json_object`. */
  let structuredOutputs = true;
  return {
    mode: 'ai',
    async draft(request) {
      const started = Date.now();
      const schema = structuredOutputSchema(request.targets);
      const ask = (json: 'schema' | 'object') =>
        client.chat.completions.create({
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
        });
      let completion: OpenAI.Chat.Completions.ChatCompletion;
      try {
        if (structuredOutputs) {
          try {
            completion = await ask('schema');
          } catch (err) {
            if (!refusesJsonSchema(err)) throw err;
            // Remembered for this worker's life: the endpoint takes JSON, not a schema for it.
            structuredOutputs = false;
            completion = await ask('object');
          }
        } else {
          completion = await ask('object');
        }
      } catch (err) {
        throw classify(err);
      }
      const choice = completion.choices[0];
      const message = choice?.message;
      if (message?.refusal)
        throw new AiRequestError(`The AI declined to write these drafts: ${message.refusal}`, false);
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
        throw new MalformedAiOutput(`The AI answered with text that is not JSON: ${content.slice(0, 120)}`);
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
    async image(prompt) {
      try {
        const result = await client.images.generate({
          model: options.imageModel,
          prompt,
          size: '1024x1024',
          // DALL·E answers with URLs unless asked; gpt-image models always send base64.
          ...(options.imageModel.startsWith('dall-e') ? { response_format: 'b64_json' as const } : {}),
        });
        const b64 = result.data?.[0]?.b64_json;
        if (!b64) throw new MalformedAiOutput('The image endpoint returned no image data');
        return { png: Buffer.from(b64, 'base64'), model: options.imageModel };
      } catch (err) {
        throw err instanceof MalformedAiOutput ? err : classify(err);
      }
    },
  };
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

/** 429, 408, 409 and 5xx pass; other 4xx need a person (a wrong key, an unknown model, a refused prompt). */
function classify(err: unknown): Error {
  if (err instanceof OpenAI.APIConnectionError) {
    return new AiRequestError(`The AI endpoint could not be reached: ${err.message}`, true);
  }
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    const reason = err.message.replace(/^\d{3}\s*/, '');
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
    return new AiRequestError(`The AI endpoint refused the request (${err.status}): ${reason}`, false);
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
