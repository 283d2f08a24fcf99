// Video types told apart by their first bytes (never by name or the sender's Content-Type),
// alongside storage/sniff.ts for images.

export interface SniffedVideo {
  mime: string;
  ext: string;
  kind: 'video';
}

// ISO base media brands that mean a video file (AVIF/HEIF images share the box layout).
const MP4_BRANDS = new Set([
  'isom',
  'iso2',
  'iso4',
  'iso5',
  'iso6',
  'mp41',
  'mp42',
  'avc1',
  'M4V ',
  'M4VH',
  'dash',
  'mmp4',
]);
// Old QuickTime files may open with one of these atoms instead of `ftyp`.
const QUICKTIME_ATOMS = new Set(['moov', 'mdat', 'wide']);

const text = (bytes: Uint8Array, from: number, to: number) => String.fromCharCode(...bytes.slice(from, to));

export function sniffVideoType(head: Uint8Array): SniffedVideo | undefined {
  if (head.length >= 12 && text(head, 4, 8) === 'ftyp') {
    const brand = text(head, 8, 12);
    if (brand === 'qt  ') return { mime: 'video/quicktime', ext: 'mov', kind: 'video' };
    if (MP4_BRANDS.has(brand)) return { mime: 'video/mp4', ext: 'mp4', kind: 'video' };
    return undefined;
  }
  if (head.length >= 8 && QUICKTIME_ATOMS.has(text(head, 4, 8))) {
    return { mime: 'video/quicktime', ext: 'mov', kind: 'video' };
  }
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    // EBML: the DocType element (0x4282) says whether this is WebM or other Matroska.
    const docType = text(head, 0, Math.min(head.length, 64));
    if (docType.includes('webm')) return { mime: 'video/webm', ext: 'webm', kind: 'video' };
    if (docType.includes('matroska')) return { mime: 'video/x-matroska', ext: 'mkv', kind: 'video' };
  }
  return undefined;
}

export const SUPPORTED_VIDEO_TYPES = ['video/mp4', 'video/quicktime', 'video/webm'];
