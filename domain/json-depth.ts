/** Deeper than any body the product takes (drafts, briefs, cadences nest a few levels). */
export const MAX_JSON_DEPTH = 32;

/**
 * The JSON path of the first place where `value` nests deeper than `max` arrays and objects, or
 * undefined. Walked with a stack of its own: a body nested thousands deep parses, but it would
 * overflow the call stack of whatever serialises it later (Temporal's payload converter among them).
 */
export function findTooDeep(value: unknown, max = MAX_JSON_DEPTH): string | undefined {
  const pending: [unknown, string, number][] = [[value, '', 0]];
  while (pending.length > 0) {
    const [current, at, depth] = pending.pop()!;
    if (!current || typeof current !== 'object') continue;
    if (depth >= max) return at || '(value)';
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([current[i], `${at}[${i}]`, depth + 1]);
    } else {
      for (const [key, inner] of Object.entries(current)) pending.push([inner, at ? `${at}.${key}` : key, depth + 1]);
    }
  }
  return undefined;
}
