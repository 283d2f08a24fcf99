import sharp, { type OutputInfo } from 'sharp';

// One source image rendered for several targets with a single decode. Each target may reframe the
// picture to another aspect ratio: cropped around what draws the eye (attention), cropped around
// the centre, or padded onto a blurred, enlarged copy of itself.

export type ImageFit = 'attention' | 'centre' | 'pad';

export interface ImageTarget {
  maxWidth: number;
  maxHeight: number;
  format: 'jpeg' | 'png';
  quality: number;
  /** Width / height the rendition must have; absent: the source's. */
  aspect?: number | undefined;
  fit?: ImageFit | undefined;
  /** Encoded at lower quality, then smaller, until it fits. */
  maxBytes?: number | undefined;
  /** Smallest width a platform accepts (the picture is enlarged to reach it). */
  minWidth?: number | undefined;
}

export interface ImageRendition {
  rules: ImageTarget;
  /** Where to write the encoded file. */
  path: string;
}

/** The size `fit: inside` without enlargement gives a width x height picture in a box. */
export function fitInside(width: number, height: number, rules: Pick<ImageTarget, 'maxWidth' | 'maxHeight'>) {
  const scale = Math.min(1, rules.maxWidth / width, rules.maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The frame (in source pixels) a target shows: a crop of the source, or a canvas around it. */
function frameOf(width: number, height: number, target: ImageTarget) {
  const aspect = target.aspect;
  if (!aspect || Math.abs(width / height - aspect) / aspect < 0.005) return { width, height };
  const wider = width / height > aspect;
  if (target.fit === 'pad') {
    return wider ? { width, height: Math.round(width / aspect) } : { width: Math.round(height * aspect), height };
  }
  return wider ? { width: Math.round(height * aspect), height } : { width, height: Math.round(width / aspect) };
}

function outputSize(frame: { width: number; height: number }, target: ImageTarget) {
  const size = fitInside(frame.width, frame.height, target);
  if (target.minWidth && size.width < target.minWidth) {
    const up = target.minWidth / size.width;
    return { width: target.minWidth, height: Math.round(size.height * up) };
  }
  return size;
}

/**
 * Decodes the source once (auto-rotated by its EXIF orientation, converted to sRGB, shrunk to the
 * largest scale any target needs) and encodes every rendition from those pixels. Nothing of the
 * source's metadata (EXIF, GPS, XMP, ICC) is written out.
 */
export async function renderImage(sourcePath: string, requests: ImageRendition[]): Promise<OutputInfo[]> {
  const header = await sharp(sourcePath, { failOn: 'error' }).metadata();
  const width = header.autoOrient?.width ?? header.width;
  const height = header.autoOrient?.height ?? header.height;
  if (!width || !height) throw new Error('the image has no dimensions');

  const plans = requests.map((r) => {
    const frame = frameOf(width, height, r.rules);
    const size = outputSize(frame, r.rules);
    return { frame, size, scale: size.width / frame.width };
  });
  const scale = Math.min(1, Math.max(...plans.map((p) => p.scale)));
  const allJpeg = requests.every((r) => r.rules.format !== 'png');

  let decoder = sharp(sourcePath, { failOn: 'error' }).autoOrient();
  if (scale < 1) {
    decoder = decoder.resize({
      width: Math.max(1, Math.round(width * scale)),
      height: Math.max(1, Math.round(height * scale)),
      fit: 'fill',
    });
  }
  if (allJpeg) decoder = decoder.flatten({ background: '#ffffff' });
  const { data, info } = await decoder.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };

  return Promise.all(
    requests.map(async (request, i) => {
      const { size } = plans[i]!;
      const pixels = await framed(data, raw, size, request.rules);
      return encode(pixels, size, request);
    }),
  );
}

type Raw = { width: number; height: number; channels: 1 | 2 | 3 | 4 };

/** The target's pixels at its output size, reframed as it asks. */
async function framed(data: Buffer, raw: Raw, size: { width: number; height: number }, target: ImageTarget) {
  const source = () => sharp(data, { raw });
  const sameShape = Math.abs(raw.width / raw.height - size.width / size.height) < 0.01;
  if (sameShape || target.fit !== 'pad') {
    const position = target.fit === 'attention' ? sharp.strategy.attention : 'centre';
    return source()
      .resize({ width: size.width, height: size.height, fit: sameShape ? 'fill' : 'cover', position })
      .raw()
      .toBuffer({ resolveWithObject: true });
  }
  const radius = Math.max(8, Math.round(Math.min(size.width, size.height) / 20));
  const background = await source()
    .resize({ width: size.width, height: size.height, fit: 'cover' })
    .blur(radius)
    .modulate({ brightness: 0.8 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const foreground = await source()
    .resize({ width: size.width, height: size.height, fit: 'inside' })
    .png()
    .toBuffer({ resolveWithObject: true });
  return sharp(background.data, { raw: background.info as Raw })
    .composite([
      {
        input: foreground.data,
        left: Math.floor((size.width - foreground.info.width) / 2),
        top: Math.floor((size.height - foreground.info.height) / 2),
      },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
}

async function encode(
  pixels: { data: Buffer; info: { width: number; height: number; channels: number } },
  size: { width: number; height: number },
  request: ImageRendition,
): Promise<OutputInfo> {
  const raw = {
    width: pixels.info.width,
    height: pixels.info.height,
    channels: pixels.info.channels as Raw['channels'],
  };
  const { rules } = request;
  let quality = rules.quality;
  let scale = 1;
  for (;;) {
    let image = sharp(pixels.data, { raw });
    if (scale < 1) {
      image = image.resize({ width: Math.round(size.width * scale), height: Math.round(size.height * scale) });
    }
    // libjpeg-turbo with Huffman optimisation: mozjpeg's trellis search costs ~6x the time for
    // files about a tenth smaller, which no platform asks for.
    const encoded =
      rules.format === 'png'
        ? image.png()
        : image.flatten({ background: '#ffffff' }).jpeg({ quality, optimiseCoding: true });
    const info = await encoded.toFile(request.path);
    if (!rules.maxBytes || info.size <= rules.maxBytes || (quality <= 50 && scale <= 0.3)) return info;
    if (rules.format === 'jpeg' && quality > 50) quality -= 10;
    else scale *= 0.8;
  }
}
