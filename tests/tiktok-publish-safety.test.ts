import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { PublishError, tiktokError } from '../platforms/publish-errors.js';
import { memoryJournal, publish } from '../platforms/publishing.js';
import { CreatorInfoCache, MIB, tiktokPublisher } from '../platforms/tiktok/publisher.js';
import { fileSource, type UploadSource } from '../platforms/upload-source.js';
import {
  context,
  emulatorCredentials,
  fault,
  mediaServer,
  published,
  removeVideoFiles,
  switches,
  videoFile,
  violations,
} from './helpers/publishing.js';

/**
 * TikTok publishing where a wrong step either never works or posts twice: an upload-only connection
 * (1.4 needs no creator_info), a lost answer to the last chunk (no second upload without proof the
 * first is incomplete), a 401 without TikTok's envelope (1.7: refresh and retry), and a status read
 * refused after everything went up (the post may exist: outcome unknown, never a refusal).
 */

let tiktok: TikTokEmulator;
let chunked: { path: string; bytes: Buffer };
let whole: { path: string; bytes: Buffer };

beforeAll(async () => {
  tiktok = await startTikTokEmulator();
  chunked = await videoFile(11 * MIB + 12_345);
  whole = await videoFile(3 * MIB);
});
afterAll(async () => {
  await tiktok?.stop();
  await removeVideoFiles();
});
beforeEach(async () => {
  await callControl(tiktok.url, 'POST', 'reset');
});

const publisher = () =>
  tiktokPublisher({ apiUrl: tiktok.url, audited: true, account: 'conn-1', cache: new CreatorInfoCache() });
const requests = (suffix: string) => tiktok.kit.requests.filter((r) => r.path.endsWith(suffix));
const privateVideo = (source: UploadSource) => ({
  kind: 'video' as const,
  mode: 'direct' as const,
  source,
  privacyLevel: 'SELF_ONLY',
  chunkSize: 5 * MIB,
});

describe('a TikTok connection that granted only video.upload', () => {
  const uploadOnly = { data: { scopes: ['user.info.basic', 'video.upload'] } };

  it('sends videos and photos to the inbox without asking creator_info', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url, uploadOnly);
    const source = await fileSource(chunked.path, 'video/mp4');
    const video = await publish(
      publisher(),
      { kind: 'video', mode: 'inbox', source, chunkSize: 5 * MIB },
      context(memoryJournal(), credentials),
    );
    expect(video).toMatchObject({ status: 'published', note: expect.stringMatching(/inbox/) });

    const media = await mediaServer({ '/a.jpg': Buffer.from('ffd8ffe0aaaa', 'hex') });
    try {
      const photo = await publish(
        publisher(),
        { kind: 'photo', mode: 'inbox', imageUrls: [`${media.url}/a.jpg`], title: 'a draft' },
        context(memoryJournal(), credentials),
      );
      expect(photo).toMatchObject({ status: 'published', note: expect.stringMatching(/inbox/) });
    } finally {
      await media.stop();
    }
    expect(requests('/creator_info/query/')).toHaveLength(0);
    const items = await published(tiktok.url);
    expect(items.map((i) => i.params.mode)).toEqual(['inbox', 'inbox']);
    // MEDIA_UPLOAD carries the words only: privacy and the switches are Direct Post's (1.5).
    expect(items[1]?.params.post_info).toEqual({ title: 'a draft', description: '' });
    expect(await violations(tiktok.url)).toEqual([]);
  });

  it('is told in words that a Direct Post needs video.publish, before anything is uploaded', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url, uploadOnly);
    const source = await fileSource(whole.path, 'video/mp4');
    const err = await publish(publisher(), privateVideo(source), context(memoryJournal(), credentials)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({
      kind: 'needs_reconnect',
      message: expect.stringMatching(/does not allow direct posting.*video\.publish.*mode: inbox/),
    });
    // TikTok itself refuses creator_info without the scope (1.3 step 1), as the emulator now does.
    expect(requests('/creator_info/query/')).toHaveLength(1);
    expect(requests('/init/')).toHaveLength(0);
  });
});

describe('a lost answer to the last TikTok chunk', () => {
  it('with a status that names no uploaded_bytes, counts the upload as done and posts once', async () => {
    // The last chunk landed and its 201 was lost; the resend is refused (416 without a range, or
    // 403 once the upload_url's hour ended) and the status says PROCESSING_UPLOAD without a byte
    // count. A new init here would upload a second copy while the first one publishes.
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(chunked.path, 'video/mp4');
    for (const lost of [{ loseLastChunkAnswer: true, rangeless416: true }, { loseLastChunkAnswer: 'expire' }]) {
      await callControl(tiktok.url, 'POST', 'reset');
      await switches(tiktok.url, { ...lost, statusWithoutProgress: true });
      const result = await publish(publisher(), privateVideo(source), context(memoryJournal(), credentials));
      expect(result.status).toBe('published');
      expect(requests('/init/')).toHaveLength(1);
      expect(await published(tiktok.url)).toHaveLength(1);
      expect(await violations(tiktok.url)).toEqual([]);
    }
  });

  it('ends as outcome unknown when TikTok never says the whole video arrived, without a second upload', async () => {
    // One chunk (the last) refused without a range, and TikTok's status never moves past
    // uploading nor counts bytes: whether it arrived cannot be known, so a person checks.
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(whole.path, 'video/mp4');
    await switches(tiktok.url, { statusWithoutProgress: true });
    await fault(tiktok.url, { kind: 'answer', on: 'upload', status: 416 });
    const journal = memoryJournal();
    const result = await publish(
      publisher(),
      { kind: 'video', mode: 'direct', source, privacyLevel: 'SELF_ONLY' },
      context(journal, credentials, { maxPolls: 5 }),
    );
    expect(result).toMatchObject({
      status: 'unknown',
      reason: expect.stringMatching(/did not confirm.*check the account/),
    });
    expect(requests('/init/')).toHaveLength(1);
    expect(requests('/upload/video/')).toHaveLength(1);
    expect(journal.state.outcome).toBe('unknown');
  });

  it('an earlier chunk refused without a range still starts a new upload: the last bytes never left', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(chunked.path, 'video/mp4');
    await switches(tiktok.url, { statusWithoutProgress: true });
    await fault(tiktok.url, { kind: 'answer', on: 'upload', status: 416 });
    const result = await publish(publisher(), privateVideo(source), context(memoryJournal(), credentials));
    expect(result.status).toBe('published');
    expect(requests('/init/')).toHaveLength(2);
    expect(await published(tiktok.url)).toHaveLength(1);
  });
});

describe('TikTok error answers', () => {
  it('a 401 without the /v2 envelope (gateway, empty or HTML body) refreshes the token and retries', async () => {
    const bare = (body: unknown) => ({ status: 401, headers: new Headers(), body });
    for (const body of [null, '<html>Unauthorized</html>', {}]) {
      expect(tiktokError(bare(body), 'publish status')).toMatchObject({ kind: 'token_expired' });
    }
    const { credentials, state } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(whole.path, 'video/mp4');
    await fault(tiktok.url, { kind: 'answer', on: 'status', status: 401, body: '<html>Unauthorized</html>' });
    const result = await publish(publisher(), privateVideo(source), context(memoryJournal(), credentials));
    expect(result.status).toBe('published');
    expect(state.refreshes).toBe(1);
    // Refused again with the fresh token: the account must be connected again.
    await fault(tiktok.url, [
      { kind: 'answer', on: 'creator_info', status: 401 },
      { kind: 'answer', on: 'creator_info', status: 401 },
    ]);
    const err = await publish(
      tiktokPublisher({ apiUrl: tiktok.url, audited: true, account: 'conn-2', cache: new CreatorInfoCache() }),
      privateVideo(source),
      context(memoryJournal(), credentials),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'needs_reconnect' });
    expect(state.refreshes).toBe(2);
  });

  it('a status read refused after the upload (no such publish, not this token’s) ends as outcome unknown, not a refusal', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(whole.path, 'video/mp4');
    for (const code of ['invalid_publish_id', 'token_not_authorized_for_specified_publish_id']) {
      await callControl(tiktok.url, 'POST', 'reset');
      const body = { data: {}, error: { code, message: 'publish_id is invalid', log_id: 'x' } };
      expect(tiktokError({ status: 400, headers: new Headers(), body }, 'publish status')?.kind).not.toBe('rejected');
      await fault(tiktok.url, { kind: 'answer', on: 'status', status: 400, body });
      const journal = memoryJournal();
      const result = await publish(publisher(), privateVideo(source), context(journal, credentials));
      expect(result).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/check the account/) });
      // The journal keeps the publish: a retry asks about it instead of uploading a second copy.
      expect(journal.state).toMatchObject({ outcome: 'unknown', uploadDone: true, publishId: expect.any(String) });
      expect(requests('/init/')).toHaveLength(1);
    }
  });
});
