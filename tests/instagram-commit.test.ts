import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { type InstagramInput, instagramPublisher } from '../platforms/instagram/publisher.js';
import { createInstagramTarget } from '../platforms/instagram/target.js';
import { PublishError } from '../platforms/publish-errors.js';
import type { PublishRequest, RenditionFile } from '../platforms/publisher.js';
import { committedToPlatform, memoryJournal, type PublishContext, publish } from '../platforms/publishing.js';
import { context, emulatorCredentials, fault, mediaServer, published, violations } from './helpers/publishing.js';

/**
 * When an Instagram journal is committed (platforms/publishing.ts COMMITTED): from the moment
 * media_publish is sent until Instagram's own word ends it (media_publish refused, the container in
 * ERROR or EXPIRED). A refusal while committed keeps the journal (activities/publish-target.ts), so
 * a person's retry asks the container instead of making a second one and publishing it.
 */

let instagram: InstagramEmulator;
let media: Awaited<ReturnType<typeof mediaServer>>;
const jpeg = (n: number) => Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(3000, n)]);
const mp4 = Buffer.concat([
  Buffer.from('0000001866747970697336360000020069736f366d703431', 'hex'),
  Buffer.alloc(5000, 7),
]);

beforeAll(async () => {
  instagram = await startInstagramEmulator();
  media = await mediaServer({ '/1.jpg': jpeg(1), '/2.jpg': jpeg(2), '/clip.mp4': mp4 });
});
afterAll(async () => {
  await instagram?.stop();
  await media?.stop();
});
beforeEach(async () => {
  await callControl(instagram.url, 'POST', 'reset');
});

const publisher = () =>
  instagramPublisher({
    graphUrl: instagram.url,
    version: 'v26.0',
    login: 'instagram',
    ruploadUrl: instagram.url,
    igUserId: '17841400000000001',
  });

const image = (): InstagramInput => ({ kind: 'image', imageUrl: `${media.url}/1.jpg`, caption: 'once' });
/** Each kind of post, with the containers it makes: built when run, once the media server is up. */
const KINDS = ['an image', 'a carousel', 'a story', 'a Reel'] as const;
function post(kind: (typeof KINDS)[number]): { input: InstagramInput; planned: number } {
  switch (kind) {
    case 'an image':
      return { input: image(), planned: 1 };
    case 'a carousel':
      return {
        input: {
          kind: 'carousel',
          items: [
            { type: 'image', url: `${media.url}/1.jpg` },
            { type: 'image', url: `${media.url}/2.jpg` },
          ],
          caption: 'twice',
        },
        planned: 3,
      };
    case 'a story':
      return { input: { kind: 'story', imageUrl: `${media.url}/2.jpg` }, planned: 1 };
    case 'a Reel':
      return { input: { kind: 'reel', videoUrl: `${media.url}/clip.mp4`, caption: 'moving' }, planned: 1 };
  }
}

const containers = () => instagram.kit.requests.filter((r) => r.method === 'POST' && /\/media$/.test(r.path));
const sends = () => instagram.kit.requests.filter((r) => r.method === 'POST' && /\/media_publish$/.test(r.path));
const ID_LOST = 'published; Instagram’s answer with the post id was lost, see the account';

/** A status read Graph refuses: neither a token error nor one a retry overcomes. */
const refusedRead = {
  kind: 'answer',
  on: 'status',
  status: 400,
  body: { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100, fbtrace_id: 'A1' } },
};
/** The poll's read of a container that is FINISHED, answered as the emulator would. */
const finishedRead = {
  kind: 'answer',
  on: 'status',
  status: 200,
  body: { status_code: 'FINISHED', status: 'Finished' },
};

async function run(
  input: InstagramInput,
  journal: ReturnType<typeof memoryJournal>,
  extra: Partial<PublishContext> = {},
) {
  const { credentials } = await emulatorCredentials(instagram.url, { seconds: 3 * 86_400 });
  return publish(publisher(), input, context(journal, credentials, extra));
}
const failure = (promise: Promise<unknown>) => promise.then(() => undefined).catch((e: unknown) => e);

/** What the publish activity does to a refused target's journal before a person's retry. */
const afterRefusal = (journal: ReturnType<typeof memoryJournal>) =>
  committedToPlatform(journal.state) ? journal : memoryJournal();

/** Made its containers and waited for them, killed right before media_publish was announced. */
async function readyToSend(input: InstagramInput) {
  const journal = memoryJournal();
  journal.crashOn = (patch) => patch.publishSent === true;
  await expect(run(input, journal)).rejects.toThrow(/simulated crash/);
  expect(journal.state.containerId).toBeTruthy();
  expect(committedToPlatform(journal.state)).toBe(false);
  return journal;
}

describe('media_publish sent and its answer lost', () => {
  it.each(KINDS)(
    '%s: a refused status read keeps the journal committed; the retry asks that container and publishes nothing new',
    async (kind) => {
      const { input, planned } = post(kind);
      const journal = await readyToSend(input);
      await fault(instagram.url, [finishedRead, { kind: 'drop', on: 'publish' }, refusedRead]);
      const refused = await failure(run(input, journal));
      expect(refused).toBeInstanceOf(PublishError);
      expect(refused).toMatchObject({ kind: 'rejected' });
      expect(committedToPlatform(journal.state)).toBe(true);
      expect(journal.state.publishSent).toBe(true);
      expect((refused as Error).message).toMatch(
        /^Instagram may have published this post \(media_publish was sent and not refused\), but the container’s status could not be read: Instagram container status: Unsupported get request\. \(code 100\); a retry asks Instagram again$/,
      );

      const result = await run(input, afterRefusal(journal));
      expect(result).toEqual({ status: 'published', postId: null, url: null, note: ID_LOST });
      expect(await published(instagram.url)).toHaveLength(1);
      expect(containers()).toHaveLength(planned);
      expect(sends()).toHaveLength(1);
      expect(await violations(instagram.url)).toEqual([]);
    },
  );

  it('refused on the attempt after (its own read failed with a 5xx): still committed, still one post', async () => {
    const journal = await readyToSend(image());
    await fault(instagram.url, [finishedRead, { kind: 'drop', on: 'publish' }, { kind: 'server_error', on: 'status' }]);
    expect(await failure(run(image(), journal, { attempts: 1 }))).toMatchObject({ kind: 'transient' });
    expect(committedToPlatform(journal.state)).toBe(true);

    await fault(instagram.url, [refusedRead]);
    expect(await failure(run(image(), journal))).toMatchObject({
      kind: 'rejected',
      message: expect.stringMatching(/^Instagram may have published this post/),
    });
    expect(committedToPlatform(journal.state)).toBe(true);

    expect(await run(image(), afterRefusal(journal))).toMatchObject({ status: 'published', note: ID_LOST });
    expect(await published(instagram.url)).toHaveLength(1);
    expect(containers()).toHaveLength(1);
    expect(sends()).toHaveLength(1);
  });

  it('a status lagging at FINISHED: the send refused as already published is asked about again, and counts', async () => {
    const journal = await readyToSend(image());
    await fault(instagram.url, [finishedRead, { kind: 'drop', on: 'publish' }, finishedRead]);
    expect(await failure(run(image(), journal))).toMatchObject({ kind: 'lost' });
    expect(committedToPlatform(journal.state)).toBe(true);
    // The container still reads FINISHED: the send goes again, for the same container.
    await fault(instagram.url, [finishedRead]);
    expect(await run(image(), journal)).toMatchObject({ status: 'published', note: ID_LOST });
    expect(sends().map((r) => r.query.creation_id)).toEqual([journal.state.containerId, journal.state.containerId]);
    expect(await published(instagram.url)).toHaveLength(1);
  });
});

describe('media_publish answered', () => {
  it('with a refusal (2207051): nothing publishes, so the journal is no longer committed and a retry starts afresh', async () => {
    await fault(instagram.url, {
      kind: 'answer',
      on: 'publish',
      status: 400,
      body: {
        error: {
          message: 'The action is restricted',
          type: 'OAuthException',
          code: 4,
          error_subcode: 2207051,
          fbtrace_id: 'A2',
        },
      },
    });
    const journal = memoryJournal();
    expect(await failure(run(image(), journal))).toMatchObject({ kind: 'rejected' });
    expect(journal.state).toMatchObject({ committed: false, publishSent: false });

    const fresh = afterRefusal(journal);
    expect(fresh).not.toBe(journal);
    expect(await run(image(), fresh)).toMatchObject({ status: 'published' });
    expect(containers()).toHaveLength(2);
    expect(await published(instagram.url)).toHaveLength(1);
  });

  it('not ready (2207027): not committed; the next attempt waits for FINISHED and sends the same container', async () => {
    await fault(instagram.url, {
      kind: 'answer',
      on: 'publish',
      status: 400,
      body: {
        error: { message: 'Media ID is not available', type: 'OAuthException', code: 9007, error_subcode: 2207027 },
      },
    });
    const journal = memoryJournal();
    expect(await failure(run(image(), journal))).toMatchObject({ kind: 'transient' });
    expect(journal.state).toMatchObject({ committed: false, publishSent: false });
    expect(await run(image(), journal)).toMatchObject({ status: 'published' });
    expect(containers()).toHaveLength(1);
    expect(sends()).toHaveLength(2);
    expect(await published(instagram.url)).toHaveLength(1);
  });

  it('with a 5xx to the last try: Instagram may have acted on it, so the journal stays committed and the retry asks first', async () => {
    await fault(instagram.url, { kind: 'server_error', on: 'publish' });
    const journal = memoryJournal();
    expect(await failure(run(image(), journal, { attempts: 1 }))).toMatchObject({ kind: 'transient' });
    expect(journal.state).toMatchObject({ committed: true, publishSent: true });

    const mark = instagram.kit.requests.length;
    expect(await run(image(), journal)).toMatchObject({ status: 'published' });
    const after = instagram.kit.requests.slice(mark);
    const send = after.findIndex((r) => /\/media_publish$/.test(r.path));
    expect(
      after.slice(0, send).some((r) => r.method === 'GET' && r.path.endsWith(`/${journal.state.containerId}`)),
    ).toBe(true);
    expect(containers()).toHaveLength(1);
    expect(await published(instagram.url)).toHaveLength(1);
  });

  it('with a 5xx, then the container expires: Instagram’s word ends the commitment and a fresh container publishes once', async () => {
    await fault(instagram.url, { kind: 'server_error', on: 'publish' });
    const journal = memoryJournal();
    expect(await failure(run(image(), journal, { attempts: 1 }))).toMatchObject({ kind: 'transient' });
    expect(committedToPlatform(journal.state)).toBe(true);
    const first = journal.state.containerId;

    instagram.kit.clockOffsetMs += 25 * 3600_000;
    expect(await failure(run(image(), journal))).toMatchObject({
      kind: 'transient',
      message: expect.stringMatching(/expired before publishing; a new one is made/),
    });
    // The container made again counts against the account's containers (3.5).
    expect(journal.state).toMatchObject({
      committed: false,
      publishSent: false,
      containerId: null,
      extraContainers: 1,
    });

    expect(await run(image(), journal)).toMatchObject({ status: 'published' });
    expect(journal.state.containerId).not.toBe(first);
    expect(containers()).toHaveLength(2);
    expect(sends().map((r) => r.query.creation_id)).toEqual([first, journal.state.containerId]);
    expect(await published(instagram.url)).toHaveLength(1);
  });
});

describe('a carousel item that expired before the carousel was made', () => {
  it('its items are made again, and each one made again is counted against the account’s containers', async () => {
    const { input, planned } = post('a carousel');
    const items = planned - 1;
    // The first read of an item, in prepare: it expired before the carousel container was made.
    await fault(instagram.url, {
      kind: 'answer',
      on: 'status',
      status: 200,
      body: { status_code: 'EXPIRED', status: 'Expired' },
    });
    const journal = memoryJournal();
    expect(await failure(run(input, journal))).toMatchObject({
      kind: 'transient',
      message: expect.stringMatching(/carousel item expired; the items are created again/),
    });
    expect(containers()).toHaveLength(items);
    expect(journal.state).toMatchObject({ childIds: [], extraContainers: items });
    expect(committedToPlatform(journal.state)).toBe(false);

    expect(await run(input, journal)).toMatchObject({ status: 'published' });
    // Every container made is in the plan or in the journal's count: the budget held them all.
    expect(containers()).toHaveLength(planned + Number(journal.state.extraContainers));
    expect(await published(instagram.url)).toHaveLength(1);
    expect(await violations(instagram.url)).toEqual([]);
  });
});

describe('a post resumed with its journal committed, its links no longer made (PUBLIC_URL)', () => {
  const noLink = () => {
    throw new PublishError(
      'instagram',
      'rejected',
      'this platform fetches media by URL, and no public link could be made (PUBLIC_URL)',
    );
  };
  const linked = (f: RenditionFile) =>
    `${media.url}/${f.mimeType === 'video/mp4' ? 'clip.mp4' : `${f.position + 1}.jpg`}`;
  const jpegFile = (position: number, placement: string): RenditionFile => ({
    position,
    path: `/nowhere/${position + 1}.jpg`,
    mimeType: 'image/jpeg',
    width: 10,
    height: 10,
    placement,
  });
  const renditions: Record<(typeof KINDS)[number], RenditionFile[]> = {
    'an image': [jpegFile(0, 'feed_image')],
    'a carousel': [jpegFile(0, 'feed_image'), jpegFile(1, 'feed_image')],
    'a story': [jpegFile(0, 'story')],
    'a Reel': [
      { position: 0, path: '/nowhere/clip.mp4', mimeType: 'video/mp4', width: 10, height: 10, placement: 'reel' },
    ],
  };

  /** The Instagram target as the publish activity runs it, its links made by `linkOf`. */
  async function igPost(
    kind: (typeof KINDS)[number],
    journal: ReturnType<typeof memoryJournal>,
    linkOf: (f: RenditionFile) => string,
  ) {
    const { credentials } = await emulatorCredentials(instagram.url, { seconds: 3 * 86_400 });
    const target = createInstagramTarget({
      instagramGraphUrl: instagram.url,
      facebookGraphUrl: instagram.url,
      ruploadUrl: instagram.url,
      version: 'v26.0',
    });
    const request: PublishRequest = {
      postId: '11111111-2222-4333-8444-555555555555',
      targetKey: 'instagram',
      format: 'instagram',
      caption: 'once',
      draft: null,
      publishedAt: new Date(),
      renditions: renditions[kind],
      connected: {
        options: {},
        connectionId: 'conn-ig',
        accountId: '17841400000000001',
        via: null,
        context: context(journal, credentials),
        userToken: async () => '',
        linkOf,
      },
    };
    return target.publish(request);
  }

  it.each(KINDS)(
    '%s: media_publish taken, killed before its answer was written: published by the container’s word, no second post',
    async (kind) => {
      const journal = memoryJournal();
      journal.crashOn = (patch) => 'mediaId' in patch;
      await expect(igPost(kind, journal, linked)).rejects.toThrow(/simulated crash/);
      expect(journal.state).toMatchObject({ committed: true, publishSent: true });
      const made = containers().length;

      const receipt = await igPost(kind, journal, noLink);
      expect(receipt).toMatchObject({ platform: 'instagram', platformPostId: null, note: ID_LOST });
      expect(await published(instagram.url)).toHaveLength(1);
      expect(containers()).toHaveLength(made);
      expect(sends()).toHaveLength(1);
    },
  );

  it('an image published, killed before the outcome was written: published from the journal’s media id', async () => {
    const journal = memoryJournal();
    journal.crashOn = (patch) => 'outcome' in patch;
    await expect(igPost('an image', journal, linked)).rejects.toThrow(/simulated crash/);
    expect(committedToPlatform(journal.state)).toBe(true);
    const mediaId = String(journal.state.mediaId);

    const receipt = await igPost('an image', journal, noLink);
    expect(receipt).toMatchObject({ platform: 'instagram', platformPostId: mediaId });
    expect(await published(instagram.url)).toHaveLength(1);
    expect(containers()).toHaveLength(1);
    expect(sends()).toHaveLength(1);
  });

  it('not committed (killed before media_publish was announced): still refused for the missing link', async () => {
    const journal = memoryJournal();
    journal.crashOn = (patch) => patch.publishSent === true;
    await expect(igPost('an image', journal, linked)).rejects.toThrow(/simulated crash/);
    expect(committedToPlatform(journal.state)).toBe(false);

    await expect(igPost('an image', journal, noLink)).rejects.toMatchObject({
      kind: 'rejected',
      message: expect.stringMatching(/no public link could be made \(PUBLIC_URL\)/),
    });
    expect(sends()).toHaveLength(0);
  });
});
