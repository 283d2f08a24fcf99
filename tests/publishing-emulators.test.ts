import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QUOTA_DEFAULTS, youtubeUploadSlot } from '../domain/quotas.js';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { googleError, graphError, tiktokError } from '../platforms/publish-errors.js';
import { memoryJournal, publish } from '../platforms/publishing.js';
import { fileSource } from '../platforms/upload-source.js';
import { youtubePublisher } from '../platforms/youtube/publisher.js';
import {
  context,
  emulatorCredentials,
  mediaServer,
  removeVideoFiles,
  switches,
  videoFile,
  violations,
} from './helpers/publishing.js';

let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let instagram: InstagramEmulator;
let facebook: FacebookEmulator;
const MIB = 1024 * 1024;

beforeAll(async () => {
  [tiktok, google, instagram, facebook] = await Promise.all([
    startTikTokEmulator(),
    startGoogleEmulator(),
    startInstagramEmulator(),
    startFacebookEmulator(),
  ]);
});
afterAll(async () => {
  await Promise.all([tiktok, google, instagram, facebook].map((e) => e?.stop()));
  await removeVideoFiles();
});
beforeEach(async () => {
  await Promise.all([tiktok, google, instagram, facebook].map((e) => callControl(e.url, 'POST', 'reset')));
});

// biome-ignore lint/suspicious/noExplicitAny: raw platform answers, inspected field by field below
type Raw = { status: number; headers: Headers; body: any };
const answer = async (res: Response): Promise<Raw> => ({
  status: res.status,
  headers: res.headers,
  body: await res.json().catch(() => null),
});

describe('TikTok publishing emulator', () => {
  it('refuses a chunk plan that breaks the 1.3 rules and records the violation', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const token = await credentials.accessToken();
    const init = (source_info: Record<string, unknown>) =>
      fetch(`${tiktok.url}/v2/post/publish/inbox/video/init/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=UTF-8' },
        body: JSON.stringify({ source_info: { source: 'FILE_UPLOAD', ...source_info } }),
      }).then(answer);
    const bad = await init({ video_size: 3 * MIB, chunk_size: MIB, total_chunk_count: 3 });
    expect(bad.status).toBe(400);
    expect(tiktokError(bad, 'init')?.kind).toBe('rejected');
    const ok = await init({ video_size: 12 * MIB, chunk_size: 5 * MIB, total_chunk_count: 2 });
    expect(ok.status).toBe(200);
    const uploadUrl = ok.body.data.upload_url as string;
    const put = (range: string, size: number) =>
      fetch(uploadUrl, {
        method: 'PUT',
        headers: { 'content-type': 'video/mp4', 'content-range': range },
        body: Buffer.alloc(size),
      });
    expect((await put(`bytes ${5 * MIB}-${12 * MIB - 1}/${12 * MIB}`, 7 * MIB)).status).toBe(416); // out of order
    const first = await put(`bytes 0-${5 * MIB - 1}/${12 * MIB}`, 5 * MIB);
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-${5 * MIB - 1}/${12 * MIB}`);
    expect((await put(`bytes 0-${MIB - 1}/${12 * MIB}`, MIB)).status).toBe(416); // not a chunk of the plan
    const problems = (await violations(tiktok.url)).map((v) => v.problem);
    expect(problems).toEqual([
      expect.stringMatching(/under 5 MB must be sent whole/),
      expect.stringMatching(/not a chunk of the announced plan/),
    ]);
  });

  it('says spam_risk_too_many_posts at the daily cap, which is final (do not retry)', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    await switches(tiktok.url, { dailyPostCap: 0 });
    const res = await fetch(`${tiktok.url}/v2/post/publish/video/init/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await credentials.accessToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        post_info: { privacy_level: 'SELF_ONLY', disable_stitch: true },
        source_info: { source: 'FILE_UPLOAD', video_size: 100, chunk_size: 100, total_chunk_count: 1 },
      }),
    }).then(answer);
    expect(res.status).toBe(403);
    const err = tiktokError(res, 'init');
    expect(err?.kind).toBe('rejected');
    expect(err?.message).toMatch(/daily post limit.*retry this target tomorrow/);
  });
});

describe('YouTube publishing emulator', () => {
  it('refuses a session whose part parameter leaves out a part the body sets', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const start = await fetch(`${google.url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await credentials.accessToken()}`,
        'content-type': 'application/json',
        'x-upload-content-length': String(MIB),
        'x-upload-content-type': 'video/mp4',
      },
      body: JSON.stringify({ snippet: { title: 't' }, status: { privacyStatus: 'public' } }),
    });
    expect(start.status).toBe(400);
    expect((await violations(google.url)).map((v) => v.problem)).toEqual([
      expect.stringMatching(/part does not name status/),
    ]);
  });

  it('answers 308 without Range when nothing arrived, and flags a middle chunk that is not 256 KiB aligned', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const token = await credentials.accessToken();
    const start = await fetch(`${google.url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'x-upload-content-length': String(MIB),
        'x-upload-content-type': 'video/mp4',
      },
      body: JSON.stringify({ snippet: { title: 't' }, status: { privacyStatus: 'public' } }),
    });
    const session = start.headers.get('location') as string;
    const status = await fetch(session, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-range': `bytes */${MIB}` },
    });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBeNull();
    const odd = await fetch(session, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-range': `bytes 0-99999/${MIB}` },
      body: Buffer.alloc(100_000),
    });
    expect(odd.status).toBe(400);
    expect((await violations(google.url)).map((v) => v.problem)).toEqual([
      expect.stringMatching(/multiple of 256 KiB/),
    ]);
  });

  it('quota: a budget from domain/quotas holds the third upload, so YouTube never refuses one', async () => {
    await switches(google.url, { insertsPerDay: 2 });
    const { credentials } = await emulatorCredentials(google.url);
    const small = await videoFile(300_000);
    const inserts: Date[] = [];
    const settings = { ...QUOTA_DEFAULTS, YOUTUBE_INSERT_UNITS: 0, YOUTUBE_INSERTS_PER_DAY: 2 };
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const verdict = youtubeUploadSlot({ units: [], inserts }, settings, new Date(), false);
      if (!verdict.ok) {
        outcomes.push(`waits: ${verdict.reason}`);
        continue;
      }
      inserts.push(new Date());
      const result = await publish(
        youtubePublisher({ apiUrl: google.url }),
        { source: await fileSource(small.path, 'video/mp4'), title: `n${i}` },
        context(memoryJournal(), credentials),
      );
      outcomes.push(result.status);
    }
    expect(outcomes).toEqual(['published', 'published', expect.stringMatching(/^waits: .*midnight Pacific/)]);
    expect(await violations(google.url)).toEqual([]);
    // Without the budget, the platform would refuse and record the broken promise:
    const refused = await fetch(`${google.url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await credentials.accessToken()}`,
        'content-type': 'application/json',
        'x-upload-content-length': '10',
        'x-upload-content-type': 'video/mp4',
      },
      body: JSON.stringify({ snippet: { title: 'over' }, status: {} }),
    }).then(answer);
    const err = googleError(refused, 'upload session');
    expect(err).toMatchObject({ kind: 'quota' });
    expect((await violations(google.url)).map((v) => v.problem)).toEqual([
      expect.stringMatching(/beyond the daily quota/),
    ]);
  });
});

describe('Instagram and Facebook publishing emulators', () => {
  it('Instagram: media_publish before FINISHED is refused with 9007/2207027 and recorded', async () => {
    const { credentials } = await emulatorCredentials(instagram.url);
    const token = await credentials.accessToken();
    const media = await mediaServer({ '/v.mp4': Buffer.alloc(1000) });
    try {
      const created = await fetch(`${instagram.url}/v26.0/1784/media`, {
        method: 'POST',
        body: new URLSearchParams({ media_type: 'REELS', video_url: `${media.url}/v.mp4`, access_token: token }),
      }).then(answer);
      const early = await fetch(`${instagram.url}/v26.0/1784/media_publish`, {
        method: 'POST',
        body: new URLSearchParams({ creation_id: created.body.id, access_token: token }),
      }).then(answer);
      expect(early.status).toBe(400);
      expect(early.body.error).toMatchObject({ code: 9007, error_subcode: 2207027 });
      expect(graphError('instagram', early, 'publish').message).toMatch(/not ready/);
      expect((await violations(instagram.url)).map((v) => v.problem)).toEqual([
        expect.stringMatching(/before the container is FINISHED/),
      ]);
    } finally {
      await media.stop();
    }
  });

  it('Facebook: a Reel beyond the per-Page window is refused and recorded; Page limit answers carry the wait', async () => {
    const { credentials } = await emulatorCredentials(facebook.url, { kind: 'page' });
    const token = await credentials.accessToken();
    await switches(facebook.url, { reelsPerDay: 1, regainAccessMinutes: 3 });
    const start = () =>
      fetch(`${facebook.url}/v26.0/1000000000001/video_reels`, {
        method: 'POST',
        body: new URLSearchParams({ upload_phase: 'start', access_token: token }),
      }).then(answer);
    const first = await start();
    expect(first.status).toBe(200);
    expect(first.body.upload_url).toMatch(/\/video-upload\/v26\.0\/\d+$/);
    const second = await start();
    expect(second.status).toBe(400);
    expect((await violations(facebook.url)).map((v) => v.problem)).toEqual([
      expect.stringMatching(/beyond 30 per Page/),
    ]);
    await callControl(facebook.url, 'POST', 'publishing/faults', {
      kind: 'rate_limit',
      on: 'feed',
      retryAfterSeconds: 300,
    });
    const limited = await fetch(`${facebook.url}/v26.0/1000000000001/feed`, {
      method: 'POST',
      body: new URLSearchParams({ message: 'x', access_token: token }),
    }).then(answer);
    expect(graphError('facebook', limited, 'post')).toMatchObject({ kind: 'rate_limited', retryAfterMs: 300_000 });
  });
});

describe('Graph error classes (3.6, 4.8)', () => {
  const answer = (error: Record<string, unknown>, status = 400) => ({
    status,
    headers: new Headers(),
    body: { error },
  });
  it('an Instagram subcode marked "no" is final even when its code is a rate or transient one', () => {
    expect(graphError('instagram', answer({ code: 4, error_subcode: 2207051 }), 'publish').kind).toBe('rejected');
    expect(graphError('instagram', answer({ code: 1, error_subcode: 2207057 }), 'publish').kind).toBe('rejected');
    expect(graphError('instagram', answer({ code: 1, error_subcode: 2207057 }), 'publish').message).toMatch(
      /thumbnail offset/,
    );
    expect(graphError('instagram', answer({ code: 4 }), 'publish').kind).toBe('rate_limited');
    expect(graphError('instagram', answer({ code: 1 }), 'publish').kind).toBe('transient');
    expect(graphError('instagram', answer({ code: -1, error_subcode: 2207001 }), 'publish').kind).toBe('transient');
  });
  it('368, temporarily blocked for policy violations, is waited out and tried again', () => {
    expect(graphError('facebook', answer({ code: 368 }), 'post').kind).toBe('rate_limited');
  });
});
