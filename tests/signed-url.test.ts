import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PUBLIC_MEDIA_PREFIX, signMediaUrl, verifyMediaUrl } from '../media/signed-url.js';

const secret = 'a-test-secret-that-is-at-least-32-characters-long';
const now = new Date('2026-11-25T12:00:00Z');
const inOneHour = new Date(now.getTime() + 3600_000);

function parts(url: string, publicPrefix = '') {
  const u = new URL(url);
  return [
    u.pathname.slice(publicPrefix.length),
    u.searchParams.get('exp') ?? undefined,
    u.searchParams.get('sig') ?? undefined,
  ] as const;
}

describe('signed public media URLs', () => {
  const id = randomUUID();
  const url = signMediaUrl({
    publicUrl: 'https://posts.example.com',
    secret,
    id,
    fileName: 'media-01.jpg',
    expiresAt: inOneHour,
  });

  it('live under PUBLIC_URL/media/public and verify until they expire', () => {
    expect(url).toMatch(
      new RegExp(`^https://posts\\.example\\.com/media/public/${id}/media-01\\.jpg\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`),
    );
    expect(verifyMediaUrl(secret, ...parts(url), now)).toEqual({
      ok: true,
      id,
      fileName: 'media-01.jpg',
      expiresAt: inOneHour,
    });
    expect(verifyMediaUrl(secret, ...parts(url), inOneHour)).toEqual({ ok: false, reason: 'expired' });
  });

  it('keep a path prefix of PUBLIC_URL outside the signed path', () => {
    const prefixed = signMediaUrl({
      publicUrl: 'https://example.com/app/',
      secret,
      id,
      fileName: 'a.mp4',
      expiresAt: inOneHour,
    });
    expect(prefixed.startsWith(`https://example.com/app${PUBLIC_MEDIA_PREFIX}${id}/a.mp4?`)).toBe(true);
    expect(verifyMediaUrl(secret, ...parts(prefixed, '/app'), now).ok).toBe(true);
  });

  it('refuse any change to the file, the id, the expiry or the signature, and another secret', () => {
    const [path, exp, sig] = parts(url);
    const later = String(Number(exp) + 3600);
    expect(verifyMediaUrl(secret, path.replace('media-01', 'media-02'), exp, sig, now).ok).toBe(false);
    expect(verifyMediaUrl(secret, path.replace(id, randomUUID()), exp, sig, now)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyMediaUrl(secret, path, later, sig, now)).toEqual({ ok: false, reason: 'bad_signature' });
    // A character in the middle, changed for sure (the last one may only carry padding bits).
    const flipped = `${sig!.slice(0, 10)}${sig![10] === 'A' ? 'B' : 'A'}${sig!.slice(11)}`;
    expect(verifyMediaUrl(secret, path, exp, flipped, now).ok).toBe(false);
    expect(verifyMediaUrl(`${secret}x`, path, exp, sig, now)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuse paths that try to leave the rendition', () => {
    const [, exp, sig] = parts(url);
    for (const path of [
      `${PUBLIC_MEDIA_PREFIX}${id}/../../secret`,
      `${PUBLIC_MEDIA_PREFIX}${id}/.env`,
      `${PUBLIC_MEDIA_PREFIX}${id}/a/b.jpg`,
      `${PUBLIC_MEDIA_PREFIX}${id}/%2e%2e%2fsecret`,
      `${PUBLIC_MEDIA_PREFIX}short/a.jpg`,
      `/media/other/${id}/a.jpg`,
    ]) {
      expect(verifyMediaUrl(secret, path, exp, sig, now)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(verifyMediaUrl(secret, parts(url)[0], undefined, sig, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyMediaUrl(secret, parts(url)[0], '12abc', sig, now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('differ for every rendition and refuse unsafe ids or names when signing', () => {
    const other = signMediaUrl({
      publicUrl: 'https://posts.example.com',
      secret,
      id: randomUUID(),
      fileName: 'media-01.jpg',
      expiresAt: inOneHour,
    });
    expect(parts(other)[2]).not.toBe(parts(url)[2]);
    expect(() =>
      signMediaUrl({ publicUrl: 'https://x.test', secret, id: '1', fileName: 'a.jpg', expiresAt: inOneHour }),
    ).toThrow(/id/);
    expect(() =>
      signMediaUrl({ publicUrl: 'https://x.test', secret, id, fileName: '../a.jpg', expiresAt: inOneHour }),
    ).toThrow(/file name/);
  });
});
