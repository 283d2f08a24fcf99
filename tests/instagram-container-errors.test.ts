import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { publishingUsage } from '../db/schema.js';
import { QUOTA_DEFAULTS } from '../domain/quotas.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { containerError } from '../platforms/instagram/container-errors.js';
import { type InstagramInput, instagramPublisher } from '../platforms/instagram/publisher.js';
import { PublishError } from '../platforms/publish-errors.js';
import { memoryJournal, type PublishContext, type PublishResult, publish } from '../platforms/publishing.js';
import { loadConfig } from '../runtime/config.js';
import { releaseUnpublished, reserveQuota } from '../use-cases/publishing/quota-budget.js';
import { postJson, signUp } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import {
  context,
  emulatorCredentials,
  mediaBytes,
  mediaServer,
  published,
  switches,
  violations,
} from './helpers/publishing.js';

/**
 * A container whose status_code is ERROR (platform-apis.md 3.4) names a subcode in its free-text
 * status; the 3.6 table's "retry?" column decides whether a new container is made or the target ends.
 */

describe("3.6's retry column, read from an ERROR container's status text", () => {
  it('makes a new container for "yes" and "new container", asks again for 2207008, and keeps the rest final', () => {
    const action = (text: string) => containerError(text).action;
    for (const subcode of [2207003, 2207001, 2207032, 2207020, 2207053, 2207006]) {
      expect(action(`Error: something went wrong, error code ${subcode}`), String(subcode)).toBe('new-container');
    }
    expect(action('Error: Media builder does not exist (2207008)')).toBe('ask-again-then-new');
    expect(action('Error: ... error code 2207042')).toBe('next-day');
    expect(action('Error: not ready (2207027)')).toBe('ask-again-then-new');
    for (const subcode of [
      2207057, 2207051, 2207050, 2207023, 2207028, 2207035, 2207036, 2207037, 2207040, 2207026, 2207052, 2207004,
      2207005, 2207009, 2207010,
    ]) {
      expect(action(`Error: (${subcode})`), String(subcode)).toBe('final');
    }
    // No subcode, or one the table does not list: final, as before.
    expect(action('Error')).toBe('final');
    expect(action('Error: code 2207999')).toBe('final');
    // The first listed subcode decides, whatever other numbers the text holds.
    expect(containerError('Error 400: (#100) failed, error code 2207053')).toMatchObject({
      action: 'new-container',
      subcode: 2207053,
      meaning: expect.stringMatching(/unknown error/),
    });
  });

  it('reads INSTAGRAM_CONTAINERS_PER_DAY, 400 unless set', () => {
    expect(loadConfig({}).INSTAGRAM_CONTAINERS_PER_DAY).toBe(400);
    expect(loadConfig({ INSTAGRAM_CONTAINERS_PER_DAY: '120' }).INSTAGRAM_CONTAINERS_PER_DAY).toBe(120);
  });
});

describe('Instagram containers that go to ERROR', () => {
  let instagram: InstagramEmulator;
  let media: Awaited<ReturnType<typeof mediaServer>>;
  const jpeg = (n: number) => Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(3000, n)]);
  const files: Record<string, Buffer> = { '/1.jpg': jpeg(1), '/2.jpg': jpeg(2), '/3.jpg': jpeg(3) };
  const image = (): InstagramInput => ({ kind: 'image', imageUrl: `${media.url}/1.jpg`, caption: 'again' });

  beforeAll(async () => {
    instagram = await startInstagramEmulator();
    media = await mediaServer(files);
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
  const containers = () => instagram.kit.requests.filter((r) => r.method === 'POST' && /\/media$/.test(r.path));

  /** Temporal's attempts over one journal: each error is kept, the first result ends it. */
  async function attempts(input: InstagramInput, journal = memoryJournal(), extra: Partial<PublishContext> = {}) {
    const { credentials } = await emulatorCredentials(instagram.url);
    const errors: PublishError[] = [];
    let result: PublishResult | undefined;
    for (let i = 0; i < 6 && !result; i++) {
      try {
        result = await publish(publisher(), input, context(journal, credentials, extra));
      } catch (err) {
        if (!(err instanceof PublishError)) throw err;
        errors.push(err);
        if (err.kind === 'rejected' || err.kind === 'quota') break;
      }
    }
    return { result, errors, journal };
  }

  it('a subcode the table says to retry ("yes"): the next attempt makes one new container and publishes once', async () => {
    await switches(instagram.url, {
      failContainers: 1,
      containerErrorText: 'Error: An unknown error occurred, error code 2207001',
    });
    const { result, errors, journal } = await attempts(image());
    expect(result).toMatchObject({ status: 'published' });
    expect(errors.map((e) => e.kind)).toEqual(['transient']);
    expect(errors[0]!.message).toMatch(
      /^Instagram could not process the media: Instagram had a server error \(2207001\); Instagram said “Error: An unknown error occurred, error code 2207001”; a new container is made \(1 of at most 2\)$/,
    );
    expect(containers()).toHaveLength(2);
    expect(journal.state).toMatchObject({ containerRemakes: 1, extraContainers: 1 });
    expect(await published(instagram.url)).toHaveLength(1);
    expect(await violations(instagram.url)).toEqual([]);
  });

  it('a final subcode ends the target at once in words, with Instagram’s own text; no new container', async () => {
    await switches(instagram.url, {
      failContainers: 1,
      containerErrorText: 'Error: Media download has failed. The media URI doesn’t meet our requirements. (2207052)',
    });
    const { result, errors } = await attempts(image());
    expect(result).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'rejected', details: { subcode: 2207052 } });
    expect(errors[0]!.message).toBe(
      'Instagram could not process the media: Instagram could not fetch the media from its URL (2207052); Instagram said “Error: Media download has failed. The media URI doesn’t meet our requirements. (2207052)”',
    );
    expect(containers()).toHaveLength(1);
    expect(await published(instagram.url)).toHaveLength(0);
  });

  it('stops after two new containers: three containers in all, then final in words', async () => {
    await switches(instagram.url, { failContainers: 10 });
    const { result, errors } = await attempts(image());
    expect(result).toBeUndefined();
    expect(errors.map((e) => e.kind)).toEqual(['transient', 'transient', 'rejected']);
    expect(errors[2]!.message).toMatch(
      /an unknown error while uploading the video \(2207053\); .*; 2 new containers failed as well, so this target stops here$/,
    );
    expect(containers()).toHaveLength(3);
    expect(await published(instagram.url)).toHaveLength(0);
    expect(await violations(instagram.url)).toEqual([]);
  });

  it('a crash while writing down the new container, then a retry: still one new container', async () => {
    await switches(instagram.url, { failContainers: 1 });
    const journal = memoryJournal();
    journal.crashOn = 'containerRemakes';
    const { credentials } = await emulatorCredentials(instagram.url);
    const crashed = await publish(publisher(), image(), context(journal, credentials)).catch((e: unknown) => e);
    expect(crashed).toBeInstanceOf(Error);
    expect(String((crashed as Error).message)).toMatch(/simulated crash/);
    expect(journal.state.containerRemakes).toBeUndefined();
    const { result, errors } = await attempts(image(), journal);
    expect(result).toMatchObject({ status: 'published' });
    expect(errors.map((e) => e.kind)).toEqual(['transient']);
    expect(containers()).toHaveLength(2);
    expect(journal.state).toMatchObject({ containerRemakes: 1 });
    expect(await published(instagram.url)).toHaveLength(1);
  });

  it('2207008: asks again twice, 30 s apart, before a new container; a container that recovers is kept', async () => {
    const text = 'Error: Media builder does not exist or expired (2207008)';
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    await switches(instagram.url, { failContainers: 1, failedForChecks: 1, containerErrorText: text });
    const recovered = await attempts(image(), memoryJournal(), { sleep });
    expect(recovered.result).toMatchObject({ status: 'published' });
    expect(recovered.errors).toEqual([]);
    expect(waits).toEqual([30_000]);
    expect(containers()).toHaveLength(1);

    await callControl(instagram.url, 'POST', 'reset');
    waits.length = 0;
    await switches(instagram.url, { failContainers: 1, containerErrorText: text });
    const remade = await attempts(image(), memoryJournal(), { sleep });
    expect(remade.result).toMatchObject({ status: 'published' });
    expect(remade.errors.map((e) => e.kind)).toEqual(['transient']);
    expect(waits).toEqual([30_000, 30_000]);
    expect(containers()).toHaveLength(2);
    expect(await violations(instagram.url)).toEqual([]);
  });

  it('a carousel item in ERROR is made again in its place; the others are kept and the order stays', async () => {
    await switches(instagram.url, { failContainers: 1 });
    const carousel: InstagramInput = {
      kind: 'carousel',
      items: ['/1.jpg', '/2.jpg', '/3.jpg'].map((p) => ({ type: 'image', url: `${media.url}${p}` }) as const),
      caption: 'three',
    };
    const { result, errors, journal } = await attempts(carousel);
    expect(result).toMatchObject({ status: 'published' });
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^Instagram could not process the carousel item/),
    ]);
    // Three items, the first made again, and the carousel.
    expect(containers()).toHaveLength(5);
    expect(journal.state.extraContainers).toBe(1);
    const [item] = await published(instagram.url);
    for (const [i, name] of ['/1.jpg', '/2.jpg', '/3.jpg'].entries()) {
      expect((await mediaBytes(instagram.url, item!.id, i)).equals(files[name]!)).toBe(true);
    }
    expect(await violations(instagram.url)).toEqual([]);
  });

  it('"next day" (2207042): the target waits a day, in words, then makes a new container', async () => {
    await switches(instagram.url, { failContainers: 1, containerErrorText: 'Error: ... error code 2207042' });
    const { result, errors, journal } = await attempts(image());
    expect(result).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.kind).toBe('quota');
    const waitUntil = errors[0]!.details.waitUntil!;
    expect(waitUntil.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(errors[0]!.message).toContain(`a new container is made after ${waitUntil.toISOString()}`);
    expect(journal.state).toMatchObject({ containerId: null, containerRemakes: 1 });
    // The day has passed: the next attempt makes the new container and publishes.
    const next = await attempts(image(), journal);
    expect(next.result).toMatchObject({ status: 'published' });
    expect(containers()).toHaveLength(2);
  });

  it('"wait for FINISHED" (2207027): the container is checked again twice, then made anew, never polled for good', async () => {
    const containerErrorText = 'Error: Media ID is not available (2207027)';
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    await switches(instagram.url, { failContainers: 1, failedForChecks: 2, containerErrorText });
    const recovered = await attempts(image(), memoryJournal(), { sleep });
    expect(recovered.result).toMatchObject({ status: 'published' });
    expect(recovered.errors).toEqual([]);
    expect(containers()).toHaveLength(1);

    // A container that stays in ERROR is not checked attempt after attempt: a new one is made.
    await callControl(instagram.url, 'POST', 'reset');
    waits.length = 0;
    await switches(instagram.url, { failContainers: 1, containerErrorText });
    const remade = await attempts(image(), memoryJournal(), { sleep });
    expect(remade.result).toMatchObject({ status: 'published' });
    expect(remade.errors.map((e) => e.kind)).toEqual(['transient']);
    expect(waits).toEqual([30_000, 30_000]);
    expect(containers()).toHaveLength(2);
  });
});

describe("the account's container budget after a journal starts afresh", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('keeps the containers a refused attempt made counted, and counts the next attempt’s anew', async () => {
    const user = await signUp(app.baseUrl);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Containers',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const postId = created.body.id as string;
    const accountId = `ig-${postId}`;
    const request = { platform: 'instagram' as const, accountId, postId, targetKey: 'ig' };
    const spent = async () =>
      (
        await app.db
          .select()
          .from(publishingUsage)
          .where(eq(publishingUsage.budget, `instagram-containers:${accountId}`))
      )
        .map((r) => r.amount)
        .reduce((a, b) => a + b, 0);

    expect(await reserveQuota(app.db, QUOTA_DEFAULTS, request)).toEqual({ ok: true });
    expect(await spent()).toBe(1);
    // Refused after its container was made: the journal starts afresh, the container still counts.
    await releaseUnpublished(app.db, { ...request, journal: { containerId: '1789' } });
    expect(await spent()).toBe(1);
    // The next attempt makes a container of its own, which counts beside it.
    expect(await reserveQuota(app.db, QUOTA_DEFAULTS, request)).toEqual({ ok: true });
    expect(await spent()).toBe(2);
    // A second reservation within the same journal is already covered.
    expect(await reserveQuota(app.db, QUOTA_DEFAULTS, request)).toEqual({ ok: true });
    expect(await spent()).toBe(2);
  });
});
