import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { renderSource } from '../activities/render-media.js';
import { createLocalExportPublisher } from '../platforms/local-export.js';
import { phonePhoto, smallPhoto } from './images.js';
import { median, report, round } from './stats.js';

const PLATFORMS = ['youtube', 'tiktok', 'instagram', 'facebook'] as const;

/**
 * Render time of the four platform renditions of one source against its floor: plain sharp, one
 * `sharp(file).rotate().resize(inside).jpeg()` per size with the default encoder, all four at
 * once, writing files as the renderer does. Runs alternate so both see the same machine load.
 */
export async function renderBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-render-'));
  const rules = PLATFORMS.map((p) => createLocalExportPublisher(dir).mediaRules(p));
  try {
    for (const [label, make, runs] of [
      ['1200x900', smallPhoto, 21],
      ['12MP-exif-orientation', phonePhoto, 9],
    ] as const) {
      const source = join(dir, `${label}.jpg`);
      await writeFile(source, await make());
      const ours = () =>
        renderSource(
          source,
          rules.map((r, i) => ({ rules: r, path: join(dir, `ours-${i}.jpg`) })),
        );
      const plain = () =>
        Promise.all(
          rules.map((r, i) =>
            sharp(source)
              .rotate()
              .resize({ width: r.maxWidth, height: r.maxHeight, fit: 'inside', withoutEnlargement: true })
              .jpeg()
              .toFile(join(dir, `plain-${i}.jpg`)),
          ),
        );
      // The renderer before this benchmark existed: a decode and a mozjpeg encode per target, in turn.
      const before = async () => {
        for (const [i, r] of rules.entries()) {
          await sharp(source)
            .rotate()
            .resize({ width: r.maxWidth, height: r.maxHeight, fit: 'inside', withoutEnlargement: true })
            .flatten({ background: '#ffffff' })
            .jpeg({ quality: r.quality, mozjpeg: true })
            .toFile(join(dir, `before-${i}.jpg`));
        }
      };
      const oursMs: number[] = [];
      const plainMs: number[] = [];
      await ours();
      await plain();
      for (let i = 0; i < runs; i++) {
        for (const [f, into] of [
          [ours, oursMs],
          [plain, plainMs],
        ] as const) {
          const t = performance.now();
          await f();
          into.push(performance.now() - t);
        }
      }
      const beforeMs: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await before();
        beforeMs.push(performance.now() - t);
      }
      const o = median(oursMs);
      const p = median(plainMs);
      report('render', {
        source: label,
        renditions: PLATFORMS.join('+'),
        oursMs: round(o, 1),
        plainSharpMs: round(p, 1),
        ratio: round(o / p),
        goal: '<= 1.2',
        previousRendererMs: round(median(beforeMs), 1),
        previousRatio: round(median(beforeMs) / p),
        runs,
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
