import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/**
 * Files under the data dir, addressed by storage keys ("originals/<id>"). Only keys travel
 * through the database and Temporal; bytes are streamed from here by whoever needs them.
 */
export class MediaStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'media');
  }

  pathOf(key: string): string {
    const full = resolve(this.root, key);
    if (!full.startsWith(this.root + sep)) throw new Error(`storage key escapes the store: ${key}`);
    return full;
  }

  /** A fresh path for an upload in progress; moved into place with `commit`. */
  async tempPath(): Promise<string> {
    const dir = join(this.root, '.incoming');
    await mkdir(dir, { recursive: true });
    return join(dir, randomUUID());
  }

  /** Half-received uploads left by a crash; recent ones may belong to another running API process. */
  async removeStaleUploads(olderThanMs = 6 * 3600_000): Promise<void> {
    const dir = join(this.root, '.incoming');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const file = join(dir, name);
      const info = await stat(file).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > olderThanMs) await rm(file, { force: true });
    }
  }

  async commit(tempFile: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    await rename(tempFile, target);
  }

  read(key: string): Readable {
    return createReadStream(this.pathOf(key));
  }

  async writer(key: string): Promise<{ stream: Writable; commit: () => Promise<void>; abort: () => Promise<void> }> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.partial-${randomUUID()}`;
    return {
      stream: createWriteStream(temp),
      commit: () => rename(temp, target),
      abort: () => rm(temp, { force: true }),
    };
  }

  /**
   * A temporary path next to `key` for a writer that wants a file name rather than a stream
   * (sharp's toFile); `commit` moves it into place atomically, `abort` removes it.
   */
  async staging(key: string): Promise<{ path: string; commit: () => Promise<void>; abort: () => Promise<void> }> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.partial-${randomUUID()}`;
    return {
      path: temp,
      commit: () => rename(temp, target),
      abort: () => rm(temp, { force: true }),
    };
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  /** Size in bytes, or undefined when the file is gone. */
  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch {
      return undefined;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true, recursive: true });
  }
}
