import sharp from 'sharp';

/**
 * A photo-like JPEG (smooth noise, so it compresses like a picture rather than a flat colour),
 * optionally stored sideways with EXIF orientation 6 plus camera and GPS tags, as phones write them.
 */
export async function makePhoto(width: number, height: number, options: { exifOrientation?: boolean } = {}) {
  const stored = options.exifOrientation ? { width: height, height: width } : { width, height };
  const seed = await sharp({
    create: {
      width: Math.ceil(stored.width / 16),
      height: Math.ceil(stored.height / 16),
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 50 },
    },
  })
    .png()
    .toBuffer();
  let image = sharp(seed).resize(stored.width, stored.height, { kernel: 'cubic' }).blur(0.8);
  if (options.exifOrientation) {
    image = image
      .withExif({
        IFD0: { Make: 'BenchCam', Model: 'Phone 12MP' },
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 8/1 2/1', GPSLongitudeRef: 'E', GPSLongitude: '11/1 34/1 0/1' },
      })
      .withMetadata({ orientation: 6 });
  }
  return image.jpeg({ quality: 92 }).toBuffer();
}

/** The 1200x900 image of the end-to-end scenario. */
export const smallPhoto = () => makePhoto(1200, 900);

/** A realistic 12-megapixel phone photo: 4000x3000 upright, stored sideways with EXIF orientation 6. */
export const phonePhoto = () => makePhoto(4000, 3000, { exifOrientation: true });
