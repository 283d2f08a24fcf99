import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../runtime/config.js';
import { loadOrCreateSecret } from '../runtime/secret.js';

describe('loadConfig', () => {
  it('runs on embedded defaults with nothing set', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      DATA_DIR: '/srv/app/data',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'autopostpanel',
      MEDIA_MAX_BYTES: 4 * 1024 ** 3 + 16 * 1024 ** 2,
      LOG_LEVEL: 'info',
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.TEMPORAL_ADDRESS).toBeUndefined();
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', TEMPORAL_ADDRESS: ' ' }).DATABASE_URL).toBeUndefined();
  });

  it('reports every bad value by name, with what is expected, and never echoes secrets', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://user:hunter2@db/app',
        TEMPORAL_ADDRESS: 'http://temporal',
        APP_SECRET: 'short-secret',
        MEDIA_MAX_BYTES: '-5',
        LOG_LEVEL: 'loud',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems).toHaveLength(6);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PORT: expected .*number.* \(got "eighty"\)/),
        expect.stringMatching(/^DATABASE_URL: expected a postgres:\/\/ or postgresql:\/\/ URL \(got "\[redacted\]"\)/),
        expect.stringMatching(/^TEMPORAL_ADDRESS: expected host:port/),
        expect.stringMatching(/^APP_SECRET: expected at least 32 characters/),
        expect.stringMatching(/^MEDIA_MAX_BYTES: expected a positive number of bytes/),
        expect.stringMatching(/^LOG_LEVEL: expected one of/),
      ]),
    );
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short-secret');
  });
});

describe('loadOrCreateSecret', () => {
  it('generates a secret once, keeps it private on disk, and returns the same one later', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'secret-'));
    const first = await loadOrCreateSecret(dir);
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(await loadOrCreateSecret(dir)).toBe(first);
    expect((await readFile(join(dir, 'secret.key'), 'utf8')).trim()).toBe(first);
    expect((await stat(join(dir, 'secret.key'))).mode & 0o077).toBe(0);
    expect(await loadOrCreateSecret(dir, 'x'.repeat(40))).toBe('x'.repeat(40));
  });

  it('refuses an empty or truncated secret file instead of signing with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'secret-'));
    await writeFile(join(dir, 'secret.key'), '');
    await expect(loadOrCreateSecret(dir)).rejects.toThrow(/secret\.key holds no usable secret/);
  });
});
