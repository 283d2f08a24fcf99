import { z } from 'zod';
import { isStorableText, STORABLE_TEXT_RULE } from '../../domain/text.js';

// The JSON Schema `pattern` can say "no NUL" portably; lone surrogates need the refinement, and
// the description states the whole rule for readers of the OpenAPI document.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what this refuses
const NO_NUL = /^[^\u0000]*$/;

/** Text as the product accepts it anywhere (domain/text.ts), with `error` for a missing or non-text value. */
export function storableText(error = 'expected text') {
  return z
    .string({ error: (i) => (i.input === undefined ? 'required' : error) })
    .regex(NO_NUL, { message: STORABLE_TEXT_RULE, abort: true })
    .refine(isStorableText, STORABLE_TEXT_RULE)
    .meta({ description: `Text; it ${STORABLE_TEXT_RULE}.` });
}
