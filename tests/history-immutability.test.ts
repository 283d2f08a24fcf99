import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HISTORIES_DIR, MANIFEST, sha256 } from './helpers/histories.js';

// Committed workflow histories stand for pipelines already running somewhere: they are only ever
// added. The manifest pins each one's checksum (this works in any checkout, even a tarball), and
// git history proves no commit since they were frozen changed or removed one (where the clone
// has that history; a shallow CI clone without the base commit skips only that part).

/** The commit from which histories are append-only (the v2 ones were recaptured before it). */
const FROZEN_SINCE = 'c264fd2';

const repoRoot = new URL('..', import.meta.url).pathname;
const dir = relative(repoRoot, HISTORIES_DIR);

function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

const manifestLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^([0-9a-f]{64}) {2}(\S+\.json)$/.exec(line);
      if (!match) throw new Error(`Malformed manifest line: ${line}`);
      return { hash: match[1]!, file: match[2]! };
    });

const gitHasBase = git('cat-file', '-e', `${FROZEN_SINCE}^{commit}`) !== undefined;

describe('committed workflow histories', () => {
  it('each matches the checksum it was committed with, and none is missing or unlisted', async () => {
    const entries = manifestLines(await readFile(MANIFEST, 'utf8'));
    const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
    expect(new Set(entries.map((e) => e.file)).size, 'a history is listed twice').toBe(entries.length);
    expect(entries.map((e) => e.file).sort(), 'every history file is listed, every listed file exists').toEqual(files);
    for (const { hash, file } of entries) {
      expect(sha256(await readFile(join(HISTORIES_DIR, file), 'utf8')), `${file} changed`).toBe(hash);
    }
  });

  it.skipIf(!gitHasBase)(`have only been added since ${FROZEN_SINCE}, in git and in the working tree`, () => {
    const changed = git('log', '--format=%h %s', '--diff-filter=MDRT', `${FROZEN_SINCE}..HEAD`, '--', `${dir}/*.json`);
    expect(changed?.trim() ?? '', 'commits that changed or removed a committed history').toBe('');
    const uncommitted = git('diff', 'HEAD', '--name-status', '--diff-filter=MDRT', '--', `${dir}/*.json`);
    expect(uncommitted?.trim() ?? '', 'uncommitted changes to committed histories').toBe('');
  });

  it.skipIf(!gitHasBase)('have a manifest that only ever grew', async () => {
    const current = new Set((await readFile(MANIFEST, 'utf8')).split('\n').filter(Boolean));
    const versions = git('log', '--format=%H', `${FROZEN_SINCE}..HEAD`, '--', `${dir}/MANIFEST.sha256`) ?? '';
    for (const commit of versions.split('\n').filter(Boolean)) {
      const old = git('show', `${commit}:${dir}/MANIFEST.sha256`) ?? '';
      for (const line of old.split('\n').filter(Boolean)) {
        expect(current.has(line), `manifest line removed or changed since ${commit.slice(0, 7)}: ${line}`).toBe(true);
      }
    }
  });
});
