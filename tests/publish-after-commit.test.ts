import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { callControl } from '../emulators/oauth-kit.js';
import { facebookPublisher } from '../platforms/facebook/publisher.js';
import { PublishError } from '../platforms/publish-errors.js';
import { type Credentials, committedToPlatform, memoryJournal, publish } from '../platforms/publishing.js';
import { fileSource } from '../platforms/upload-source.js';
import { youtubePublisher } from '../platforms/youtube/publisher.js';
import {
  context,
  emulatorCredentials,
  fault,
  published,
  removeVideoFiles,
  switches,
  videoFile,
} from './helpers/publishing.js';

/**
 * What a publisher leaves behind once the platform holds something that may publish: a refused
 * read of its state is "outcome unknown" in words (never a refusal that would let a retry send a
 * second copy), and the journal says whether anything is committed (platforms/publishing.ts
 * COMMITTED), which the publish activity reads before it clears a refused target's journal.
 */

let video: { path: string; bytes: Buffer };

beforeAll(async () => {
  video = await videoFile(600_000);
});
afterAll(async () => {
  await removeVideoFiles();
});

/** Credentials that remember every token they handed out, so a test can look for each in what came back. */
function remembering(credentials: Credentials) {
  const seen: string[] = [];
  const keep = (t: string) => {
    seen.push(t);
    return t;
  };
  return {
    seen,
    credentials: {
      accessToken: async () => keep(await credentials.accessToken()),
      refresh: async () => keep(await credentials.refresh()),
    } satisfies Credentials,
  };
}

describe('YouTube after the upload', () => {
  let google: GoogleEmulator;
  beforeAll(async () => {
    google = await startGoogleEmulator();
  });
  afterAll(async () => {
    await google?.stop();
  });
  beforeEach(async () => {
    await callControl(google.url, 'POST', 'reset');
  });
  const publisher = () => youtubePublisher({ apiUrl: google.url });
  const input = async () => ({ source: await fileSource(video.path, 'video/mp4'), title: 'Committed' });

  it('a status read YouTube refuses (403 forbidden) ends "outcome unknown" with the video link, not a refusal', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    await fault(google.url, {
      kind: 'answer',
      on: 'list',
      status: 403,
      body: { error: { code: 403, message: 'Forbidden', errors: [{ reason: 'forbidden', message: 'Forbidden' }] } },
    });
    const journal = memoryJournal();
    const result = await publish(publisher(), await input(), context(journal, credentials));
    const videoId = String(journal.state.videoId);
    expect(result).toEqual({
      status: 'unknown',
      reason: `YouTube has the video (https://www.youtube.com/watch?v=${videoId}) but its status could not be read: YouTube video status: Forbidden (forbidden); check the account: if the post is not there, retry it`,
    });
    expect(committedToPlatform(journal.state)).toBe(true);
    expect(await published(google.url)).toHaveLength(1);
  });

  it('the journal is committed from the last bytes on; YouTube rejecting the video ends the commitment', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const journal = memoryJournal();
    // A kill right after the last chunk went out: the video may exist though no answer came.
    journal.crashOn = (patch) => typeof patch.videoId === 'string';
    await expect(publish(publisher(), await input(), context(journal, credentials))).rejects.toThrow(/simulated crash/);
    expect(committedToPlatform(journal.state)).toBe(true);

    await switches(google.url, { processingOutcome: 'rejected' });
    const rejected = memoryJournal();
    const failure = await publish(publisher(), await input(), context(rejected, credentials)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PublishError);
    expect((failure as PublishError).kind).toBe('rejected');
    expect(rejected.state.videoId).toBeTruthy();
    expect(committedToPlatform(rejected.state)).toBe(false);
  });

  it('a resumed run with a committed journal skips the checks before the upload: rules changed since refuse nothing it sent', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const journal = memoryJournal();
    journal.crashOn = (patch) => typeof patch.videoId === 'string';
    await expect(publish(publisher(), await input(), context(journal, credentials))).rejects.toThrow(/simulated crash/);
    expect(committedToPlatform(journal.state)).toBe(true);

    // The same video, as checks the resumed run's release would refuse it.
    const stricter = { ...(await input()), title: 'Committed <now refused>' };
    const result = await publish(publisher(), stricter, context(journal, credentials));
    expect(result).toMatchObject({ status: 'published', postId: journal.state.videoId });
    expect(await published(google.url)).toHaveLength(1);
  });
});

describe('Facebook after the publish call', () => {
  let facebook: FacebookEmulator;
  beforeAll(async () => {
    facebook = await startFacebookEmulator();
  });
  afterAll(async () => {
    await facebook?.stop();
  });
  beforeEach(async () => {
    await callControl(facebook.url, 'POST', 'reset');
  });
  async function setup() {
    const page = remembering((await emulatorCredentials(facebook.url, { kind: 'page' })).credentials);
    const user = remembering((await emulatorCredentials(facebook.url, { kind: 'user' })).credentials);
    const publisher = facebookPublisher({
      graphUrl: facebook.url,
      graphVideoUrl: facebook.url,
      version: 'v26.0',
      pageId: '1000000000001',
      appId: '2000000000002',
      userToken: () => user.credentials.accessToken(),
    });
    return { credentials: page.credentials, publisher, tokens: () => [...page.seen, ...user.seen] };
  }
  const notFound = {
    error: {
      message: '(#100) Tried accessing nonexisting field (status)',
      type: 'OAuthException',
      code: 100,
      fbtrace_id: 'Abc',
    },
  };

  it('a Page video whose status read is refused (code 100) ends "outcome unknown" with its link', async () => {
    const { credentials, publisher } = await setup();
    await fault(facebook.url, { kind: 'answer', on: 'video_status', status: 400, body: notFound });
    const journal = memoryJournal();
    const source = await fileSource(video.path, 'video/mp4');
    const result = await publish(publisher, { kind: 'video', source }, context(journal, credentials));
    const videoId = String(journal.state.videoId);
    expect(result).toEqual({
      status: 'unknown',
      reason: `Facebook has the video (https://www.facebook.com/1000000000001/videos/${videoId}) but its status could not be read: Facebook video status: (#100) Tried accessing nonexisting field (status) (code 100); check the account: if the post is not there, retry it`,
    });
    expect(committedToPlatform(journal.state)).toBe(true);
  });

  it('a Reel whose status read is refused before its finish ends refused, with nothing committed', async () => {
    const { credentials, publisher } = await setup();
    await fault(facebook.url, { kind: 'answer', on: 'video_status', status: 400, body: notFound });
    const journal = memoryJournal();
    const source = await fileSource(video.path, 'video/mp4');
    const failure = await publish(publisher, { kind: 'reel', source }, context(journal, credentials)).catch(
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ kind: 'rejected' });
    expect(committedToPlatform(journal.state)).toBe(false);
  });

  it('a refused Reel finish ends the commitment: Facebook published nothing, so a retry may start afresh', async () => {
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

  it('a feed post Facebook refuses is not committed: nothing went out', async () => {
    const { credentials, publisher } = await setup();
    await fault(facebook.url, { kind: 'answer', on: 'feed', status: 400, body: notFound });
    const journal = memoryJournal();
    const failure = await publish(publisher, { kind: 'text', message: 'hello' }, context(journal, credentials)).catch(
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ kind: 'rejected' });
    expect(journal.state).toMatchObject({ postSent: false, committed: false });
  });

  it('a token Graph echoes back ("Malformed access token ...") never reaches the error, from a call or an upload', async () => {
    for (const [endpoint, input] of [
      ['feed', { kind: 'text', message: 'hello' }],
      ['upload_file', { kind: 'video', source: await fileSource(video.path, 'video/mp4') }],
    ] as const) {
      await callControl(facebook.url, 'POST', 'reset');
      const { credentials, publisher, tokens } = await setup();
      await switches(facebook.url, { echoToken: endpoint });
      const failure = await publish(publisher, input, context(memoryJournal(), credentials)).catch((e: unknown) => e);
      expect(failure, endpoint).toBeInstanceOf(PublishError);
      const message = (failure as PublishError).message;
      expect(message, endpoint).toMatch(/Malformed access token \[redacted\]/);
      expect(tokens().length, endpoint).toBeGreaterThan(0);
      for (const token of tokens()) expect(message, endpoint).not.toContain(token);
    }
  });
});
