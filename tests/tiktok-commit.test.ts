import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { PublishError } from '../platforms/publish-errors.js';
import { OutcomeUnknownError, type PublishRequest, type RenditionFile } from '../platforms/publisher.js';
import { committedToPlatform, memoryJournal, publish } from '../platforms/publishing.js';
import { CreatorInfoCache, MIB, type TikTokInput, tiktokPublisher } from '../platforms/tiktok/publisher.js';
import { createTikTokTarget } from '../platforms/tiktok/target.js';
import { fileSource } from '../platforms/upload-source.js';
import {
  context,
  emulatorCredentials,
  fault,
  mediaServer,
  published,
  removeVideoFiles,
  switches,
  videoFile,
} from './helpers/publishing.js';

/**
 * When TikTok may hold something that publishes (platforms/publishing.ts COMMITTED): from the last
 * chunk of a video upload, or the photo init that pulls and posts, until TikTok's own verdict (a
 * FAILED status, or its count of missing bytes) ends it. While it holds, neither a refused status
 * read nor TikTok forgetting the publish_id may lead to a second upload.
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
const inits = () => requests('/init/').length;
const chunksSent = () => requests('/upload/video/').length;
const video = async (file: { path: string }, mode: 'direct' | 'inbox' = 'direct'): Promise<TikTokInput> => ({
  kind: 'video',
  mode,
  source: await fileSource(file.path, 'video/mp4'),
  ...(mode === 'direct' ? { privacyLevel: 'SELF_ONLY' } : {}),
  chunkSize: 5 * MIB,
});
const envelopeError = (code: string, message: string) => ({ data: {}, error: { code, message, log_id: 'x' } });
const unknownPublish = { kind: 'answer', on: 'status', status: 400, body: envelopeError('invalid_publish_id', 'x') };

describe('TikTok forgetting the publish_id after the last chunk', () => {
  it('the last chunk landed, its answer was lost and the resend refused (403): no second upload, posted once', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    await switches(tiktok.url, { loseLastChunkAnswer: 'expire' });
    await fault(tiktok.url, unknownPublish);
    const journal = memoryJournal();
    const result = await publish(publisher(), await video(chunked), context(journal, credentials));
    expect(result.status).toBe('published');
    expect(inits()).toBe(1);
    expect(await published(tiktok.url)).toHaveLength(1);
  });

  it('the last chunk refused (404) and the publish_id unknown to every read: outcome unknown, no second upload', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    await fault(tiktok.url, [{ kind: 'answer', on: 'upload', status: 404 }, unknownPublish, unknownPublish]);
    const journal = memoryJournal();
    const result = await publish(publisher(), await video(whole), context(journal, credentials));
    expect(result).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/check the account/) });
    expect(inits()).toBe(1);
    expect(chunksSent()).toBe(1);
    expect(committedToPlatform(journal.state)).toBe(true);
  });

  it('a run killed after the last chunk is committed; resumed while TikTok forgets the id, it polls without sending bytes', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const journal = memoryJournal();
    // Killed once TikTok took the last chunk, before the journal said so.
    journal.crashOn = (patch) => patch.uploadDone === true;
    await expect(publish(publisher(), await video(chunked), context(journal, credentials))).rejects.toThrow(
      /simulated crash/,
    );
    expect(committedToPlatform(journal.state)).toBe(true);
    expect(chunksSent()).toBe(2);

    await fault(tiktok.url, unknownPublish);
    const result = await publish(publisher(), await video(chunked), context(journal, credentials));
    expect(result.status).toBe('published');
    expect(chunksSent()).toBe(2);
    expect(inits()).toBe(1);
    expect(await published(tiktok.url)).toHaveLength(1);
  });
});

describe('the last chunk refused with a client error', () => {
  it('400: TikTok did not take it, so the journal is no longer committed and the retry inits a new upload, posting once', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    // The only chunk is the last one: committed before it went, then refused.
    await fault(tiktok.url, {
      kind: 'answer',
      on: 'upload',
      status: 400,
      body: { error: 'Content-Length does not match' },
    });
    const journal = memoryJournal();
    const err = await publish(publisher(), await video(whole), context(journal, credentials)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(committedToPlatform(journal.state)).toBe(false);
    expect(err).toMatchObject({
      kind: 'rejected',
      message: expect.stringMatching(
        /^TikTok chunk upload refused: HTTP 400 \(Content-Length does not match\); the upload did not complete/,
      ),
    });
    expect(journal.state).toMatchObject({ publishId: null, uploadUrl: null, uploadDone: false });

    // Even a retry that keeps the journal sends nothing more into the dead upload.
    const deadUpload = requests('/upload/video/')[0]?.query.upload_id;
    const result = await publish(publisher(), await video(whole), context(journal, credentials));
    expect(result.status).toBe('published');
    expect(inits()).toBe(2);
    expect(requests('/upload/video/').filter((r) => r.query.upload_id === deadUpload)).toHaveLength(1);
    expect(await published(tiktok.url)).toHaveLength(1);
  });

  it('400 on a resend of a last chunk that had landed: TikTok says the video is there, so it is not uploaded again', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    // The last chunk is stored and its answer lost; the same chunk sent again is refused (400).
    await switches(tiktok.url, { loseLastChunkAnswer: 'refuse' });
    const journal = memoryJournal();
    const result = await publish(publisher(), await video(whole), context(journal, credentials));
    expect(result.status).toBe('published');
    expect(chunksSent()).toBe(2);
    expect(inits()).toBe(1);
    expect(await published(tiktok.url)).toHaveLength(1);
  });

  it('429: throttled, not refused, so the same chunk goes again into the same upload after the wait', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    await fault(tiktok.url, { kind: 'answer', on: 'upload', status: 429, body: { error: 'Too many requests' } });
    const journal = memoryJournal();
    const result = await publish(publisher(), await video(whole), context(journal, credentials));
    expect(result.status).toBe('published');
    expect(inits()).toBe(1);
    const uploads = requests('/upload/video/');
    expect(uploads).toHaveLength(2);
    expect(uploads[1]!.query.upload_id).toBe(uploads[0]!.query.upload_id);
    expect(await published(tiktok.url)).toHaveLength(1);
  });
});

describe('a status read TikTok refuses once it holds the post', () => {
  const refusals = [
    { name: 'invalid_param', status: 400, body: envelopeError('invalid_param', 'bad publish_id') },
    { name: 'a 403 without the envelope', status: 403, body: '<html>Forbidden</html>' },
  ];

  for (const mode of ['direct', 'inbox'] as const) {
    for (const refusal of refusals) {
      it(`${mode} video, ${refusal.name}: refused with the journal committed; the retry polls and posts once`, async () => {
        const { credentials } = await emulatorCredentials(tiktok.url);
        await fault(tiktok.url, { kind: 'answer', on: 'status', status: refusal.status, body: refusal.body });
        const journal = memoryJournal();
        const err = await publish(publisher(), await video(chunked, mode), context(journal, credentials)).catch(
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(PublishError);
        expect((err as PublishError).kind).toBe('rejected');
        // publish-target keeps a committed journal on a refusal: the person's retry resumes it.
        expect(committedToPlatform(journal.state)).toBe(true);

        const result = await publish(publisher(), await video(chunked, mode), context(journal, credentials));
        expect(result.status).toBe('published');
        expect(inits()).toBe(1);
        expect(chunksSent()).toBe(2);
        expect(await published(tiktok.url)).toHaveLength(1);
      });
    }
  }

  it('photo post: committed from the pull init; a refused read keeps it, a refused init does not', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const media = await mediaServer({ '/a.jpg': Buffer.from('ffd8ffe0aaaa', 'hex') });
    const photo: TikTokInput = {
      kind: 'photo',
      mode: 'direct',
      privacyLevel: 'SELF_ONLY',
      imageUrls: [`${media.url}/a.jpg`],
      title: 'photo',
    };
    try {
      await fault(tiktok.url, { kind: 'answer', on: 'status', status: 400, body: envelopeError('invalid_param', 'x') });
      const journal = memoryJournal();
      const err = await publish(publisher(), photo, context(journal, credentials)).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'rejected' });
      expect(committedToPlatform(journal.state)).toBe(true);
      const result = await publish(publisher(), photo, context(journal, credentials));
      expect(result.status).toBe('published');
      expect(inits()).toBe(1);
      expect(await published(tiktok.url)).toHaveLength(1);

      await fault(tiktok.url, {
        kind: 'answer',
        on: 'init',
        status: 403,
        body: envelopeError('spam_risk_user_banned_from_posting', 'banned'),
      });
      const refused = memoryJournal();
      await expect(publish(publisher(), photo, context(refused, credentials))).rejects.toMatchObject({
        kind: 'rejected',
      });
      expect(refused.state.pullInitSent).toBe(false);
      expect(committedToPlatform(refused.state)).toBe(false);
    } finally {
      await media.stop();
    }
  });
});

describe("TikTok's FAILED verdict", () => {
  for (const failReason of ['file_format_check_failed', 'internal', 'auth_removed']) {
    it(`${failReason}: a committed publish that TikTok fails is no longer committed`, async () => {
      const { credentials } = await emulatorCredentials(tiktok.url);
      await fault(tiktok.url, { kind: 'answer', on: 'status', status: 400, body: envelopeError('invalid_param', 'x') });
      const journal = memoryJournal();
      await expect(publish(publisher(), await video(whole), context(journal, credentials))).rejects.toMatchObject({
        kind: 'rejected',
      });
      expect(committedToPlatform(journal.state)).toBe(true);

      await switches(tiktok.url, { failReason });
      const err = await publish(publisher(), await video(whole), context(journal, credentials)).catch(
        (e: unknown) => e,
      );
      const kinds: Record<string, string> = { internal: 'transient', auth_removed: 'needs_reconnect' };
      expect(err).toMatchObject({ kind: kinds[failReason] ?? 'rejected' });
      expect(committedToPlatform(journal.state)).toBe(false);
      // The dead publish_id is forgotten whatever the reason: after a reconnect the retry inits anew.
      expect(journal.state.publishId).toBeNull();
      expect(inits()).toBe(1);
      expect(await published(tiktok.url)).toHaveLength(0);
    });
  }
});

describe('a photo post resumed with its journal committed', () => {
  const noLink = () => {
    throw new PublishError(
      'tiktok',
      'rejected',
      'this platform fetches media by URL, and no public link could be made (PUBLIC_URL)',
    );
  };

  /** The TikTok target as the publish activity runs it, its links made by `linkOf`. */
  async function photoPost(journal: ReturnType<typeof memoryJournal>, linkOf: (f: RenditionFile) => string) {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const target = createTikTokTarget({ apiUrl: tiktok.url, audited: true });
    const request: PublishRequest = {
      postId: '11111111-2222-4333-8444-555555555555',
      targetKey: 'tiktok',
      format: 'tiktok',
      caption: 'photos once',
      draft: null,
      publishedAt: new Date(),
      renditions: [1, 2].map((n, i) => ({
        position: i,
        path: `/nowhere/${n}.jpg`,
        mimeType: 'image/jpeg',
        width: 10,
        height: 10,
      })),
      connected: {
        options: { mode: 'direct', privacyLevel: 'SELF_ONLY' },
        connectionId: 'conn-tt',
        accountId: 'open-id-1',
        via: null,
        context: context(journal, credentials),
        userToken: async () => '',
        linkOf,
      },
    };
    return target.publish(request);
  }

  it('posted, killed before the outcome was written, resumed without PUBLIC_URL: published, without a link', async () => {
    const media = await mediaServer({
      '/1.jpg': Buffer.from('ffd8ffe0aaaa', 'hex'),
      '/2.jpg': Buffer.from('ffd8ffe0bbbb', 'hex'),
    });
    try {
      const journal = memoryJournal();
      journal.crashOn = (patch) => 'outcome' in patch;
      await expect(photoPost(journal, (f) => `${media.url}/${f.position + 1}.jpg`)).rejects.toThrow(/simulated crash/);
      expect(journal.state).toMatchObject({ committed: true, pullInitSent: true });
      expect(journal.state.publishId).toBeTruthy();

      const receipt = await photoPost(journal, noLink);
      const posts = await published(tiktok.url);
      expect(posts).toHaveLength(1);
      expect(posts[0]?.media).toHaveLength(2);
      // SELF_ONLY: TikTok gives a private post no public id.
      expect(receipt).toMatchObject({
        platform: 'tiktok',
        platformPostId: null,
        note: expect.stringMatching(/^published/),
      });
      expect(journal.state.outcome).toBe('published');
      expect(inits()).toBe(1);
    } finally {
      await media.stop();
    }
  });

  it('the pull init sent and its answer lost, resumed without PUBLIC_URL: outcome unknown, not a refusal for the missing link', async () => {
    const media = await mediaServer({
      '/1.jpg': Buffer.from('ffd8ffe0aaaa', 'hex'),
      '/2.jpg': Buffer.from('ffd8ffe0bbbb', 'hex'),
    });
    try {
      const journal = memoryJournal();
      journal.crashOn = (patch) => 'publishId' in patch;
      await expect(photoPost(journal, (f) => `${media.url}/${f.position + 1}.jpg`)).rejects.toThrow(/simulated crash/);
      expect(journal.state).toMatchObject({ committed: true, pullInitSent: true });

      const failure = await photoPost(journal, noLink).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(OutcomeUnknownError);
      expect((failure as Error).message).toMatch(/TikTok may have received the photo post, but its id was lost/);
      expect(inits()).toBe(1);
    } finally {
      await media.stop();
    }
  });
});
