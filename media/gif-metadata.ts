// A GIF's metadata lives in extension blocks between its pictures: comments (0xFE) and application
// extensions other than the looping one (XMP, ICC profiles, editors' own data). Dropping those
// blocks removes the metadata and leaves every frame, its timing and its looping as they were.
// Whatever follows the trailer is dropped too: decoders never look at it.

const EXTENSION = 0x21;
const IMAGE = 0x2c;
const TRAILER = 0x3b;
const GRAPHIC_CONTROL = 0xf9;
const PLAIN_TEXT = 0x01;
const APPLICATION = 0xff;
/** The application extensions that say how often an animation loops (Netscape's and its twin). */
const LOOPING = ['NETSCAPE2.0', 'ANIMEXTS1.0'];

/** 3 bytes per colour of a table whose size field (the low 3 bits of `packed`) is given. */
const tableBytes = (packed: number) => (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);

/**
 * The GIF without its comments and metadata extensions, ending at its trailer; undefined when its
 * structure cannot be followed to the trailer (the caller then re-encodes it instead).
 */
export function stripGifMetadata(gif: Buffer): Buffer | undefined {
  const signature = gif.subarray(0, 6).toString('latin1');
  if ((signature !== 'GIF87a' && signature !== 'GIF89a') || gif.length < 13) return undefined;
  const kept: Buffer[] = [];
  let at = 13 + tableBytes(gif[10]!);
  if (at > gif.length) return undefined;
  kept.push(gif.subarray(0, at));

  /** The end of the data sub-blocks starting at `from` (past their zero terminator), or -1. */
  const subBlocksEnd = (from: number): number => {
    let p = from;
    while (p < gif.length) {
      const size = gif[p]!;
      p += 1;
      if (size === 0) return p;
      p += size;
    }
    return -1;
  };

  while (at < gif.length) {
    const block = gif[at]!;
    if (block === TRAILER) {
      kept.push(gif.subarray(at, at + 1));
      return Buffer.concat(kept);
    }
    if (block === IMAGE) {
      const descriptorEnd = at + 10;
      if (descriptorEnd > gif.length) return undefined;
      // The local colour table, then the LZW code size, then the picture's sub-blocks.
      const end = subBlocksEnd(descriptorEnd + tableBytes(gif[at + 9]!) + 1);
      if (end < 0) return undefined;
      kept.push(gif.subarray(at, end));
      at = end;
      continue;
    }
    if (block !== EXTENSION || at + 2 > gif.length) return undefined;
    const label = gif[at + 1]!;
    const end = subBlocksEnd(at + 2);
    if (end < 0) return undefined;
    const identifier = gif.subarray(at + 3, at + 3 + Math.min(11, gif[at + 2] ?? 0)).toString('latin1');
    const keep =
      label === GRAPHIC_CONTROL ||
      label === PLAIN_TEXT ||
      (label === APPLICATION && gif[at + 2] === 11 && LOOPING.includes(identifier));
    if (keep) kept.push(gif.subarray(at, end));
    at = end;
  }
  return undefined;
}
