import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's Chromium, headless, with no background traffic (this machine has no network). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };
/** Screenshots of the panel's screens, kept as the run's artifacts. */
export const PANEL_ARTIFACTS = new URL('../../test-artifacts/panel/', import.meta.url).pathname;
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let axeSource: string | undefined;

export async function axeViolations(page: Page): Promise<string[]> {
  axeSource ??= await readFile(AXE, 'utf8');
  await page.evaluate(axeSource);
  const result = (await page.evaluate(() =>
    (globalThis as unknown as { axe: { run: () => Promise<unknown> } }).axe.run(),
  )) as { violations: { id: string; help: string; nodes: { target: string[] }[] }[] };
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/**
 * A main screen of the panel: the text a person must see, axe in light and dark, and screenshots
 * at desktop and phone width in both themes, with nothing wider than the screen.
 */
export async function checkScreen(page: Page, name: string, mustSee: (string | RegExp)[]): Promise<void> {
  for (const text of mustSee) await expect.poll(() => page.getByText(text).first().isVisible()).toBe(true);
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    expect(await axeViolations(page), `${name} (${scheme})`).toEqual([]);
    for (const [size, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      await page.setViewportSize(viewport);
      expect(await page.evaluate('document.documentElement.scrollWidth'), `${name} ${size}`).toBeLessThanOrEqual(
        viewport.width,
      );
      await page.screenshot({ path: join(PANEL_ARTIFACTS, `${name}-${size}-${scheme}.png`), fullPage: true });
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(DESKTOP);
}
