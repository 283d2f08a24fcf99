import { describe, expect, it } from 'vitest';
import {
  createTokenVault,
  DERIVED_KEY_ID,
  decrypt,
  encrypt,
  generateKeyEntry,
  type Keyring,
  keyIdOf,
  loadKeyring,
  reencrypt,
  VaultError,
} from '../vault/token-vault.js';

const APP_SECRET = 'an-app-secret-that-is-long-enough-0123456789';
const TOKEN = 'act.example12345Example12345Example';

function failure(run: () => unknown): VaultError {
  try {
    run();
  } catch (err) {
    if (err instanceof VaultError) return err;
    throw err;
  }
  throw new Error('expected a VaultError');
}

/** Flips one bit of a base64url part of a sealed value. */
function flip(sealed: string, partIndex: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[partIndex] as string, 'base64url');
  bytes[0] = (bytes[0] as number) ^ 1;
  parts[partIndex] = bytes.toString('base64url');
  return parts.join('.');
}

describe('token vault: sealing', () => {
  const keyring = loadKeyring({}, APP_SECRET);

  it('defaults to one key derived from the app secret, and round-trips a token', () => {
    expect(keyring.activeKeyId).toBe(DERIVED_KEY_ID);
    const sealed = encrypt(keyring, TOKEN, 'connection-1:access');
    expect(sealed).toMatch(/^v1\.app\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain(TOKEN);
    expect(decrypt(keyring, sealed, 'connection-1:access')).toBe(TOKEN);
    // The same secret on another start derives the same key.
    expect(decrypt(loadKeyring({}, APP_SECRET), sealed, 'connection-1:access')).toBe(TOKEN);
  });

  it('seals the same token differently each time (fresh IV)', () => {
    const a = encrypt(keyring, TOKEN, 'c');
    const b = encrypt(keyring, TOKEN, 'c');
    expect(a).not.toBe(b);
  });

  it('detects tampering with the IV, ciphertext or tag', () => {
    const sealed = encrypt(keyring, TOKEN, 'c');
    for (const part of [2, 3, 4]) {
      expect(failure(() => decrypt(keyring, flip(sealed, part), 'c')).message).toMatch(/failed authentication/);
    }
  });

  it('refuses a sealed token moved to another record or field (context bound)', () => {
    const sealed = encrypt(keyring, TOKEN, 'connection-1:access');
    expect(() => decrypt(keyring, sealed, 'connection-2:access')).toThrow(VaultError);
    expect(() => decrypt(keyring, sealed, 'connection-1:refresh')).toThrow(VaultError);
  });

  it('refuses a relabelled key id and malformed values', () => {
    const two = loadKeyring({ TOKEN_KEYS: `app,${generateKeyEntry('k2')}`, TOKEN_KEY_ID: 'app' }, APP_SECRET);
    const sealed = encrypt(two, TOKEN, 'c');
    const relabelled = sealed.replace(/^v1\.app\./, 'v1.k2.');
    expect(() => decrypt(two, relabelled, 'c')).toThrow(/failed authentication/);
    expect(() => decrypt(two, 'not-a-sealed-token', 'c')).toThrow(/Not a sealed token/);
    expect(() => decrypt(two, 'v1.app.AAAA.BBBB.CCCC', 'c')).toThrow(/damaged/);
  });

  it('a different app secret cannot open the tokens', () => {
    const sealed = encrypt(keyring, TOKEN, 'c');
    const other = loadKeyring({}, 'another-app-secret-that-is-long-enough-987654');
    expect(() => decrypt(other, sealed, 'c')).toThrow(/failed authentication/);
  });
});

describe('token vault: keyring from configuration', () => {
  it('reads id:key entries in base64, base64url or hex; the last one is active unless TOKEN_KEY_ID says', () => {
    const hex = 'ab'.repeat(32);
    const b64 = Buffer.alloc(32, 7).toString('base64');
    const ring = loadKeyring({ TOKEN_KEYS: `old:${hex}, new:${b64}` }, APP_SECRET);
    expect(ring.activeKeyId).toBe('new');
    expect([...ring.keys.keys()]).toEqual(['old', 'new']);
    expect(loadKeyring({ TOKEN_KEYS: `old:${hex},new:${b64}`, TOKEN_KEY_ID: 'old' }, APP_SECRET).activeKeyId).toBe(
      'old',
    );
  });

  it('explains bad entries without echoing key material', () => {
    const material = 'c2hvcnQta2V5';
    const short = failure(() => loadKeyring({ TOKEN_KEYS: `k1:${material}` }, APP_SECRET));
    expect(short.message).toMatch(/k1.*32 random bytes/);
    expect(short.message).not.toContain(material);
    expect(failure(() => loadKeyring({ TOKEN_KEYS: 'k1' }, APP_SECRET)).message).toMatch(/no key material/);
    expect(failure(() => loadKeyring({ TOKEN_KEYS: `bad id:${'ab'.repeat(32)}` }, APP_SECRET)).message).toMatch(
      /not a key id/,
    );
    const entry = generateKeyEntry('k1');
    expect(failure(() => loadKeyring({ TOKEN_KEYS: `${entry},${entry}` }, APP_SECRET)).message).toMatch(/twice/);
    expect(failure(() => loadKeyring({ TOKEN_KEYS: entry, TOKEN_KEY_ID: 'k9' }, APP_SECRET)).message).toMatch(
      /TOKEN_KEY_ID "k9" is not one of the keys/,
    );
  });
});

describe('token vault: key rotation', () => {
  it('re-encrypts every row under the new key, after which the old key can be removed', () => {
    const before = loadKeyring({}, APP_SECRET);
    const rows = Array.from({ length: 5 }, (_, i) => ({
      context: `connection-${i}:access`,
      plaintext: `token-${i}-${'x'.repeat(i * 7)}`,
    }));
    const stored = rows.map((row) => encrypt(before, row.plaintext, row.context));

    // Step 1: the new key is added and made active; the derived one stays listed to open old rows.
    const newKey = generateKeyEntry('k2');
    const during: Keyring = loadKeyring({ TOKEN_KEYS: `app,${newKey}` }, APP_SECRET);
    expect(during.activeKeyId).toBe('k2');
    const rotated = stored.map((sealed, i) => reencrypt(during, sealed, rows[i]?.context as string));
    expect(rotated.every((r) => r.changed)).toBe(true);
    expect(rotated.map((r) => keyIdOf(r.sealed))).toEqual(Array(5).fill('k2'));
    // A second run finds nothing to do (the command is safe to re-run after a crash).
    expect(rotated.map((r, i) => reencrypt(during, r.sealed, rows[i]?.context as string).changed)).toEqual(
      Array(5).fill(false),
    );

    // Step 2: the old key is removed; every row still opens.
    const after = loadKeyring({ TOKEN_KEYS: newKey }, APP_SECRET);
    expect([...after.keys.keys()]).toEqual(['k2']);
    expect(rotated.map((r, i) => decrypt(after, r.sealed, rows[i]?.context as string))).toEqual(
      rows.map((r) => r.plaintext),
    );
    // A row the rotation missed names the key it needs.
    expect(failure(() => decrypt(after, stored[0] as string, rows[0]?.context as string)).message).toMatch(
      /key "app", which is not in TOKEN_KEYS/,
    );
  });

  it('rotation stops at a damaged row instead of re-sealing garbage', () => {
    const ring = loadKeyring({ TOKEN_KEYS: `app,${generateKeyEntry('k2')}` }, APP_SECRET);
    const damaged = flip(encrypt(loadKeyring({}, APP_SECRET), TOKEN, 'c'), 3);
    expect(() => reencrypt(ring, damaged, 'c')).toThrow(VaultError);
    const damagedActive = flip(encrypt(ring, TOKEN, 'c'), 3);
    expect(() => reencrypt(ring, damagedActive, 'c')).toThrow(VaultError);
  });

  it('the vault object binds one keyring', () => {
    const vault = createTokenVault(loadKeyring({ TOKEN_KEYS: generateKeyEntry('solo') }, APP_SECRET));
    const sealed = vault.seal(TOKEN, 'ctx');
    expect(vault.activeKeyId).toBe('solo');
    expect(vault.open(sealed, 'ctx')).toBe(TOKEN);
    expect(vault.reseal(sealed, 'ctx').changed).toBe(false);
  });
});
