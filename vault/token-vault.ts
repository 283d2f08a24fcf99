import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Tokens at rest: AES-256-GCM under a key with an id, so keys can rotate. A sealed value reads
 * `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url parts). The additional authenticated data binds
 * the version, the key id and a caller-chosen context (for example the connection id and the
 * field name), so a sealed token copied to another row or field fails to open.
 */

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** The key derived from APP_SECRET: the embedded setup's default, so no extra variable is needed. */
export const DERIVED_KEY_ID = 'app';

export class VaultError extends Error {
  override name = 'VaultError';
}

export interface Keyring {
  /** The key new values are sealed under. */
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

export interface KeyringSettings {
  /** Comma-separated `id:key` entries (key: 32 bytes as base64/base64url or 64 hex digits); `app` alone includes the derived key. */
  TOKEN_KEYS?: string;
  /** The id of the key to seal with; defaults to the last entry of TOKEN_KEYS. */
  TOKEN_KEY_ID?: string;
}

/**
 * The keyring from configuration. With TOKEN_KEYS unset, one key derived from the app secret (id
 * `app`). Rotation: add a key and make it active (the old one stays listed to open old values),
 * run the re-encryption command, then drop the old entry.
 */
export function loadKeyring(settings: KeyringSettings, appSecret: string): Keyring {
  const keys = new Map<string, Buffer>();
  const entries = (settings.TOKEN_KEYS ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) entries.push(DERIVED_KEY_ID);
  for (const entry of entries) {
    if (entry === DERIVED_KEY_ID) {
      keys.set(DERIVED_KEY_ID, deriveKey(appSecret));
      continue;
    }
    const colon = entry.indexOf(':');
    const id = colon === -1 ? entry : entry.slice(0, colon);
    if (!KEY_ID.test(id)) {
      throw new VaultError(`TOKEN_KEYS: "${id.slice(0, 40)}" is not a key id (letters, digits, _ or -, at most 32)`);
    }
    if (colon === -1) throw new VaultError(`TOKEN_KEYS: key "${id}" has no key material; write it as ${id}:<key>`);
    if (keys.has(id)) throw new VaultError(`TOKEN_KEYS: key id "${id}" appears twice`);
    // The value is never echoed: a typo in a key must not end up in a log.
    keys.set(id, parseKey(id, entry.slice(colon + 1).trim()));
  }
  const activeKeyId = settings.TOKEN_KEY_ID ?? entries.at(-1)?.split(':')[0] ?? DERIVED_KEY_ID;
  if (!keys.has(activeKeyId)) {
    throw new VaultError(
      `TOKEN_KEY_ID "${activeKeyId}" is not one of the keys in TOKEN_KEYS (${[...keys.keys()].join(', ')})`,
    );
  }
  return { activeKeyId, keys };
}

function parseKey(id: string, material: string): Buffer {
  const bytes = /^[0-9a-fA-F]{64}$/.test(material)
    ? Buffer.from(material, 'hex')
    : /^[A-Za-z0-9+/_-]+={0,2}$/.test(material)
      ? Buffer.from(material, 'base64')
      : Buffer.alloc(0);
  if (bytes.length !== KEY_BYTES) {
    throw new VaultError(
      `TOKEN_KEYS: key "${id}" must be ${KEY_BYTES} random bytes as base64 or 64 hex digits (for example: openssl rand -base64 32)`,
    );
  }
  return bytes;
}

/** HKDF so the token key is independent of the session-signing use of the same secret. */
export function deriveKey(appSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', appSecret, 'autopostpanel', 'token-vault v1', KEY_BYTES));
}

/** A fresh random key in the TOKEN_KEYS notation. */
export function generateKeyEntry(id: string): string {
  if (!KEY_ID.test(id)) throw new VaultError(`"${id}" is not a key id (letters, digits, _ or -, at most 32)`);
  return `${id}:${randomBytes(KEY_BYTES).toString('base64url')}`;
}

function aad(keyId: string, context: string): Buffer {
  return Buffer.from(`${VERSION}.${keyId}.${context}`, 'utf8');
}

export function encrypt(keyring: Keyring, plaintext: string, context: string): string {
  const keyId = keyring.activeKeyId;
  const key = keyring.keys.get(keyId);
  if (!key) throw new VaultError(`The active key "${keyId}" is not in the keyring`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(keyId, context));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [
    VERSION,
    keyId,
    iv.toString('base64url'),
    ciphertext.toString('base64url'),
    cipher.getAuthTag().toString('base64url'),
  ].join('.');
}

interface Sealed {
  keyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function parseSealed(sealed: string): Sealed {
  const parts = sealed.split('.');
  const [version, keyId, iv, ciphertext, tag] = parts;
  if (parts.length !== 5 || version !== VERSION || !keyId || iv === undefined || ciphertext === undefined || !tag) {
    throw new VaultError('Not a sealed token (expected v1.<key id>.<iv>.<ciphertext>.<tag>)');
  }
  const decoded = {
    keyId,
    iv: Buffer.from(iv, 'base64url'),
    ciphertext: Buffer.from(ciphertext, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
  if (decoded.iv.length !== IV_BYTES || decoded.tag.length !== TAG_BYTES) {
    throw new VaultError('Sealed token is damaged (wrong IV or tag length)');
  }
  return decoded;
}

/** The id of the key a sealed value was made with (for counting rows per key). */
export function keyIdOf(sealed: string): string {
  return parseSealed(sealed).keyId;
}

export function decrypt(keyring: Keyring, sealed: string, context: string): string {
  const parts = parseSealed(sealed);
  const key = keyring.keys.get(parts.keyId);
  if (!key) {
    throw new VaultError(
      `Sealed with key "${parts.keyId}", which is not in TOKEN_KEYS any more; add it back, or reconnect the account`,
    );
  }
  const decipher = createDecipheriv('aes-256-gcm', key, parts.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(parts.keyId, context));
  decipher.setAuthTag(parts.tag);
  try {
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new VaultError(
      'Sealed token failed authentication: it was altered, moved to another record, or the key is wrong',
    );
  }
}

/**
 * Re-seals a value under the active key, for the rotation command to apply to every stored row
 * (in one transaction per row). Values already under the active key are returned unchanged.
 */
export function reencrypt(keyring: Keyring, sealed: string, context: string): { sealed: string; changed: boolean } {
  if (keyIdOf(sealed) === keyring.activeKeyId) {
    // Opened anyway, so a damaged row is found by the rotation and not later by a publish.
    decrypt(keyring, sealed, context);
    return { sealed, changed: false };
  }
  return { sealed: encrypt(keyring, decrypt(keyring, sealed, context), context), changed: true };
}

/** Convenience for callers holding one keyring: encrypt/decrypt with the context bound. */
export function createTokenVault(keyring: Keyring) {
  return {
    activeKeyId: keyring.activeKeyId,
    seal: (plaintext: string, context: string) => encrypt(keyring, plaintext, context),
    open: (sealed: string, context: string) => decrypt(keyring, sealed, context),
    reseal: (sealed: string, context: string) => reencrypt(keyring, sealed, context),
  };
}

export type TokenVault = ReturnType<typeof createTokenVault>;
