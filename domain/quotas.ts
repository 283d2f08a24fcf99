import { zonedTimeToInstant, zoneOffsetMinutes } from './zoned-time.js';

/**
 * Publishing budgets (platform-apis.md 1.6, 2.5, 3.5, 4.6), each a named setting with the documented
 * default, and the one question the pipeline asks: given what was already spent, when may this post
 * go? Pure: usage comes from the caller's records, the clock is an argument.
 */

export const QUOTA_DEFAULTS = {
  /** Units per Google project per Pacific day, shared by every user of this installation. */
  YOUTUBE_UNITS_PER_DAY: 10_000,
  /**
   * What one videos.insert costs. The older pages say 1600 units (about 6 uploads a day), the
   * newer ones a separate bucket of 100 inserts at 1 unit; both are live, so the safe default is
   * the older one. A project known to be on the new model sets 0 and relies on the bucket below.
   */
  YOUTUBE_INSERT_UNITS: 1600,
  YOUTUBE_INSERTS_PER_DAY: 100,
  YOUTUBE_THUMBNAIL_UNITS: 50,
  /** Instagram: API-published posts per account per moving 24 h (the live value comes from content_publishing_limit). */
  INSTAGRAM_POSTS_PER_DAY: 50,
  /** TikTok: init calls per user token per minute. */
  TIKTOK_INITS_PER_MINUTE: 6,
  /** TikTok: Direct Posts per creator per 24 h ("typically around 15"), shared with other apps. */
  TIKTOK_POSTS_PER_DAY: 15,
  /**
   * TikTok: drafts sent to a creator's inbox per 24 h ("at most 5 pending shares"). A draft stays
   * pending until the creator acts on it in the app, which nothing tells us, so each counts a day.
   */
  TIKTOK_INBOX_SHARES_PER_DAY: 5,
  /** Instagram: containers an account may create per rolling 24 h (3.5); a carousel of N makes N + 1. */
  INSTAGRAM_CONTAINERS_PER_DAY: 400,
  /** Facebook: API-published Reels per Page per moving 24 h. */
  FACEBOOK_REELS_PER_DAY: 30,
} as const;

export type QuotaSettings = { [K in keyof typeof QUOTA_DEFAULTS]: number };

export const PACIFIC = 'America/Los_Angeles';
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** Midnight Pacific time that began the quota day holding `at` (PST or PDT, whichever applies). */
export function quotaDayStart(at: Date): Date {
  const local = new Date(at.getTime() + zoneOffsetMinutes(at.getTime(), PACIFIC) * MINUTE_MS);
  const day = local.toISOString().slice(0, 10);
  return zonedTimeToInstant(`${day}T00:00`, PACIFIC);
}

/** The next midnight Pacific time after `at`: 23, 24 or 25 hours after the last one. */
export function nextQuotaDayStart(at: Date): Date {
  const start = quotaDayStart(at);
  // Noon of the next day is always in the next day whatever DST did; its midnight is the answer.
  return quotaDayStart(new Date(start.getTime() + DAY_MS + 12 * 3600_000));
}

/** One spend recorded against a budget. */
export interface Spend {
  at: Date;
  /** Units (YouTube) or 1 per post/call. */
  amount: number;
}

export type Verdict = { ok: true } | { ok: false; at: Date; reason: string };

/**
 * A moving window of `windowMs`: `amount` fits if the spends inside the window plus it stay within
 * `limit`; otherwise the earliest time at which enough of them have left the window.
 */
export function movingWindow(
  spends: Spend[],
  limit: number,
  windowMs: number,
  now: Date,
  amount = 1,
  what = 'budget',
): Verdict {
  if (amount > limit)
    return {
      ok: false,
      at: new Date(8.64e15),
      reason: `${what}: one post needs more than the whole budget of ${limit}`,
    };
  const inside = spends
    .filter((s) => s.at.getTime() > now.getTime() - windowMs && s.at.getTime() <= now.getTime())
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  let used = inside.reduce((n, s) => n + s.amount, 0);
  if (used + amount <= limit) return { ok: true };
  for (const s of inside) {
    used -= s.amount;
    if (used + amount <= limit) {
      const at = new Date(s.at.getTime() + windowMs);
      return {
        ok: false,
        at,
        reason: `${what}: ${limit} per ${describe(windowMs)} used up; the next one fits at ${at.toISOString()}`,
      };
    }
  }
  return { ok: false, at: new Date(now.getTime() + windowMs), reason: `${what} used up` };
}

/** A budget that resets at a fixed boundary (YouTube's midnight Pacific). */
export function calendarDay(spends: Spend[], limit: number, now: Date, amount: number, what: string): Verdict {
  const start = quotaDayStart(now).getTime();
  const used = spends
    .filter((s) => s.at.getTime() >= start && s.at.getTime() <= now.getTime())
    .reduce((n, s) => n + s.amount, 0);
  if (amount > limit)
    return { ok: false, at: new Date(8.64e15), reason: `${what}: one upload needs more than the daily ${limit}` };
  if (used + amount <= limit) return { ok: true };
  const at = nextQuotaDayStart(now);
  return {
    ok: false,
    at,
    reason: `${what}: ${used} of ${limit} used today; the quota resets at midnight Pacific time (${at.toISOString()})`,
  };
}

function describe(ms: number): string {
  return ms === DAY_MS ? '24 hours' : ms === MINUTE_MS ? 'minute' : `${ms / 1000} s`;
}

const later = (a: Verdict, b: Verdict): Verdict => (a.ok ? b : b.ok ? a : a.at >= b.at ? a : b);

export interface YouTubeUsage {
  /** Every call's units this project spent (inserts, thumbnails, lists...). */
  units: Spend[];
  /** videos.insert calls. */
  inserts: Date[];
}

/** When may one more upload (with or without a thumbnail) go for this Google project? */
export function youtubeUploadSlot(
  usage: YouTubeUsage,
  settings: QuotaSettings,
  now: Date,
  withThumbnail: boolean,
): Verdict {
  const cost = settings.YOUTUBE_INSERT_UNITS + (withThumbnail ? settings.YOUTUBE_THUMBNAIL_UNITS : 0) + 2;
  return later(
    calendarDay(usage.units, settings.YOUTUBE_UNITS_PER_DAY, now, cost, 'YouTube API units'),
    calendarDay(
      usage.inserts.map((at) => ({ at, amount: 1 })),
      settings.YOUTUBE_INSERTS_PER_DAY,
      now,
      1,
      'YouTube uploads',
    ),
  );
}

/** Instagram: the live limit from content_publishing_limit wins over the setting when known. */
export function instagramSlot(
  published: Date[],
  settings: QuotaSettings,
  now: Date,
  live?: { usage: number; total: number },
): Verdict {
  if (live && live.usage + 1 > live.total) {
    const window = movingWindow(
      published.map((at) => ({ at, amount: 1 })),
      live.total,
      DAY_MS,
      now,
      1,
      'Instagram posts',
    );
    return window.ok
      ? {
          ok: false,
          at: new Date(now.getTime() + 3600_000),
          reason: `Instagram posts: ${live.usage} of ${live.total} in the last 24 hours are used (counted by Instagram)`,
        }
      : window;
  }
  return movingWindow(
    published.map((at) => ({ at, amount: 1 })),
    live?.total ?? settings.INSTAGRAM_POSTS_PER_DAY,
    DAY_MS,
    now,
    1,
    'Instagram posts',
  );
}

/**
 * TikTok: the per-minute init limit of the token, and the creator's daily cap of the post's kind:
 * `daily` holds the creator's Direct Posts when `direct`, else the drafts shared to their inbox.
 */
export function tiktokSlot(inits: Date[], daily: Date[], settings: QuotaSettings, now: Date, direct: boolean): Verdict {
  const perMinute = movingWindow(
    inits.map((at) => ({ at, amount: 1 })),
    settings.TIKTOK_INITS_PER_MINUTE,
    MINUTE_MS,
    now,
    1,
    'TikTok post starts',
  );
  return later(
    perMinute,
    movingWindow(
      daily.map((at) => ({ at, amount: 1 })),
      direct ? settings.TIKTOK_POSTS_PER_DAY : settings.TIKTOK_INBOX_SHARES_PER_DAY,
      DAY_MS,
      now,
      1,
      direct ? 'TikTok posts' : 'TikTok inbox drafts',
    ),
  );
}

/** Facebook: Reels per Page per moving 24 h. */
export function facebookReelSlot(reels: Date[], settings: QuotaSettings, now: Date): Verdict {
  return movingWindow(
    reels.map((at) => ({ at, amount: 1 })),
    settings.FACEBOOK_REELS_PER_DAY,
    DAY_MS,
    now,
    1,
    'Facebook Reels',
  );
}
