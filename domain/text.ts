// The one rule for text the product accepts anywhere (bodies, headers, Update arguments): any
// Unicode text PostgreSQL can store unchanged. That rules out NUL (U+0000), which `text` columns
// refuse, and lone UTF-16 surrogates, which cannot be encoded as UTF-8 and would be stored altered.

export const STORABLE_TEXT_RULE = 'must be Unicode text without NUL characters (U+0000) or unpaired UTF-16 surrogates';

// NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what this finds
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when every code point can be stored in a PostgreSQL `text` column exactly as given. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/**
 * The first string inside `value` (any depth) that is not storable, with its JSON path. Walked
 * with a stack of its own, not by recursion: a body nested thousands deep (10 KB of brackets)
 * would otherwise overflow the call stack before any schema could refuse it.
 */
export function findUnstorableText(value: unknown, path = ''): string | undefined {
  const pending: [unknown, string][] = [[value, path]];
  while (pending.length > 0) {
    const [current, at] = pending.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return at || '(value)';
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([current[i], `${at}[${i}]`]);
    } else if (current && typeof current === 'object') {
      const entries = Object.entries(current);
      for (const [key] of entries) if (!isStorableText(key)) return at ? `${at}.${key}` : key;
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, inner] = entries[i]!;
        pending.push([inner, at ? `${at}.${key}` : key]);
      }
    }
  }
  return undefined;
}
