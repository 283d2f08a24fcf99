import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { callControl } from '../emulators/oauth-kit.js';
import { type FacebookInput, facebookPublisher } from '../platforms/facebook/publisher.js';
import { createFacebookTarget } from '../platforms/facebook/target.js';
import { PublishError } from '../platforms/publish-errors.js';
import { OutcomeUnknownError, type PublishRequest, type RenditionFile } from '../platforms/publisher.js';
import { committedToPlatform, memoryJournal, publish } from '../platforms/publishing.js';
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
  violations,
} from './helpers/publishing.js';

/**
 * When Facebook's own word ends a Reel's or a Page video's commitment (platforms/publishing.ts
 * COMMITTED): a finish Graph answers with a refusal, a status saying the upload failed or expired,
 * and what a resumed run does once the journal is committed.
 */

let video: { path: string; bytes: Buffer };
let facebook: FacebookEmulator;

beforeAll(async () => {
  video = await videoFile(600_000);
  facebook = await startFacebookEmulator();
});
afterAll(async () => {
  await facebook?.stop();
  await removeVideoFiles();
});
beforeEach(async () => {
  await callControl(facebook.url, 'POST', 'reset');
});

async function setup() {
  const page = await emulatorCredentials(facebook.url, { kind: 'page' });
  const user = await emulatorCredentials(facebook.url, { kind: 'user' });
  const publisher = facebookPublisher({
    graphUrl: facebook.url,
    graphVideoUrl: facebook.url,
    version: 'v26.0',
    pageId: '1000000000001',
    appId: '2000000000002',
    userToken: () => user.credentials.accessToken(),
  });
  return { credentials: page.credentials, publisher };
}

const finishes = () => facebook.kit.requests.filter((r) => r.query.upload_phase === 'finish');

/** A Reel started and uploaded, killed right before its finish was announced: nothing committed yet. */
async function uploadedReel(input: FacebookInput) {
  const { credentials, publisher } = await setup();
  const journal = memoryJournal();
  journal.crashOn = (patch) => patch.finishSent === true;
  await expect(publish(publisher, input, context(journal, credentials))).rejects.toThrow(/simulated crash/);
  expect(journal.state).toMatchObject({ uploaded: true });
  expect(committedToPlatform(journal.state)).toBe(false);
  return { credentials, publisher, journal };
}

describe('a Reel finish Facebook answers', () => {
  it('refused (code 100): nothing publishes, so the journal is no longer committed and a retry starts afresh', async () => {
    const { credentials, publisher } = await setup();
    await switches(facebook.url, { refuseFinish: '(#100) Param description must be at most 2200 characters' });
    const journal = memoryJournal();
    const source = await fileSource(video.path, 'video/mp4');
    const failure = await publish(publisher, { kind: 'reel', source }, context(journal, credentials)).catch(
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ kind: 'rejected', message: expect.stringMatching(/at most 2200 characters/) });
    expect(journal.state).toMatchObject({ committed: false, finishSent: false });
    expect(await published(facebook.url)).toEqual([]);
  });

  it('200 with { "success": false }: a refusal, so the journal is no longer committed and the failure says so in words', async () => {
    const source = await fileSource(video.path, 'video/mp4');
    const input: FacebookInput = { kind: 'reel', source };
    const { credentials, publisher, journal } = await uploadedReel(input);
    await fault(facebook.url, { kind: 'answer', on: 'reels', status: 200, body: { success: false } });
    const failure = await publish(publisher, input, context(journal, credentials, { maxPolls: 3 })).catch(
      (e: unknown) => e,
    );
    expect(journal.state).toMatchObject({ committed: false, finishSent: false });
    expect(failure).toMatchObject({ kind: 'rejected', message: expect.stringMatching(/"success": false/) });
    expect(finishes()).toHaveLength(1);
    expect(await published(facebook.url)).toEqual([]);
  });

  it('throttled (code 32) past the wait taken in the run: not committed, the next attempt sends the finish without asking', async () => {
    const source = await fileSource(video.path, 'video/mp4');
    const input: FacebookInput = { kind: 'reel', source };
    const { credentials, publisher, journal } = await uploadedReel(input);
    await fault(facebook.url, { kind: 'rate_limit', on: 'reels', retryAfterSeconds: 3600 });
    const failure = await publish(publisher, input, context(journal, credentials)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ kind: 'rate_limited' });
    expect(journal.state).toMatchObject({ committed: false, finishSent: false });

    const mark = facebook.kit.requests.length;
    const result = await publish(publisher, input, context(journal, credentials, { maxPolls: 5 }));
    expect(result).toMatchObject({ status: 'published' });
    expect(finishes()).toHaveLength(2);
    const beforeFinish = facebook.kit.requests.slice(mark, facebook.kit.requests.indexOf(finishes()[1]!));
    expect(beforeFinish.filter((r) => r.method === 'GET')).toEqual([]);
    expect(await published(facebook.url)).toHaveLength(1);
    expect(await violations(facebook.url)).toEqual([]);
  });

  it('with a 5xx: Facebook may have acted on it, so the journal stays committed and the retry asks first', async () => {
    const source = await fileSource(video.path, 'video/mp4');
    const input: FacebookInput = { kind: 'reel', source };
    const { credentials, publisher, journal } = await uploadedReel(input);
    await fault(facebook.url, { kind: 'server_error', on: 'reels' });
    const failure = await publish(publisher, input, context(journal, credentials, { attempts: 1 })).catch(
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ kind: 'transient' });
    expect(journal.state).toMatchObject({ committed: true, finishSent: true });
    const result = await publish(publisher, input, context(journal, credentials, { maxPolls: 5 }));
    expect(result).toMatchObject({ status: 'published' });
    expect(await published(facebook.url)).toHaveLength(1);
  });

  it('refused after an earlier finish whose answer was lost: the status decides, and the Reel that took is published', async () => {
    const source = await fileSource(video.path, 'video/mp4');
    const input: FacebookInput = { kind: 'reel', source };
    const { credentials, publisher, journal } = await uploadedReel(input);
    // The finish is carried out but its answer lost, and every status read fails for now.
    await fault(facebook.url, [
      { kind: 'drop', on: 'reels' },
      ...Array.from({ length: 5 }, () => ({ kind: 'server_error', on: 'video_status' })),
    ]);
    const interrupted = await publish(publisher, input, context(journal, credentials)).catch((e: unknown) => e);
    expect(interrupted).toMatchObject({ kind: 'transient' });
    expect(journal.state).toMatchObject({ committed: true, finishSent: true });

    // A status that lags behind the finish, then a refusal of the finish sent again.
    await fault(facebook.url, [
      {
        kind: 'answer',
        on: 'video_status',
        status: 200,
        body: {
          status: {
            video_status: 'upload_complete',
            uploading_phase: { status: 'complete', bytes_transfered: video.bytes.length },
            processing_phase: { status: 'not_started' },
            publishing_phase: { status: 'not_started' },
          },
        },
      },
      {
        kind: 'answer',
        on: 'reels',
        status: 400,
        body: { error: { message: '(#100) This video was already published', type: 'OAuthException', code: 100 } },
      },
    ]);
    const result = await publish(publisher, input, context(journal, credentials, { maxPolls: 5 }));
    expect(result).toMatchObject({ status: 'published', url: expect.stringMatching(/\/reel\//) });
    expect(await published(facebook.url)).toHaveLength(1);
  });
});

describe("a Reel finish whose answer was lost, and Facebook's status after it", () => {
  it('says the upload expired: the Reel starts again from step 1, without a second finish for the dead one', async () => {
    const source = await fileSource(video.path, 'video/mp4');
    const input: FacebookInput = { kind: 'reel', source, description: 'expired' };
    const { credentials, publisher, journal } = await uploadedReel(input);
    const deadId = journal.state.videoId;
    await switches(facebook.url, { reelFails: 'expired' });
    await fault(facebook.url, { kind: 'drop', on: 'reels' });
    const failure = await publish(publisher, input, context(journal, credentials)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ kind: 'transient', message: expect.stringMatching(/expired.*new session/) });
    expect(journal.state).toMatchObject({ committed: false, videoId: null, finishSent: false });
    expect(finishes().filter((r) => r.query.video_id === deadId)).toHaveLength(1);
    expect(await violations(facebook.url)).toEqual([]);

    const result = await publish(publisher, input, context(journal, credentials, { maxPolls: 5 }));
    expect(result).toMatchObject({ status: 'published' });
    expect(await published(facebook.url)).toHaveLength(1);
    expect(await violations(facebook.url)).toEqual([]);
  });
});

describe('a Page video', () => {
  it('whose status says upload_failed is refused and no longer committed, instead of polled until the run gives up', async () => {
    const { credentials, publisher } = await setup();
    const failed = {
      kind: 'answer',
      on: 'video_status',
      status: 200,
      body: {
        status: {
          video_status: 'upload_failed',
          uploading_phase: { status: 'error' },
          processing_phase: { status: 'not_started' },
          publishing_phase: { status: 'not_started' },
        },
      },
    };
    await fault(
      facebook.url,
      Array.from({ length: 3 }, () => failed),
    );
    const journal = memoryJournal();
    const source = await fileSource(video.path, 'video/mp4');
    const failure = await publish(
      publisher,
      { kind: 'video', source },
      context(journal, credentials, { maxPolls: 3 }),
    ).catch((e: unknown) => e);
    expect(failure).toMatchObject({ kind: 'rejected', message: expect.stringMatching(/upload failed/) });
    expect(committedToPlatform(journal.state)).toBe(false);
  });
});

describe('a resumed run with a committed journal', () => {
  it('does not run the checks before sending again: a post already sent is not refused by rules changed since', async () => {
    const { credentials, publisher } = await setup();
    const journal = memoryJournal();
    // Killed after Facebook answered with the post's id, before the outcome was written.
    journal.crashOn = (patch) => 'outcome' in patch;
    await expect(publish(publisher, { kind: 'text', message: 'hello' }, context(journal, credentials))).rejects.toThrow(
      /simulated crash/,
    );
    expect(committedToPlatform(journal.state)).toBe(true);
    const postId = String(journal.state.postId);

    // The same post, as checks the resumed run's release would refuse it (no message any more).
    const result = await publish(publisher, { kind: 'text', message: '' }, context(journal, credentials));
    expect(result).toEqual({ status: 'published', postId, url: `https://www.facebook.com/${postId}` });
    expect(await published(facebook.url)).toHaveLength(1);
  });
});

describe('a photo post resumed with its journal committed', () => {
  const pageId = '1000000000001';
  const jpeg = (n: number) => Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(2000, n)]);
  const noLink = () => {
    throw new PublishError(
      'facebook',
      'rejected',
      'this platform fetches media by URL, and no public link could be made (PUBLIC_URL)',
    );
  };

  /** The Facebook target as the publish activity runs it, its links made by `linkOf`. */
  async function photoPost(
    photos: number,
    journal: ReturnType<typeof memoryJournal>,
    linkOf: (f: RenditionFile) => string,
  ) {
    const page = await emulatorCredentials(facebook.url, { kind: 'page' });
    const user = await emulatorCredentials(facebook.url, { kind: 'user' });
    const target = createFacebookTarget({
      graphUrl: facebook.url,
      graphVideoUrl: facebook.url,
      version: 'v26.0',
      appId: '2000000000002',
    });
    const request: PublishRequest = {
      postId: '11111111-2222-4333-8444-555555555555',
      targetKey: 'facebook',
      format: 'facebook',
      caption: 'photos once',
      draft: null,
      publishedAt: new Date(),
      renditions: Array.from({ length: photos }, (_, i) => ({
        position: i,
        path: `/nowhere/${i + 1}.jpg`,
        mimeType: 'image/jpeg',
        width: 10,
        height: 10,
      })),
      connected: {
        options: {},
        connectionId: 'conn-fb',
        accountId: pageId,
        via: null,
        context: context(journal, page.credentials),
        userToken: () => user.credentials.accessToken(),
        linkOf,
      },
    };
    return target.publish(request);
  }

  it('posted, killed before the outcome was written, resumed without PUBLIC_URL: published, without a link', async () => {
    const media = await mediaServer({ '/1.jpg': jpeg(1), '/2.jpg': jpeg(2) });
    try {
      const journal = memoryJournal();
      journal.crashOn = (patch) => 'outcome' in patch;
      await expect(photoPost(2, journal, (f) => `${media.url}/${f.position + 1}.jpg`)).rejects.toThrow(
        /simulated crash/,
      );
      expect(committedToPlatform(journal.state)).toBe(true);
      const postId = String(journal.state.postId);

      const receipt = await photoPost(2, journal, noLink);
      expect(receipt).toMatchObject({ platformPostId: postId, url: `https://www.facebook.com/${postId}` });
      expect(await published(facebook.url)).toHaveLength(1);
    } finally {
      await media.stop();
    }
  });

  it('sent and its answer lost, resumed without PUBLIC_URL: outcome unknown, not a refusal for the missing link', async () => {
    const media = await mediaServer({ '/1.jpg': jpeg(1) });
    try {
      const journal = memoryJournal();
      journal.crashOn = (patch) => 'postId' in patch;
      await expect(photoPost(1, journal, (f) => `${media.url}/${f.position + 1}.jpg`)).rejects.toThrow(
        /simulated crash/,
      );
      expect(journal.state).toMatchObject({ committed: true, postSent: true });

      const failure = await photoPost(1, journal, noLink).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(OutcomeUnknownError);
      expect((failure as Error).message).toMatch(/Facebook may have published the photo/);
      expect(await published(facebook.url)).toHaveLength(1);
    } finally {
      await media.stop();
    }
  });
});
