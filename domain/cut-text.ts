/**
 * `value` cut to at most `max` UTF-16 units without splitting what a reader sees as one character:
 * a cut inside a surrogate pair leaves invalid UTF-8, one inside a flag or a family emoji half a
 * picture. UTF-16 units are what the draft schemas count (zod), and never more than the code
 * points the platform checks count, so the result passes both. A first character longer than
 * `max` on its own (a letter under a hundred combining marks) is cut between code points instead
 * of leaving nothing. Not for workflow code: grapheme rules follow the ICU version.
 */
export function cutText(value: string, max: number): string {
  let kept = '';
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(value)) {
    if (kept.length + segment.length > max) {
      if (kept !== '') return kept;
      for (const point of segment) {
        if (kept.length + point.length > max) break;
        kept += point;
      }
      return kept;
    }
    kept += segment;
  }
  return kept;
}
