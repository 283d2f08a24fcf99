// Builds the panel (web/) into web/dist with Vite when the build is missing or older than its sources.
// Used by `npm run build:web`, `npm start`, `npm test` and the panel tests; needs nothing beyond node_modules.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const dist = join(web, 'dist', 'index.html');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function webBuildIsStale() {
  if (!existsSync(dist)) return true;
  const sources = Math.max(
    newestSource(join(web, 'src')),
    // The panel bundles shared rules from domain/ (zoned times, campaign slots).
    newestSource(join(root, 'domain')),
    statSync(join(web, 'index.html')).mtimeMs,
    statSync(join(web, 'vite.config.ts')).mtimeMs,
  );
  return statSync(dist).mtimeMs < sources;
}

/** Builds web/dist unless it is already newer than every source file (`force` builds anyway). */
export async function ensureWebBuilt({ force = false } = {}) {
  if (!force && !webBuildIsStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: join(web, 'vite.config.ts'), logLevel: 'warn' });
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await ensureWebBuilt({ force: process.argv.includes('--force') });
}
