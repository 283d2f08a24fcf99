import { z } from 'zod';
import { cutText } from '../domain/cut-text.js';
import { type DraftFormat, LIMITS } from '../domain/drafts.js';
import { instagramHashtags, instagramMentions, youtubeTagsLength } from '../domain/platform-text.js';
import { isStorableText, STORABLE_TEXT_RULE } from '../domain/text.js';

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Text PostgreSQL stores as given (no NUL, no half a surrogate pair): a model can write either. */
const storable = (schema: z.ZodString) => schema.refine(isStorableText, STORABLE_TEXT_RULE);
const text = (max: number) =>
  storable(z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`));
// Optional for hand-written posts; the AI must always write one (see aiDraftSchemaFor).
const script = text(LIMITS.scriptChars).optional();

/** Each platform's draft, with its documented limits enforced. */
export const draftSchemas = {
  generic: z.strictObject({ caption: text(LIMITS.genericCaptionChars) }),
  youtube: z.strictObject({
    title: text(LIMITS.youtubeTitleChars).refine((t) => !/[<>]/.test(t), 'must not contain "<" or ">"'),
    description: storable(z.string().trim())
      .refine(
        (d) => bytes(d) <= LIMITS.youtubeDescriptionBytes,
        `must be at most ${LIMITS.youtubeDescriptionBytes} bytes`,
      )
      .refine((d) => !/[<>]/.test(d), 'must not contain "<" or ">"'),
    tags: z
      .array(storable(z.string().trim().min(1).max(100)))
      .max(LIMITS.youtubeTags, `at most ${LIMITS.youtubeTags} tags`)
      .refine(
        (tags) => youtubeTagsLength(tags) <= LIMITS.youtubeTagsTotalChars,
        `at most ${LIMITS.youtubeTagsTotalChars} characters in all, a tag with a space counted with its quotes`,
      ),
    script,
  }),
  tiktok: z.strictObject({ caption: text(LIMITS.tiktokCaptionChars), script }),
  instagram: z.strictObject({
    caption: text(LIMITS.instagramCaptionChars)
      .refine(
        (c) => instagramHashtags(c) <= LIMITS.instagramHashtags,
        `must have at most ${LIMITS.instagramHashtags} hashtags (every "#" counts)`,
      )
      .refine(
        (c) => instagramMentions(c) <= LIMITS.instagramMentions,
        `must have at most ${LIMITS.instagramMentions} @mentions (every "@" counts)`,
      ),
  }),
  facebook: z.strictObject({ message: text(LIMITS.facebookMessageChars) }),
} satisfies Record<DraftFormat, z.ZodType>;

export function draftSchemaFor(format: DraftFormat): z.ZodType {
  return draftSchemas[format];
}

/** What the AI must return: video formats come with a script. */
export function aiDraftSchemaFor(format: DraftFormat): z.ZodType {
  if (format === 'youtube') return draftSchemas.youtube.required({ script: true });
  if (format === 'tiktok') return draftSchemas.tiktok.required({ script: true });
  return draftSchemas[format];
}

/** A hand-written caption as a draft of the given format (checked by the caller). */
export function draftFromCaption(format: DraftFormat, caption: string): Record<string, unknown> {
  switch (format) {
    case 'youtube': {
      const [first = '', ...rest] = caption.split('\n');
      return { title: cutText(first, 100), description: rest.join('\n').trim() || caption, tags: [] };
    }
    case 'facebook':
      return { message: caption };
    default:
      return { caption };
  }
}

/** The caption-like text of a draft, for hand-off files and summaries. */
export function draftText(draft: object): string {
  const fields = draft as Record<string, unknown>;
  if (typeof fields.title === 'string') return `${fields.title}\n\n${String(fields.description ?? '')}`.trim();
  return String(fields.caption ?? fields.message ?? '');
}

/**
 * Where the prompt gives the JSON schema itself, for endpoints that take only `json_object` (many
 * OpenAI-compatible servers refuse `json_schema`).
 */
export const JSON_SCHEMA_PROMPT = 'Answer with one JSON object that follows this JSON schema exactly:';

/**
 * The JSON schema sent as structured output. Limits the model cannot count exactly (bytes,
 * hashtags) are in the prompt and enforced again with zod afterwards.
 */
export function structuredOutputSchema(targets: { key: string; format: DraftFormat }[]) {
  const properties: Record<string, unknown> = {};
  for (const target of targets) {
    properties[target.key] = z.toJSONSchema(aiDraftSchemaFor(target.format), { target: 'draft-7', io: 'input' });
  }
  return { type: 'object', properties, required: targets.map((t) => t.key), additionalProperties: false };
}
