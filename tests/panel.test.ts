import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import {
  axeViolations,
  checkScreen as checkPanelScreen,
  DESKTOP,
  launchBrowser,
  PANEL_ARTIFACTS,
} from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, tempDir } from './helpers/media-files.js';
import { published } from './helpers/publishing.js';

// The panel, driven in Debian's Chromium against the whole running system: API, worker, Temporal,
// PostgreSQL, and emulated TikTok, Google/YouTube and OpenAI. The journey publishes to the emulated
// TikTok and YouTube accounts it connects, over a slow link so the upload can be watched.

const ARTIFACTS = PANEL_ARTIFACTS;
const PASSWORD = 'correct horse battery';

let app: TestApp;
let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let openai: OpenAiEmulator;
let tiktokLink: SlowLink;
let youtubeLink: SlowLink;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let clip: string;
let cleanupClip: () => Promise<void>;
const consoleErrors: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  [tiktok, google, openai] = await Promise.all([startTikTokEmulator(), startGoogleEmulator(), startOpenAiEmulator()]);
  // 3 MB/s: the 20 MB video takes some seconds to reach each platform.
  [tiktokLink, youtubeLink] = await Promise.all([slowLink(tiktok.url, 3_000_000), slowLink(google.url, 3_000_000)]);
  app = await startTestApp({
    env: {
      ...tiktok.env,
      ...google.env,
      // The platforms' APIs (and so their upload addresses) behind the slow links; consent pages direct.
      TIKTOK_API_URL: tiktokLink.url,
      YOUTUBE_API_URL: youtubeLink.url,
      // A public TikTok post needs an audited app; only a public post gets a public link.
      TIKTOK_APP_AUDITED: 'true',
      PUBLISH_POLL_INTERVAL_MS: '50',
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_MODEL: EMULATOR_MODEL,
    },
  });
  const dir = await tempDir('panel-clip-');
  cleanupClip = dir.cleanup;
  // About 20 MB: several times what the sockets buffer, so the bytes sent move with the link.
  clip = await makeVideo(join(dir.dir, 'hike.mp4'), { width: 360, height: 640, seconds: 6, bitrate: '24M' });
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
  // The platforms' image CDNs (the emulators' avatar URLs, *.example) stand in with a real picture.
  const avatar = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3d7a5a' } })
    .png()
    .toBuffer();
  await context.route(/^https:\/\/[^/]+\.example\//, (route) =>
    route.fulfill({ status: 200, contentType: 'image/png', body: avatar }),
  );
  // The published posts' pages on tiktok.com and youtube.com, which this offline machine cannot reach:
  // a stand-in page, so opening a link shows where the browser went without leaving the machine.
  await context.route(/^https:\/\/www\.(tiktok|youtube)\.com\//, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: `<!doctype html><title>Stand-in for ${new URL(route.request().url()).hostname}</title><p>offline</p>`,
    }),
  );
  page = await context.newPage();
  page.on('console', (msg) => {
    // A signed-out visit asks for the session first; its 401 is the expected answer, not an error.
    if (msg.type() === 'error' && !/status of 401/.test(msg.text())) consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
});

afterAll(async () => {
  if (process.env.PANEL_DEBUG)
    for (const l of app?.logLines ?? []) if (/"level":50/.test(l)) console.log(l.slice(0, 1500));
  await browser?.close();
  await app?.stop();
  await Promise.all([tiktok?.stop(), google?.stop(), openai?.stop(), tiktokLink?.stop(), youtubeLink?.stop()]);
  await cleanupClip?.();
});

interface SlowLink {
  url: string;
  stop: () => Promise<void>;
}

/**
 * A slow network in front of an emulator: bodies over 1 MB pass at about `bytesPerSec`, everything
 * else at once. The Host header goes through unchanged, so the upload addresses the emulator hands
 * out point back through the link.
 */
async function slowLink(target: string, bytesPerSec: number): Promise<SlowLink> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const out = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    if (Number(req.headers['content-length'] ?? 0) <= 1_000_000) {
      req.pipe(out);
      return;
    }
    void (async () => {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        for (let i = 0; i < chunk.length; i += 64 * 1024) {
          const piece = chunk.subarray(i, i + 64 * 1024);
          if (!out.write(piece)) await once(out, 'drain');
          await new Promise((r) => setTimeout(r, (piece.length / bytesPerSec) * 1000));
        }
      }
      out.end();
    })().catch((err: Error) => out.destroy(err));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const heading = (name: string) => page.getByRole('heading', { level: 1, name });
const nav = (name: string | RegExp) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });

const checkScreen = (name: string, mustSee: (string | RegExp)[]) => checkPanelScreen(page, name, mustSee);

describe('the panel in a real browser', () => {
  let postId = '';

  it('registers, connects TikTok and YouTube, drafts with AI, rejects, approves and publishes', async () => {
    await page.goto(`${app.baseUrl}/`);
    await expect.poll(() => heading('Sign in').isVisible()).toBe(true);
    await checkScreen('sign-in', ['Sign in', 'New here?']);

    // A wrong password is refused in words.
    await page.getByLabel('Email').fill('nobody@example.com');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('The email or password is incorrect');

    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Name').fill('Ada Panel');
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => heading('Posts').isVisible()).toBe(true);
    await checkScreen('posts-empty', ['No posts yet', 'Ada Panel']);

    // Accounts: TikTok and YouTube are set up on this server, Instagram and Facebook are not.
    await nav('Accounts').click();
    await expect.poll(() => page.getByText('No accounts connected yet').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Connect Facebook' }).isDisabled()).toBe(true);
    await expect.poll(() => page.getByText(/Not set up on this server: set FACEBOOK_/).isVisible()).toBe(true);
    const guide = await page.getByRole('link', { name: 'Setup guide for Facebook' }).getAttribute('href');
    const guideText = await (await fetch(new URL(guide!, app.baseUrl))).text();
    expect(guideText).toMatch(/Facebook/);

    for (const platform of ['TikTok', 'YouTube']) {
      await page.getByRole('button', { name: `Connect ${platform}` }).click();
      await page.waitForURL(/\/connections\/result/);
      const choose = page.getByText(`Choose which ${platform} accounts to connect`);
      await expect
        .poll(async () => (await choose.isVisible()) || (await page.getByText(`${platform} is connected.`).isVisible()))
        .toBe(true);
      if (await choose.isVisible()) {
        await page.getByRole('checkbox').first().check();
        await page.getByRole('button', { name: 'Connect chosen accounts' }).click();
        await expect
          .poll(() => page.getByText(`The chosen ${platform} accounts are connected.`).isVisible())
          .toBe(true);
      }
      await page.getByRole('link', { name: 'Back to accounts' }).click();
      await expect.poll(() => heading('Accounts').isVisible()).toBe(true);
    }
    await expect.poll(() => page.locator('li.connection').count()).toBe(2);
    await expect.poll(() => page.locator('li.connection img.avatar').count()).toBe(2);
    await checkScreen('accounts', ['Connected accounts', 'TikTok ·', 'YouTube ·', 'Active']);

    // Compose: upload by the file picker (the drop zone's input), target the connected TikTok and
    // YouTube accounts (and keep the generic export), draft with AI.
    await nav('Compose').click();
    await expect.poll(() => heading('Compose').isVisible()).toBe(true);
    await page.getByLabel('Choose photos or videos to upload').setInputFiles(clip);
    await expect
      .poll(() => page.getByRole('button', { name: 'Remove hike.mp4' }).isVisible(), { timeout: 30_000 })
      .toBe(true);
    expect(await page.getByRole('progressbar', { name: 'Uploading hike.mp4' }).getAttribute('value')).toBe('100');
    expect(await page.getByRole('checkbox', { name: 'Generic', exact: true }).isChecked()).toBe(true);
    await page.getByRole('checkbox', { name: 'Emulated Creator on TikTok' }).check();
    await page.getByRole('checkbox', { name: /on YouTube$/ }).check();
    // TikTok's posting screen: the creator named, privacy left for the person to choose.
    const tt = page.getByRole('group', { name: 'TikTok: Emulated Creator' });
    await expect.poll(() => tt.getByText('Posting to Emulated Creator @emulated.creator').isVisible()).toBe(true);
    const privacy = tt.getByLabel('Who can see this video');
    expect(await privacy.inputValue()).toBe('');
    await page.getByRole('radio', { name: 'Write it myself' }).check();
    await page.getByLabel('Caption').fill('x'.repeat(2300));
    await expect.poll(() => page.getByText(/TikTok: 2300 \/ 2200 characters .* too long/).isVisible()).toBe(true);
    await page.getByRole('radio', { name: 'Draft with AI from a brief' }).check();
    await page.getByLabel('Brief: what is the post about?').fill('Autumn hiking in the Alps');
    await page.getByLabel('Tone (optional)').fill('warm');
    expect(await page.getByRole('radio', { name: 'I review the drafts first' }).isChecked()).toBe(true);
    const draft = page.getByRole('button', { name: 'Draft with AI' });
    expect(await draft.isDisabled()).toBe(true);
    await expect
      .poll(() => page.getByText('Emulated Creator: choose who can see the TikTok post.').isVisible())
      .toBe(true);
    await privacy.selectOption({ label: 'Everyone' });
    // Allowing comments is the person's choice too; it is off until they turn it on.
    await tt.getByRole('checkbox', { name: 'Comment', exact: true }).check();
    await expect.poll(() => draft.isDisabled()).toBe(false);
    expect(await page.locator('p.consent').textContent()).toBe(
      "By posting, you agree to TikTok's Music Usage Confirmation.",
    );
    await checkScreen('compose', [
      'Where to post',
      'Draft with AI from a brief',
      'hike.mp4',
      'Posting to Emulated Creator',
      'Music Usage Confirmation',
    ]);
    await draft.click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    postId = page.url().split('/').pop()!;

    // The waiting review is announced, and its notice leads (by keyboard) to where it is resolved.
    await expect.poll(() => nav(/^Notifications\s*1 waiting$/).isVisible(), { timeout: 45_000 }).toBe(true);
    await nav(/^Notifications/).click();
    await expect
      .poll(() => page.getByText('Drafts for “Autumn hiking in the Alps” are waiting for your review.').isVisible())
      .toBe(true);
    await page.getByRole('link', { name: 'Review', exact: true }).last().focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => heading('Review queue').isVisible()).toBe(true);

    // Review: round 1 rejected with feedback, round 2 approved with an edit.
    const card = page.getByRole('article', { name: 'Review: Autumn hiking in the Alps' });
    await expect.poll(() => card.locator('.review-head .muted').textContent(), { timeout: 45_000 }).toMatch(/^Round 1/);
    await expect.poll(() => card.getByRole('region', { name: 'Draft for YouTube' }).isVisible()).toBe(true);
    await expect.poll(() => card.getByRole('region', { name: 'Draft for TikTok' }).isVisible()).toBe(true);
    await expect.poll(() => card.getByRole('region', { name: 'Draft for Generic' }).isVisible()).toBe(true);
    await checkScreen('review', ['Review queue', 'Round 1', 'no deadline', 'Reject with feedback']);
    await card.getByRole('button', { name: 'Reject with feedback' }).click();
    await card.getByLabel('What should change?').fill('Mention the cable car');
    await card.getByRole('button', { name: 'Send feedback' }).click();
    await expect.poll(() => card.getByText(/Sent back with your feedback/).isVisible(), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => card.locator('.review-head .muted').textContent(), { timeout: 45_000 }).toMatch(/^Round 2/);
    await expect.poll(() => card.getByText('You asked for changes: “Mention the cable car”').isVisible()).toBe(true);
    const caption = card.getByRole('region', { name: 'Draft for TikTok' }).getByLabel('caption');
    await caption.fill('Golden larches and the cable car up to the ridge');
    await expect
      .poll(() => card.getByRole('region', { name: 'Draft for TikTok' }).getByText('48 / 2200 characters').isVisible())
      .toBe(true);
    await card.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => card.getByText(/Approved/).isVisible(), { timeout: 20_000 }).toBe(true);
    // The decision stays on screen after the queue's next poll drops the post, with the way to follow it.
    await expect.poll(() => card.locator('.review-head .muted').textContent()).toMatch(/decided$/);
    await expect.poll(() => card.getByRole('link', { name: 'Follow the post' }).isVisible()).toBe(true);

    // The post page follows it to the end without reloading: the upload to each account moves.
    await page.goto(`${app.baseUrl}/posts/${postId}`);
    const seen: Record<string, { value: number; text: string }[]> = { TikTok: [], YouTube: [] };
    let shot = false;
    const midway = (name: string) => seen[name]!.some((s) => s.value > 0 && s.value < 100);
    await expect
      .poll(
        async () => {
          for (const name of Object.keys(seen)) {
            const bars = await page.locator(`progress[aria-label="Uploading to ${name}"]`).evaluateAll((els) =>
              els.map((e) => ({
                value: Number(e.getAttribute('value')),
                text: e.closest('.upload-progress')?.textContent ?? '',
              })),
            );
            seen[name]!.push(...bars);
            if (!shot && bars.some((b) => b.value > 0 && b.value < 100)) {
              // The screen mid-upload, as a person watching it sees it.
              shot = true;
              expect(await axeViolations(page), 'post while uploading').toEqual([]);
              await page.screenshot({ path: join(ARTIFACTS, 'post-uploading-desktop-light.png'), fullPage: true });
            }
          }
          return midway('TikTok') && midway('YouTube');
        },
        { timeout: 90_000, interval: 100 },
      )
      .toBe(true);
    for (const name of Object.keys(seen)) {
      const partway = seen[name]!.find((s) => s.value > 0 && s.value < 100)!;
      expect(partway.text).toMatch(new RegExp(`^${partway.value}%\\d+\\.\\d MB of 2\\d\\.\\d MB sent to ${name}\\.$`));
    }
    await expect.poll(() => page.locator('.summary .badge').textContent(), { timeout: 90_000 }).toBe('Published');
    // Once published, the bars give way to the links.
    expect(await page.locator('progress[aria-label^="Uploading to"]').count()).toBe(0);
    await checkScreen('post', [
      'Targets',
      'History',
      'Open the workflow in Temporal',
      'Exported to',
      'Open on TikTok',
      'Open on YouTube',
    ]);
    const workflowLink = await page.getByRole('link', { name: 'Open the workflow in Temporal' }).getAttribute('href');
    const media = page.locator('.media-strip a').first();
    const content = await page.request.get(new URL((await media.getAttribute('href'))!, app.baseUrl).toString());
    expect(content.status()).toBe(200);
    expect(content.headers()['content-type']).toMatch(/^video\//);

    interface StoredTarget {
      key: string;
      type: string;
      status: string;
      url: string | null;
      platformPostId: string | null;
      draft: { caption?: string; title?: string };
      renditions: { sizeBytes: number }[];
      result: { location?: string } | null;
    }
    const stored = (await (await page.request.get(`${app.baseUrl}/api/v1/posts/${postId}`)).json()) as {
      status: string;
      workflow: { id: string; url: string };
      targets: StoredTarget[];
    };
    expect(stored.status).toBe('published');
    expect(workflowLink).toBe(stored.workflow.url);
    expect(workflowLink).toContain(encodeURIComponent(stored.workflow.id));
    const of = (type: string) => stored.targets.find((t) => t.type === type)!;
    expect(of('tiktok').draft.caption).toBe('Golden larches and the cable car up to the ridge');
    expect(of('local_export').result?.location).toBeTruthy();

    // The links are the API's, and each names what the emulated platform published.
    const tiktokHref = await page.getByRole('link', { name: 'Open on TikTok' }).getAttribute('href');
    const youtubeHref = await page.getByRole('link', { name: 'Open on YouTube' }).getAttribute('href');
    expect(tiktokHref).toBe(of('tiktok').url);
    expect(youtubeHref).toBe(of('youtube').url);
    const tiktokItem = (await published(tiktok.url)).find((i) => i.id === of('tiktok').platformPostId);
    expect(tiktokItem, JSON.stringify(of('tiktok'))).toBeDefined();
    expect(tiktokHref).toBe(`https://www.tiktok.com/@emulated.creator/video/${tiktokItem!.id}`);
    const postInfo = tiktokItem!.params.post_info as Record<string, unknown>;
    expect(postInfo).toMatchObject({
      title: 'Golden larches and the cable car up to the ridge',
      privacy_level: 'PUBLIC_TO_EVERYONE',
      disable_comment: false,
    });
    expect(tiktokItem!.media[0]!.bytes).toBe(of('tiktok').renditions[0]!.sizeBytes);
    const youtubeItem = (await published(google.url)).find((i) => i.id === of('youtube').platformPostId);
    expect(youtubeItem, JSON.stringify(of('youtube'))).toBeDefined();
    expect(youtubeHref).toBe(`https://www.youtube.com/watch?v=${youtubeItem!.id}`);
    expect((youtubeItem!.params.snippet as Record<string, unknown>).title).toBe(of('youtube').draft.title);
    expect(youtubeItem!.media[0]!.bytes).toBe(of('youtube').renditions[0]!.sizeBytes);

    // Each link opens in a new tab at that address (a stand-in page: this machine is offline).
    for (const [name, href] of [
      ['TikTok', tiktokHref],
      ['YouTube', youtubeHref],
    ] as const) {
      const [tab] = await Promise.all([
        context.waitForEvent('page'),
        page.getByRole('link', { name: `Open on ${name}` }).click(),
      ]);
      await tab.waitForLoadState();
      expect(tab.url()).toBe(href);
      expect(await tab.title()).toBe(`Stand-in for ${new URL(href!).hostname}`);
      await tab.close();
    }

    await nav('Posts').click();
    await checkScreen('posts', ['Published']);
    await nav('Notifications').click();
    await checkScreen('notifications', ['All caught up']);
    expect(consoleErrors.join('\n')).toBe('');
  }, 300_000);

  it('schedules a post and moves it on the calendar by keyboard and by drag and drop', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000);
    const day = (d: Date) =>
      `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    await nav('Compose').click();
    await page.getByRole('radio', { name: 'Write it myself' }).check();
    await page.getByLabel('Caption').fill('Opening hours this weekend');
    await page.getByRole('radio', { name: 'At a time I choose' }).check();
    await page.getByLabel('Date and time').fill(`${day(tomorrow)}T10:30`);
    await page.getByRole('button', { name: 'Schedule post' }).click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop()!;
    await expect.poll(() => page.locator('.summary').textContent()).toMatch(/Planned for/);

    await nav('Calendar').click();
    await expect.poll(() => heading('Calendar').isVisible()).toBe(true);
    if (tomorrow.getMonth() !== new Date().getMonth()) await page.getByRole('button', { name: 'Next month' }).click();
    const later = page.getByRole('button', { name: /^Move 10:30 Generic one day later$/ });
    await expect.poll(() => later.isVisible()).toBe(true);
    await checkScreen('calendar', ['Calendar', '10:30 Generic', 'Scheduled']);
    await later.click();
    const dayAfter = new Date(tomorrow.getTime() + 86_400_000);
    await expect.poll(() => page.getByText(`Moved to ${day(dayAfter)} at 10:30.`).isVisible()).toBe(true);
    const planned = async () =>
      ((await (await page.request.get(`${app.baseUrl}/api/v1/posts/${id}`)).json()) as { publishAt: string }).publishAt;
    const first = new Date(await planned());
    // Back by dragging it onto tomorrow's cell.
    const event = page.locator('li.event', { hasText: '10:30 Generic' });
    const target = page.locator('li.day', {
      hasText: tomorrow.toLocaleDateString('en-US', { weekday: 'short', day: 'numeric', month: 'short' }),
    });
    await event.dragTo(target);
    await expect.poll(() => page.getByText(`Moved to ${day(tomorrow)} at 10:30.`).isVisible()).toBe(true);
    expect(first.getTime() - new Date(await planned()).getTime()).toBe(86_400_000);
  });

  it('creates a campaign with its next slots shown in local time, then pauses and resumes it', async () => {
    await nav('Campaigns').click();
    await expect.poll(() => page.getByText('No campaigns yet').isVisible()).toBe(true);
    await page.getByLabel('Campaign name').fill('Weekend tips');
    await page.getByLabel('Brief for every post').fill('A hiking tip for the weekend');
    await page.getByLabel('Day 1').selectOption('fri');
    await page.getByLabel('Time 1').fill('17:30');
    await page.getByRole('button', { name: 'Add a weekly slot' }).click();
    await page.getByLabel('Day 2').selectOption('sat');
    await page.getByLabel('Time 2').fill('09:00');
    await expect
      .poll(() => page.getByText(/Next posts \(.*\): .*at 17:30.*at 09:00|at 09:00.*at 17:30/).isVisible())
      .toBe(true);
    await page.getByRole('button', { name: 'Create campaign' }).click();
    const row = page.locator('li.campaign', { hasText: 'Weekend tips' });
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('Active');
    await checkScreen('campaigns', ['Weekend tips', 'Active', /Next: .* at (17:30|09:00)/]);
    await row.getByRole('button', { name: 'Pause Weekend tips' }).click();
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('Paused');
    await row.getByRole('button', { name: 'Resume Weekend tips' }).click();
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('Active');
  });

  it('disconnects an account after a confirmation, then deletes the user', async () => {
    await nav('Accounts').click();
    const row = page.locator('li.connection').first();
    const name = (await row.locator('.row-title').textContent())!;
    await row.getByRole('button', { name: `Disconnect ${name}` }).click();
    await expect.poll(() => row.getByText(/Scheduled posts to it will not be published there/).isVisible()).toBe(true);
    await row.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await expect.poll(() => page.getByText(`${name} is disconnected.`).isVisible()).toBe(true);
    await expect.poll(() => page.locator('li.connection').count()).toBe(1);

    await nav('Settings').click();
    await expect.poll(() => heading('Settings').isVisible()).toBe(true);
    // An API key is shown once.
    await page.getByLabel('Key name').fill('ci');
    await page.getByLabel('Your password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create API key' }).click();
    await expect.poll(() => page.getByText('it is shown only once').isVisible()).toBe(true);
    await expect.poll(() => page.getByRole('button', { name: 'Revoke ci' }).isVisible()).toBe(true);
    await checkScreen('settings', ['API keys', 'Security log', 'Export my data', 'cannot be undone']);

    // A wrong password deletes nothing and says why.
    await page.getByLabel('Your password, to confirm').fill('wrong password!');
    await page.getByRole('button', { name: 'Delete my account and all its data' }).click();
    await expect.poll(() => page.locator('.danger-zone [role=alert]').textContent()).toMatch(/password/i);
    await page.getByLabel('Your password, to confirm').fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete my account and all its data' }).click();
    // Deletion revokes each connection at its platform, ends running workflows and removes files:
    // seconds on a loaded machine, not the default second of polling (failed once in fresh CI).
    await expect.poll(() => heading('Sign in').isVisible(), { timeout: 30_000 }).toBe(true);

    const signIn = await fetch(`${app.baseUrl}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    });
    expect(signIn.status).toBe(401);
    expect(consoleErrors.filter((e) => !/status of 403/.test(e)).join('\n')).toBe('');
  });

  it('serves the panel to browsers only, never in place of the API or its documents', async () => {
    const html = { accept: 'text/html' };
    const root = await fetch(`${app.baseUrl}/`, { headers: html });
    expect(root.headers.get('content-type')).toMatch(/text\/html/);
    expect(await root.text()).toContain('<div id="app">');
    expect(((await (await fetch(`${app.baseUrl}/`)).json()) as { name: string }).name).toBe('AutoPostPanel');
    // A browser asking for an API path gets the API's answer (here: sign in first), never the panel.
    const api = await fetch(`${app.baseUrl}/api/v1/posts`, { headers: html });
    expect(api.status).toBe(401);
    expect(api.headers.get('content-type')).toMatch(/problem\+json/);
    const openapi = await fetch(`${app.baseUrl}/api/v1/openapi.json`, { headers: html });
    expect(openapi.headers.get('content-type')).toMatch(/json/);
    const deep = await fetch(`${app.baseUrl}/posts/123`, { headers: html });
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-security-policy')).toContain("script-src 'self'");
  });
});
