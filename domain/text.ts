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

/** The first string inside `value` (any depth) that is not storable, with its JSON path. */
export function findUnstorableText(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path || '(value)';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (!isStorableText(key)) return path ? `${path}.${key}` : key;
      const found = findUnstorableText(inner, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return undefined;
}
