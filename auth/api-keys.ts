import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'app_';

/** A new key: shown to its owner once; only its hash is stored. */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = `${PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, prefix: key.slice(0, PREFIX.length + 6), hash: hashApiKey(key) };
}

// 256 random bits need no slow hash: SHA-256 cannot be reversed or guessed at this entropy.
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(PREFIX) && value.length > PREFIX.length + 20;
}
