import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { median, percentile, report, round } from './stats.js';

/**
 * The calendar's month view with 1,000 items, rendered by the built panel in Chromium (issue 13:
 * p95 under 300 ms). The panel is served from web/dist by a loopback server that answers the
 * calendar with 1,000 prepared items for whatever month is asked, so the figure is the panel's own
 * work: from the click on "Next month" / "Previous month" to the new month's 1,000 items laid out
 * (each day lists four and folds the rest behind "N more", as the panel does), including the
 * loopback fetch and JSON parse of the items, none of the API's database time.
 */

const ITEMS = 1000;
const RENDERS = 20;
const WARMUP = 4;
const DIST = fileURLToPath(new URL('../web/dist/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Runs in the page (as source text: the bundler's helpers would not exist there). Clicks the
 * month button and resolves with the milliseconds until the other month's items are in the DOM
 * (listed, or counted in a day's "N more") and laid out.
 */
const CLICK_AND_TIME = `(label, count) => new Promise((resolve, reject) => {
  const calendar = document.querySelector('ol.calendar');
  const listed = () => calendar.querySelectorAll('li.event').length
    + [...calendar.querySelectorAll('button.more')].reduce((n, b) => n + parseInt(b.textContent, 10), 0);
  const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === label);
  if (!calendar || !button) return reject(new Error('no calendar or no "' + label + '" button'));
  const before = calendar.getAttribute('aria-label');
  const started = performance.now();
  const observer = new MutationObserver(() => {
    if (calendar.getAttribute('aria-label') === before || listed() !== count) return;
    observer.disconnect();
    void document.body.offsetHeight;
    resolve(performance.now() - started);
  });
  observer.observe(calendar, { childList: true, subtree: true, attributes: true });
  button.click();
})`;

const pad = (n: number) => String(n).padStart(2, '0');

/** 1,000 items over the month the range is centred on: mostly movable scheduled posts, some published, some campaign slots. */
function monthItems(from: string, to: string) {
  const middle = new Date((Date.parse(from) + Date.parse(to)) / 2);
  const year = middle.getUTCFullYear();
  const month = middle.getUTCMonth();
  const days = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Array.from({ length: ITEMS }, (_, i) => {
    const day = (i % days) + 1;
    const minutes = (i * 37) % (24 * 60);
    const local = `${year}-${pad(month + 1)}-${pad(day)}T${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
    const kind = i % 10 === 9 ? 'slot' : 'post';
    const status = kind === 'slot' ? 'planned' : i % 10 >= 7 ? 'published' : 'scheduled';
    return {
      kind,
      postId: kind === 'post' ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : null,
      campaignId: kind === 'slot' ? '00000000-0000-4000-9000-000000000001' : null,
      status,
      at: `${local}:00.000Z`,
      local,
      targets: [
        { key: ['generic', 'tiktok', 'youtube', 'instagram', 'facebook'][i % 5]!, type: 'local_export' },
        ...(i % 3 === 0 ? [{ key: 'tiktok-acct', type: 'tiktok' }] : []),
      ],
    };
  });
}

async function answer(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://bench');
  const json = (body: unknown, status = 200) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/api/v1/auth/session')
    return json({
      user: { id: 'bench', name: 'Bench', email: 'bench@example.test', createdAt: new Date().toISOString() },
      csrfToken: 'bench',
    });
  if (url.pathname === '/api/v1/calendar') {
    const from = url.searchParams.get('from') ?? '';
    const to = url.searchParams.get('to') ?? '';
    return json({ from, to, timeZone: 'UTC', items: monthItems(from, to) });
  }
  if (url.pathname === '/api/v1/connections') return json({ items: [], pendingChoices: [], platforms: [] });
  if (url.pathname === '/api/v1/reviews' || url.pathname === '/api/v1/posts') return json({ items: [] });
  if (url.pathname.startsWith('/api/')) return json({ title: 'Not found' }, 404);
  const file = normalize(join(DIST, url.pathname));
  const path = file.startsWith(DIST) && extname(file) ? file : join(DIST, 'index.html');
  try {
    const body = await readFile(path);
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
}

export async function calendarRenderBench(): Promise<Record<string, number>> {
  await ensureWebBuilt();
  const server = createServer((req, res) => void answer(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'UTC' });
    const page = await context.newPage();
    await page.goto(`${base}/calendar`);
    await page.waitForSelector('button.more', { timeout: 30_000 });
    const times: number[] = [];
    for (let i = 0; i < WARMUP + RENDERS; i++) {
      const label = i % 2 === 0 ? 'Next month' : 'Previous month';
      const ms = (await page.evaluate(`(${CLICK_AND_TIME})(${JSON.stringify(label)}, ${ITEMS})`)) as number;
      if (i >= WARMUP) times.push(ms);
    }
    return {
      items: ITEMS,
      renders: RENDERS,
      p50Ms: round(median(times)),
      p95Ms: round(percentile(times, 95)),
      maxMs: round(Math.max(...times)),
    };
  } finally {
    await browser.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  report('calendar-render', await calendarRenderBench());
}
