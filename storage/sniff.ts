/** Media types we accept, told apart by their first bytes (never by name or client header). */
export interface SniffedType {
  mime: string;
  ext: string;
  kind: 'image';
}

const ascii = (bytes: Uint8Array, offset: number, text: string) =>
  text.split('').every((ch, i) => bytes[offset + i] === ch.charCodeAt(0));

export function sniffMediaType(head: Uint8Array): SniffedType | undefined {
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff)
    return { mime: 'image/jpeg', ext: 'jpg', kind: 'image' };
  if (ascii(head, 0, '\x89PNG\r\n\x1a\n')) return { mime: 'image/png', ext: 'png', kind: 'image' };
  if (ascii(head, 0, 'GIF87a') || ascii(head, 0, 'GIF89a')) return { mime: 'image/gif', ext: 'gif', kind: 'image' };
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return { mime: 'image/webp', ext: 'webp', kind: 'image' };
  if (ascii(head, 4, 'ftyp')) {
    const brand = String.fromCharCode(...head.slice(8, 12));
    if (brand === 'avif' || brand === 'avis') return { mime: 'image/avif', ext: 'avif', kind: 'image' };
  }
  return undefined;
}

export const SUPPORTED_UPLOAD_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif'];
