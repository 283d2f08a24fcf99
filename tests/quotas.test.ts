import { describe, expect, it } from 'vitest';
import {
  facebookReelSlot,
  instagramSlot,
  movingWindow,
  nextQuotaDayStart,
  QUOTA_DEFAULTS,
  quotaDayStart,
  tiktokSlot,
  youtubeUploadSlot,
} from '../domain/quotas.js';
import { chunkRange, MIB, tiktokChunkPlan } from '../platforms/tiktok/publisher.js';

const at = (iso: string) => new Date(iso);
const settings = { ...QUOTA_DEFAULTS };

describe('the YouTube quota day ends at midnight Pacific time', () => {
  it('is 08:00 UTC in winter (PST) and 07:00 UTC in summer (PDT)', () => {
    expect(quotaDayStart(at('2026-01-15T07:59:00Z')).toISOString()).toBe('2026-01-14T08:00:00.000Z');
    expect(nextQuotaDayStart(at('2026-01-15T07:59:00Z')).toISOString()).toBe('2026-01-15T08:00:00.000Z');
    expect(nextQuotaDayStart(at('2026-07-01T12:00:00Z')).toISOString()).toBe('2026-07-02T07:00:00.000Z');
  });

  it('has 23 hours on the day clocks go forward and 25 on the day they go back', () => {
    const spring = quotaDayStart(at('2026-03-08T12:00:00Z'));
    expect(spring.toISOString()).toBe('2026-03-08T08:00:00.000Z');
    expect(nextQuotaDayStart(spring).getTime() - spring.getTime()).toBe(23 * 3600_000);
    const autumn = quotaDayStart(at('2026-11-01T12:00:00Z'));
    expect(autumn.toISOString()).toBe('2026-11-01T07:00:00.000Z');
    expect(nextQuotaDayStart(autumn).getTime() - autumn.getTime()).toBe(25 * 3600_000);
  });

  it('lets six 1600-unit uploads through and sends the seventh to the next Pacific midnight', () => {
    const now = at('2026-03-08T20:00:00Z');
    const units = Array.from({ length: 6 }, (_, i) => ({
      at: new Date(now.getTime() - (i + 1) * 60_000),
      amount: 1602,
    }));
    const verdict = youtubeUploadSlot({ units: units.slice(0, 5), inserts: [] }, settings, now, false);
    expect(verdict).toEqual({ ok: true });
    const full = youtubeUploadSlot({ units, inserts: [] }, settings, now, false);
    expect(full).toMatchObject({
      ok: false,
      at: at('2026-03-09T07:00:00Z'),
      reason: expect.stringMatching(/midnight Pacific/),
    });
    // yesterday's spending (before this Pacific day began) does not count
    expect(
      youtubeUploadSlot(
        { units: units.map((u) => ({ ...u, at: at('2026-03-08T07:30:00Z') })), inserts: [] },
        settings,
        now,
        false,
      ),
    ).toEqual({ ok: true });
  });

  it('on the newer model (insert cost 0) the bucket of 100 uploads rules', () => {
    const now = at('2026-06-10T18:00:00Z');
    const inserts = Array.from({ length: 100 }, () => at('2026-06-10T08:00:00Z'));
    const verdict = youtubeUploadSlot({ units: [], inserts }, { ...settings, YOUTUBE_INSERT_UNITS: 0 }, now, true);
    expect(verdict).toMatchObject({ ok: false, at: at('2026-06-11T07:00:00Z') });
  });
});

describe('moving windows', () => {
  it('Instagram: the 51st post in 24 h waits until the oldest leaves the window; the live limit wins', () => {
    const now = at('2026-05-01T12:00:00Z');
    const posts = Array.from({ length: 50 }, (_, i) => new Date(now.getTime() - (i + 1) * 600_000));
    const verdict = instagramSlot(posts, settings, now);
    expect(verdict).toMatchObject({ ok: false, at: new Date(posts[49]!.getTime() + 86_400_000) });
    expect(instagramSlot(posts.slice(0, 10), settings, now, { usage: 10, total: 100 })).toEqual({ ok: true });
    expect(instagramSlot([], settings, now, { usage: 25, total: 25 })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/25 of 25/),
    });
  });

  it('TikTok: 6 inits per minute, 15 Direct Posts per day, 5 inbox drafts per day', () => {
    const now = at('2026-05-01T12:00:00Z');
    const inits = Array.from({ length: 6 }, (_, i) => new Date(now.getTime() - (i + 1) * 5000));
    expect(tiktokSlot(inits, [], settings, now, false)).toMatchObject({
      ok: false,
      at: new Date(inits[5]!.getTime() + 60_000),
    });
    const posts = Array.from({ length: 15 }, (_, i) => new Date(now.getTime() - (i + 1) * 3600_000));
    expect(tiktokSlot([], posts.slice(1), settings, now, true)).toEqual({ ok: true });
    expect(tiktokSlot([], posts, settings, now, true)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/TikTok posts/),
    });
    expect(tiktokSlot([], posts.slice(0, 4), settings, now, false)).toEqual({ ok: true });
    expect(tiktokSlot([], posts.slice(0, 5), settings, now, false)).toMatchObject({
      ok: false,
      at: new Date(posts[4]!.getTime() + 86_400_000),
      reason: expect.stringMatching(/TikTok inbox drafts/),
    });
  });

  it('Facebook: 30 Reels per Page per moving 24 h', () => {
    const now = at('2026-05-01T12:00:00Z');
    const reels = Array.from({ length: 30 }, (_, i) => new Date(now.getTime() - i * 60_000));
    expect(facebookReelSlot(reels.slice(1), settings, now)).toEqual({ ok: true });
    expect(facebookReelSlot(reels, settings, now)).toMatchObject({
      ok: false,
      at: new Date(reels[29]!.getTime() + 86_400_000),
    });
  });

  it('a post bigger than the whole budget can never go (refused at creation)', () => {
    expect(movingWindow([], 5, 1000, new Date(), 6)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/whole budget/),
    });
  });
});

describe('TikTok chunk plan (platform-apis.md 1.3)', () => {
  it('sends files under 5 MB whole', () => {
    expect(tiktokChunkPlan(4_194_304)).toEqual({ chunkSize: 4_194_304, count: 1 });
    expect(tiktokChunkPlan(1)).toEqual({ chunkSize: 1, count: 1 });
  });

  it('puts the trailing bytes in the last chunk (the docs example: 50,000,123 in 10,000,000)', () => {
    const plan = tiktokChunkPlan(50_000_123, 10_000_000);
    expect(plan).toEqual({ chunkSize: 10_000_000, count: 5 });
    expect(chunkRange(plan, 50_000_123, 4)).toEqual({ start: 40_000_000, end: 50_000_122 });
    expect(chunkRange(plan, 50_000_123, 0)).toEqual({ start: 0, end: 9_999_999 });
  });

  it('chunks anything over 64 MB within 5-64 MB chunks, at most 1000, last at most 128 MB (math only)', () => {
    for (const size of [64 * MIB + 1, 300 * MIB + 7, 4 * 1024 * MIB, 4 * 1024 * MIB - 3]) {
      const plan = tiktokChunkPlan(size);
      expect(plan.count).toBe(Math.floor(size / plan.chunkSize));
      expect(plan.count).toBeGreaterThan(1);
      expect(plan.count).toBeLessThanOrEqual(1000);
      expect(plan.chunkSize).toBeGreaterThanOrEqual(5 * MIB);
      expect(plan.chunkSize).toBeLessThanOrEqual(64 * MIB);
      const last = chunkRange(plan, size, plan.count - 1);
      expect(last.end).toBe(size - 1);
      expect(last.end - last.start + 1).toBeLessThanOrEqual(128 * MIB);
    }
  });

  it('a file between 5 MB and one chunk goes whole; a preferred chunk below 5 MB is raised to 5 MB', () => {
    expect(tiktokChunkPlan(7 * MIB)).toEqual({ chunkSize: 7 * MIB, count: 1 });
    expect(tiktokChunkPlan(12 * MIB, 1 * MIB)).toEqual({ chunkSize: 5 * MIB, count: 2 });
  });
});
