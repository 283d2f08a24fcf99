import { copyFile, readFile, writeFile } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { stripGifMetadata } from './gif-metadata.js';
import { stripJpegMetadata } from './jpeg-metadata.js';

// One source image rendered for several targets with a single decode. Each target may reframe the
// picture to another aspect ratio: cropped around what draws the eye (attention), cropped around
// the centre, or padded onto a blurred, enlarged copy of itself.

export type ImageFit = 'attention' | 'centre' | 'pad';

export interface ImageTarget {
  maxWidth: number;
  maxHeight: number;
  /**
   * gif: a GIF source the target takes as it is (its frames, timing and looping kept, its
   * metadata removed), for platforms that accept GIF; the other rules do not apply to it.
   */
  format: 'jpeg' | 'png' | 'gif';
  quality: number;
  /** Width / height the rendition must have; absent: the source's. */
  aspect?: number | undefined;
  /**
   * Width / height the rendition must stay within, whatever the shortcuts: a reframe too small to
   * bother with is made all the same when the source is outside, and whole pixels never round out.
   */
  aspectRange?: { min?: number | undefined; max?: number | undefined } | undefined;
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

export interface RenderedImage extends OutputInfo {
  /** The source moves (an animated GIF or WebP) and the rendition is its first frame, still. */
  firstFrameOnly: boolean;
}

/** The size `fit: inside` without enlargement gives a width x height picture in a box. */
export function fitInside(width: number, height: number, rules: Pick<ImageTarget, 'maxWidth' | 'maxHeight'>) {
  const scale = Math.min(1, rules.maxWidth / width, rules.maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

const inRange = (aspect: number, range: ImageTarget['aspectRange']) =>
  !range || ((range.min === undefined || aspect >= range.min) && (range.max === undefined || aspect <= range.max));

/** The frame (in source pixels) a target shows: a crop of the source, or a canvas around it. */
function frameOf(width: number, height: number, target: ImageTarget) {
  const aspect = target.aspect;
  const nearly = aspect !== undefined && Math.abs(width / height - aspect) / aspect < 0.005;
  if (!aspect || (nearly && inRange(width / height, target.aspectRange))) return { width, height };
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
    return intoRange({ width: target.minWidth, height: Math.round(size.height * up) }, target);
  }
  return intoRange(size, target);
}

/**
 * The size moved into the target's aspect range by shaving whole pixels (the source's own shape
 * within half a percent, or rounding, can leave it a pixel or so outside); only ever smaller,
 * except a side held at its minimum width, which grows the height instead.
 */
function intoRange(size: { width: number; height: number }, { aspectRange: range, minWidth }: ImageTarget) {
  let { width, height } = size;
  if (range?.min !== undefined) {
    height = Math.max(1, Math.min(height, Math.floor(width / range.min)));
    // Division rounds; the comparison the rules make is the one that counts.
    while (width / height < range.min && height > 1) height -= 1;
  }
  if (range?.max !== undefined && width / height > range.max) {
    const least = Math.max(1, minWidth ?? 1);
    width = Math.max(least, Math.floor(height * range.max));
    while (width / height > range.max) {
      if (width > least) width -= 1;
      else height += 1;
    }
  }
  return { width, height };
}

/**
 * What a rendition the source already meets is: the source file itself, its metadata removed and
 * ending at its picture's EOI. Only for a JPEG that needs no turning, reframing, resizing or colour
 * conversion, and whose structure stripJpegMetadata can follow to that end; re-encoding it would
 * only lose quality.
 */
function keepsSource(header: Metadata, plan: Plan, rules: ImageTarget): boolean {
  return (
    rules.format === 'jpeg' &&
    header.format === 'jpeg' &&
    (header.orientation ?? 1) === 1 &&
    header.space === 'srgb' &&
    header.channels === 3 &&
    !header.icc &&
    plan.frame.width === header.width &&
    plan.frame.height === header.height &&
    plan.size.width === header.width &&
    plan.size.height === header.height
  );
}

interface Plan {
  frame: { width: number; height: number };
  size: { width: number; height: number };
  scale: number;
}

/**
 * Decodes the source once (auto-rotated by its EXIF orientation, converted to sRGB, shrunk to the
 * largest scale any target needs) and encodes every rendition from those pixels; targets that ask
 * for the same thing share one encode, and a target the source already meets gets the source
 * (keepsSource), as does a target asking for a GIF (gifAsItIs). Nothing of the source's metadata
 * (EXIF, GPS, XMP, ICC, GIF comments) is written out. Each result says whether it holds only the
 * first frame of a moving source, so the caller can tell the user.
 */
export async function renderImage(sourcePath: string, requests: ImageRendition[]): Promise<RenderedImage[]> {
  const header = await sharp(sourcePath, { failOn: 'error' }).metadata();
  const asGif = requests.map((r) => r.rules.format === 'gif');
  if (asGif.some(Boolean) && header.format !== 'gif') throw new Error('only a GIF can be passed on as a GIF');
  // Every other rendition is one still picture: of a moving source, its first frame.
  const moving = (header.pages ?? 1) > 1;
  const width = header.autoOrient?.width ?? header.width;
  const height = header.autoOrient?.height ?? header.height;
  if (!width || !height) throw new Error('the image has no dimensions');

  const plans: Plan[] = requests.map((r) => {
    const frame = frameOf(width, height, r.rules);
    const size = outputSize(frame, r.rules);
    return { frame, size, scale: size.width / frame.width };
  });

  const fits = requests.map((r, i) => !asGif[i] && keepsSource(header, plans[i]!, r.rules));
  const original = fits.some(Boolean) ? stripJpegMetadata(await readFile(sourcePath)) : undefined;
  const kept = requests.map(
    (r, i) => fits[i]! && original !== undefined && (!r.rules.maxBytes || original.length <= r.rules.maxBytes),
  );
  const encoded = requests.map((_, i) => i).filter((i) => !kept[i] && !asGif[i]);
  const scale = Math.min(1, Math.max(0, ...encoded.map((i) => plans[i]!.scale)));
  const allJpeg = encoded.every((i) => requests[i]!.rules.format !== 'png');
  // Decoded once, and only when some rendition is encoded.
  let decoded: Promise<{ data: Buffer; info: OutputInfo }> | undefined;
  const pixels = () => {
    decoded ??= decode(sourcePath, { width, height, scale, flatten: allJpeg });
    return decoded;
  };
  const encodeOne = async (i: number) => {
    const { data, info } = await pixels();
    const raw = { width: info.width, height: info.height, channels: info.channels as Raw['channels'] };
    return encode(await framed(data, raw, plans[i]!.size, requests[i]!.rules), plans[i]!.size, requests[i]!);
  };
  // Targets whose pictures come out the same share an encode; byte limits may differ, so one
  // takes the shared file only if it was not made smaller for another's limit and fits its own.
  const alike = requests.map((r, i) =>
    JSON.stringify([plans[i]!.frame, plans[i]!.size, r.rules.format, r.rules.quality, r.rules.aspect, r.rules.fit]),
  );
  // One picture to encode, of the whole frame: a single pipeline from the file skips the
  // decode-once path's two hand-offs of raw pixels (25.0 -> 20.7 ms of CPU for the bench photo,
  // BENCHMARKS.md). Over its byte limit, the decode-once path steps it down.
  const single =
    allJpeg &&
    new Set(encoded.map((i) => alike[i])).size === 1 &&
    encoded.every((i) => plans[i]!.frame.width === width && plans[i]!.frame.height === height);
  const encodeFirst = async (i: number) =>
    (single && (await encodeWhole(sourcePath, { width, height }, plans[i]!.size, requests[i]!))) || encodeOne(i);

  const results: Promise<Encoded>[] = [];
  const firstAlike = new Map<string, number>();
  const firstGif = asGif.indexOf(true);
  for (const [i, request] of requests.entries()) {
    const { rules } = request;
    if (i === firstGif) {
      results.push(gifAsItIs(sourcePath, header, request.path));
      continue;
    }
    if (asGif[i]) {
      results.push(
        results[firstGif]!.then(async (made) => {
          await copyFile(requests[firstGif]!.path, request.path);
          return made;
        }),
      );
      continue;
    }
    if (kept[i]) {
      results.push(
        writeFile(request.path, original!).then(() => ({
          info: sourceInfo(header, original!.length),
          steppedDown: false,
        })),
      );
      continue;
    }
    const first = firstAlike.get(alike[i]!);
    if (first === undefined) {
      firstAlike.set(alike[i]!, i);
      results.push(encodeFirst(i));
      continue;
    }
    results.push(
      results[first]!.then(async (shared) => {
        if (shared.steppedDown || (rules.maxBytes && shared.info.size > rules.maxBytes)) return encodeOne(i);
        await copyFile(requests[first]!.path, request.path);
        return shared;
      }),
    );
  }
  return (await Promise.all(results)).map((r, i) => ({ ...r.info, firstFrameOnly: moving && !asGif[i] }));
}

/**
 * The GIF as it is, without its comments and metadata extensions. One whose structure cannot be
 * followed is re-encoded by sharp, every frame and its timing kept and no metadata written.
 */
async function gifAsItIs(sourcePath: string, header: Metadata, path: string): Promise<Encoded> {
  const stripped = stripGifMetadata(await readFile(sourcePath));
  if (stripped) {
    await writeFile(path, stripped);
    return {
      info: { ...sourceInfo(header, stripped.length), format: 'gif', channels: header.channels ?? 3 },
      steppedDown: false,
    };
  }
  const info = await sharp(sourcePath, { failOn: 'error', animated: true }).gif().toFile(path);
  // sharp counts the frames' height stacked; the picture's is one frame's.
  return { info: { ...info, height: header.height }, steppedDown: false };
}

/**
 * One rendition straight from the file in a single pipeline: upright, sized, on white, sRGB, no
 * metadata. Undefined when it is over the target's byte limit: the caller steps down from pixels.
 */
async function encodeWhole(
  sourcePath: string,
  upright: { width: number; height: number },
  size: { width: number; height: number },
  { rules, path }: ImageRendition,
): Promise<Encoded | undefined> {
  let image = sharp(sourcePath, { failOn: 'error' }).autoOrient();
  if (size.width !== upright.width || size.height !== upright.height) {
    image = image.resize({ width: size.width, height: size.height, fit: 'fill' });
  }
  const info = await image
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .jpeg({ quality: rules.quality, optimiseCoding: true })
    .toFile(path);
  return rules.maxBytes && info.size > rules.maxBytes ? undefined : { info, steppedDown: false };
}

async function decode(
  sourcePath: string,
  how: { width: number; height: number; scale: number; flatten: boolean },
): Promise<{ data: Buffer; info: OutputInfo }> {
  let decoder = sharp(sourcePath, { failOn: 'error' }).autoOrient();
  if (how.scale < 1) {
    decoder = decoder.resize({
      width: Math.max(1, Math.round(how.width * how.scale)),
      height: Math.max(1, Math.round(how.height * how.scale)),
      fit: 'fill',
    });
  }
  if (how.flatten) decoder = decoder.flatten({ background: '#ffffff' });
  return decoder.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
}

/** The OutputInfo sharp would give for the source written as it is. */
function sourceInfo(header: Metadata, size: number): OutputInfo {
  return {
    format: 'jpeg',
    width: header.width,
    height: header.height,
    channels: 3,
    hasAlpha: false,
    premultiplied: false,
    size,
  };
}

/** An encoded rendition, and whether it was made smaller than asked to fit its byte limit. */
interface Encoded {
  info: OutputInfo;
  steppedDown: boolean;
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
): Promise<Encoded> {
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
    if (!rules.maxBytes || info.size <= rules.maxBytes || (quality <= 50 && scale <= 0.3)) {
      return { info, steppedDown: quality !== rules.quality || scale !== 1 };
    }
    if (rules.format === 'jpeg' && quality > 50) quality -= 10;
    else scale *= 0.8;
  }
}
