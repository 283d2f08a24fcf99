import { cutText } from '../domain/cut-text.js';
import type { Brief, Draft, DraftFormat } from '../domain/drafts.js';
import { LIMITS } from '../domain/drafts.js';
import type { DraftGenerator, DraftRequest } from './generator.js';

export const OFFLINE_NOTE =
  'Drafted offline from the brief: no AI endpoint is configured (set OPENAI_BASE_URL and/or OPENAI_API_KEY).';

/** At most `max` UTF-16 units, never splitting a character (a half emoji cannot be stored). */
const clip = (text: string, max: number) => (text.length <= max ? text : `${cutText(text, max - 1).trimEnd()}…`);

/** At most `max` bytes of UTF-8 (YouTube counts its description in bytes), never splitting a character. */
function clipBytes(text: string, max: number): string {
  let units = Math.min(text.length, max);
  let clipped = clip(text, units);
  while (Buffer.byteLength(clipped, 'utf8') > max && units > 1) {
    units = Math.floor(units * 0.9);
    clipped = clip(text, units);
  }
  return clipped;
}

/** YouTube tags from the topic's words: short enough that five stay inside its 500 characters. */
const TAG_CHARS = 60;

function hashtags(topic: string, max: number): string[] {
  const words = topic
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 2);
  return [...new Set(words)].slice(0, max).map((w) => `#${w}`);
}

function sentence(brief: Brief, feedback?: string): string {
  const parts = [brief.topic.trim()];
  if (brief.audience) parts.push(`For ${brief.audience}.`);
  if (feedback) parts.push(`(Revised: ${feedback.trim()})`);
  return parts.join(' ');
}

function draftFor(format: DraftFormat, brief: Brief, feedback?: string): Draft {
  const body = sentence(brief, feedback);
  const tags = hashtags(brief.topic, 5);
  switch (format) {
    case 'youtube':
      return {
        title: clip(brief.topic.replace(/[<>]/g, ''), LIMITS.youtubeTitleChars),
        description: clipBytes(body.replace(/[<>]/g, ''), LIMITS.youtubeDescriptionBytes),
        tags: tags.map((t) => cutText(t.slice(1), TAG_CHARS)),
        script: clip(
          `Intro: ${brief.topic}. Main points about ${brief.topic}. Outro: thanks for watching.`,
          LIMITS.scriptChars,
        ),
      };
    case 'tiktok':
      return {
        caption: clip(`${body} ${tags.join(' ')}`, LIMITS.tiktokCaptionChars),
        script: clip(`Hook: ${brief.topic}. Show it. Call to action.`, LIMITS.scriptChars),
      };
    case 'instagram':
      // Instagram counts every "#" and "@" (30 and 20 at most): the brief's own go, ours stay.
      return { caption: clip(`${body.replace(/[#@]/g, '')}\n\n${tags.join(' ')}`, LIMITS.instagramCaptionChars) };
    case 'facebook':
      return { message: clip(body, LIMITS.facebookMessageChars) };
    default:
      return { caption: clip(`${body} ${tags.join(' ')}`.trim(), LIMITS.genericCaptionChars) };
  }
}

/**
 * Builds drafts straight from the brief, so the product can be tried without any AI key. Every
 * post drafted this way is labelled as such.
 */
export function createOfflineGenerator(): DraftGenerator {
  return {
    mode: 'offline',
    async draft(request: DraftRequest) {
      const started = Date.now();
      const drafts: Record<string, unknown> = {};
      for (const target of request.targets)
        drafts[target.key] = draftFor(target.format, request.brief, request.feedback);
      return { drafts, mode: 'offline', model: null, usage: null, latencyMs: Date.now() - started };
    },
    async image() {
      return null;
    },
  };
}
