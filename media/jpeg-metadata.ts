// A JPEG's metadata lives in marker segments before its first scan: EXIF (with GPS) and XMP in
// APP1, ICC profiles, FlashPix and the MPO index (MPF) in APP2, Photoshop/IPTC in APP13, comments
// in COM. Dropping those segments removes the metadata and leaves the compressed pixels as they
// were. Whatever follows the picture's EOI is dropped too: phones append an MPO's second image
// (with its own EXIF and GPS) or a motion photo's video there, and decoders never look at it.

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DQT = 0xdb;
const DNL = 0xdc;
const DRI = 0xdd;
const DHT = 0xc4;
const COM = 0xfe;
/** Adobe's APP14 says how the colour channels are coded; a decoder needs it. */
const APP14_ADOBE = 0xee;

function isStandalone(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);
}

/** Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
function isFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Baseline, extended or progressive Huffman coding at 8 bits: what every platform and browser reads. */
function isCommonFrame(marker: number, precision: number | undefined): boolean {
  return (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) && precision === 8;
}

function isMetadata(marker: number): boolean {
  return marker === COM || (marker >= 0xe1 && marker <= 0xef && marker !== APP14_ADOBE);
}

/** Tables and scans of a progressive or multi-scan picture may follow its first scan; nothing else may. */
function mayFollowScan(marker: number): boolean {
  return marker === SOS || marker === DHT || marker === DQT || marker === DRI || marker === DNL;
}

/**
 * Where the entropy-coded data starting at `pos` ends: at the first 0xFF that is neither a stuffed
 * zero (FF00), a restart marker (FFD0-FFD7) nor fill before a marker.
 */
function endOfScanData(bytes: Buffer, pos: number): number {
  let at = pos;
  for (;;) {
    at = bytes.indexOf(0xff, at);
    if (at < 0 || at + 1 >= bytes.length) return -1;
    const next = bytes[at + 1]!;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2;
    else if (next === 0xff) at += 1;
    else return at;
  }
}

/**
 * The JPEG without its metadata segments (APP1-APP15 except Adobe's APP14, and comments), the
 * frame, tables and scans byte for byte, ending at the picture's EOI. Undefined when the bytes are
 * not a JPEG this can follow from SOI to EOI, or one coded in a way few readers take (arithmetic,
 * lossless, 12-bit): those are re-encoded, which writes nothing but the pixels.
 */
export function stripJpegMetadata(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return undefined;
  const kept: Buffer[] = [bytes.subarray(0, 2)];
  let pos = 2;
  let scanned = false;
  while (pos + 1 < bytes.length) {
    if (bytes[pos] !== 0xff) return undefined;
    // Any number of 0xFF fill bytes may precede a marker.
    while (pos + 1 < bytes.length && bytes[pos + 1] === 0xff) pos++;
    if (pos + 1 >= bytes.length) return undefined;
    const marker = bytes[pos + 1]!;
    if (marker === EOI) {
      if (!scanned) return undefined;
      kept.push(bytes.subarray(pos, pos + 2));
      return Buffer.concat(kept);
    }
    if (isStandalone(marker)) {
      if (scanned) return undefined;
      kept.push(bytes.subarray(pos, pos + 2));
      pos += 2;
      continue;
    }
    if (scanned && !mayFollowScan(marker) && !isMetadata(marker)) return undefined;
    if (pos + 4 > bytes.length) return undefined;
    const end = pos + 2 + bytes.readUInt16BE(pos + 2);
    if (end > bytes.length || end < pos + 4) return undefined;
    if (isFrame(marker) && !isCommonFrame(marker, bytes[pos + 4])) return undefined;
    if (marker === SOS) {
      const dataEnd = endOfScanData(bytes, end);
      if (dataEnd < 0) return undefined;
      kept.push(bytes.subarray(pos, dataEnd));
      scanned = true;
      pos = dataEnd;
      continue;
    }
    if (!isMetadata(marker)) kept.push(bytes.subarray(pos, end));
    pos = end;
  }
  return undefined;
}
