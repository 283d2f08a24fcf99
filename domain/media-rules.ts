// What each platform accepts, per placement, as data: the one source the media check, the renderer
// and the API documentation (`GET /api/v1/platforms`) read. Pure and JSON-serialisable (no
// functions, no Infinity), free of Node built-ins: workflows may import it.
// Every value comes from ../shared/platform-apis.md (sections 1.8, 2.7, 3.7, 4.6, 4.9); where the
// sources disagree (section 5) the stricter value is used, so a file we accept is accepted by both.

export const MEDIA_PLATFORMS = ['generic', 'tiktok', 'youtube', 'instagram', 'facebook'] as const;
export type MediaPlatform = (typeof MEDIA_PLATFORMS)[number];

export const PLACEMENTS = ['feed_image', 'carousel_item', 'reel', 'story', 'short', 'thumbnail', 'video'] as const;
export type Placement = (typeof PLACEMENTS)[number];

export type MediaKind = 'image' | 'video';
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif';
export type VideoContainer = 'mp4' | 'mov' | 'webm' | 'mkv' | 'avi';
export type VideoCodec = 'h264' | 'hevc' | 'vp8' | 'vp9' | 'av1';
export type AudioCodec = 'aac' | 'mp3' | 'opus' | 'vorbis';

/** Inclusive bounds; a missing side is unbounded. */
export interface Range {
  min?: number;
  max?: number;
}

/** The frame renditions aim for: the long side and the short side, whatever the orientation. */
export interface RenditionBox {
  long: number;
  short: number;
}

export interface ImageRules {
  formats: readonly ImageFormat[];
  maxBytes: number;
  width?: Range;
  height?: Range;
  /** Width divided by height. */
  aspect?: Range;
  /** What a crop or pad aims for when the aspect is out of range or the user asks to reframe. */
  preferredAspect?: number;
  box: RenditionBox;
  /** Colours must be (or are converted to) sRGB. */
  srgb: boolean;
}

export interface VideoRules {
  containers: readonly VideoContainer[];
  videoCodecs: readonly VideoCodec[];
  /** Codecs the audio track may use; a silent video is always fine. */
  audioCodecs: readonly AudioCodec[];
  maxBytes?: number;
  durationSec: Range;
  frameRate?: Range;
  /** The platform refuses variable frame rate. */
  constantFrameRate?: boolean;
  width?: Range;
  height?: Range;
  aspect?: Range;
  preferredAspect?: number;
  /** Bits per second. */
  maxVideoBitrate?: number;
  maxAudioBitrate?: number;
  minAudioBitrate?: number;
  maxAudioSampleRate?: number;
  minAudioSampleRate?: number;
  maxAudioChannels?: number;
  minAudioChannels?: number;
  /** AAC profiles accepted, as ffprobe names them ("LC", "HE-AAC", "HE-AACv2", "Main"); any when absent. */
  aacProfiles?: readonly string[];
  /** The index (moov atom) must come before the media data. */
  faststart?: boolean;
  /** Progressive frames only (no interlacing). */
  progressive?: boolean;
  /** 4:2:0 chroma subsampling only (e.g. yuv420p). */
  chroma420?: boolean;
  box: RenditionBox;
}

export interface PlacementRules {
  placement: Placement;
  label: string;
  image?: ImageRules;
  video?: VideoRules;
  /** Items in one post of this placement (carousels, photo posts). */
  items?: Range;
  /** Facts the rules cannot express, in words, for people and documentation. */
  notes?: readonly string[];
}

export type TextUnit = 'characters' | 'utf16_units' | 'bytes' | 'count';

export interface TextLimit {
  field: string;
  max: number;
  unit: TextUnit;
  note?: string;
}

export interface PlatformRules {
  platform: MediaPlatform;
  label: string;
  text: readonly TextLimit[];
  placements: Partial<Record<Placement, PlacementRules>>;
  /** Where a file goes when the post names no placement. */
  defaultPlacement: Record<MediaKind, Placement>;
  /** What a post must carry: a video (YouTube), some image or video, or nothing (text posts). */
  requires: 'video' | 'media' | 'nothing';
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
// Meta and Google do not say whether "MB" is 10^6 or 2^20 bytes: the smaller reading is safe.
const MB = 1000 * 1000;
const GB = 1000 * MB;
const Mbps = 1_000_000;
const kbps = 1000;

const FULL_HD: RenditionBox = { long: 1920, short: 1080 };
const NINE_SIXTEEN = 9 / 16;
const SIXTEEN_NINE = 16 / 9;

// Output of every transcode: the one combination all five targets accept.
const H264_AAC = { videoCodecs: ['h264'], audioCodecs: ['aac'] } as const;

const tiktokVideo: VideoRules = {
  containers: ['mp4', 'webm', 'mov'],
  videoCodecs: ['h264', 'hevc', 'vp8', 'vp9'],
  audioCodecs: ['aac', 'mp3', 'opus', 'vorbis'],
  maxBytes: 4 * GiB,
  durationSec: { min: 1, max: 600 },
  frameRate: { min: 23, max: 60 },
  width: { min: 360, max: 4096 },
  height: { min: 360, max: 4096 },
  preferredAspect: NINE_SIXTEEN,
  box: FULL_HD,
};

const tiktokPhoto: ImageRules = {
  formats: ['jpeg', 'webp'],
  maxBytes: 20 * MiB,
  width: { max: 1080 },
  height: { max: 1920 },
  box: FULL_HD,
  srgb: true,
};

const instagramImage: ImageRules = {
  formats: ['jpeg'],
  maxBytes: 8 * MB,
  width: { min: 320, max: 1440 },
  aspect: { min: 4 / 5, max: 1.91 },
  preferredAspect: 4 / 5,
  box: { long: 1440, short: 1440 },
  srgb: true,
};

const instagramReel: VideoRules = {
  containers: ['mp4', 'mov'],
  videoCodecs: ['h264', 'hevc'],
  audioCodecs: ['aac'],
  // 1 GB in one copy of the reference, 300 MB in others (platform-apis.md section 5).
  maxBytes: 300 * MB,
  durationSec: { min: 3, max: 15 * 60 },
  frameRate: { min: 23, max: 60 },
  width: { max: 1920 },
  aspect: { min: 0.01, max: 10 },
  preferredAspect: NINE_SIXTEEN,
  maxVideoBitrate: 25 * Mbps,
  maxAudioBitrate: 128 * kbps,
  maxAudioSampleRate: 48_000,
  maxAudioChannels: 2,
  faststart: true,
  progressive: true,
  chroma420: true,
  box: FULL_HD,
};

const facebookPhoto: ImageRules = {
  formats: ['jpeg', 'png', 'gif'],
  // 4 MB in one locale of the docs, 10 MB in another (section 5).
  maxBytes: 4 * MB,
  box: { long: 2048, short: 2048 },
  srgb: true,
};

const facebookReel: VideoRules = {
  containers: ['mp4'],
  videoCodecs: ['h264', 'hevc', 'vp9', 'av1'],
  durationSec: { min: 3, max: 90 },
  frameRate: { min: 24, max: 60 },
  constantFrameRate: true,
  width: { min: 540 },
  height: { min: 960 },
  aspect: { min: NINE_SIXTEEN * 0.99, max: NINE_SIXTEEN * 1.01 },
  preferredAspect: NINE_SIXTEEN,
  // Section 4.6, Reel specs: "AAC-LC 48 kHz stereo ≥128 kbps".
  audioCodecs: ['aac'],
  aacProfiles: ['LC'],
  minAudioSampleRate: 48_000,
  maxAudioSampleRate: 48_000,
  minAudioChannels: 2,
  maxAudioChannels: 2,
  minAudioBitrate: 128 * kbps,
  faststart: true,
  progressive: true,
  chroma420: true,
  box: FULL_HD,
};

export const PLATFORM_RULES: Record<MediaPlatform, PlatformRules> = {
  generic: {
    platform: 'generic',
    requires: 'nothing',
    label: 'Local export (manual posting)',
    text: [{ field: 'caption', max: 10_000, unit: 'characters' }],
    defaultPlacement: { image: 'feed_image', video: 'video' },
    placements: {
      feed_image: {
        placement: 'feed_image',
        label: 'Image',
        image: {
          formats: ['jpeg', 'png', 'webp'],
          maxBytes: 50 * MB,
          width: { max: 8192 },
          height: { max: 8192 },
          box: { long: 4096, short: 4096 },
          srgb: true,
        },
      },
      video: {
        placement: 'video',
        label: 'Video',
        video: {
          ...H264_AAC,
          containers: ['mp4'],
          durationSec: { min: 1, max: 12 * 3600 },
          frameRate: { max: 60 },
          width: { max: 3840 },
          height: { max: 3840 },
          faststart: true,
          box: { long: 3840, short: 2160 },
        },
        notes: ['Exported as H.264/AAC MP4, the format every platform accepts for manual posting.'],
      },
      thumbnail: {
        placement: 'thumbnail',
        label: 'Cover image',
        image: { formats: ['jpeg'], maxBytes: 2 * MB, box: { long: 1280, short: 720 }, srgb: true },
      },
    },
  },

  tiktok: {
    platform: 'tiktok',
    requires: 'media',
    label: 'TikTok',
    text: [
      { field: 'caption', max: 2200, unit: 'utf16_units', note: 'video posts' },
      { field: 'title', max: 90, unit: 'utf16_units', note: 'photo posts' },
      { field: 'description', max: 4000, unit: 'utf16_units', note: 'photo posts' },
    ],
    defaultPlacement: { image: 'feed_image', video: 'video' },
    placements: {
      video: {
        placement: 'video',
        label: 'Video post',
        video: tiktokVideo,
        notes: [
          'Every creator may post 3 minutes; some 5 or 10. The creator\'s own limit (creator_info "max_video_post_duration_sec") is checked again at publish time.',
          'TikTok documents no aspect ratio; 9:16 is only a common recommendation.',
        ],
      },
      feed_image: {
        placement: 'feed_image',
        label: 'Photo post',
        image: tiktokPhoto,
        items: { min: 1, max: 35 },
        notes: ['Photos are pulled from a public URL on a verified domain.'],
      },
      carousel_item: {
        placement: 'carousel_item',
        label: 'Photo in a photo post',
        image: tiktokPhoto,
        items: { min: 1, max: 35 },
      },
    },
  },

  youtube: {
    platform: 'youtube',
    requires: 'video',
    label: 'YouTube',
    text: [
      { field: 'title', max: 100, unit: 'characters', note: 'no "<" or ">"' },
      { field: 'description', max: 5000, unit: 'bytes', note: 'no "<" or ">"' },
      { field: 'tags', max: 500, unit: 'characters', note: 'all tags together; a tag with spaces counts its quotes' },
    ],
    defaultPlacement: { image: 'thumbnail', video: 'video' },
    placements: {
      video: {
        placement: 'video',
        label: 'Video',
        video: {
          containers: ['mp4', 'mov', 'webm', 'mkv', 'avi'],
          videoCodecs: ['h264', 'hevc', 'vp8', 'vp9', 'av1'],
          audioCodecs: ['aac', 'mp3', 'opus', 'vorbis'],
          maxBytes: 256 * GB,
          durationSec: { min: 1, max: 15 * 60 },
          preferredAspect: SIXTEEN_NINE,
          box: { long: 3840, short: 2160 },
        },
        notes: ['Up to 15 minutes for unverified accounts; verified accounts may upload up to 12 hours.'],
      },
      short: {
        placement: 'short',
        label: 'Short',
        video: {
          containers: ['mp4', 'mov', 'webm'],
          videoCodecs: ['h264', 'hevc', 'vp8', 'vp9', 'av1'],
          audioCodecs: ['aac', 'mp3', 'opus', 'vorbis'],
          maxBytes: 256 * GB,
          durationSec: { min: 1, max: 180 },
          aspect: { max: 1 },
          preferredAspect: NINE_SIXTEEN,
          box: FULL_HD,
        },
        notes: [
          'There is no API flag: a square or vertical video of at most 3 minutes becomes a Short.',
          'Shorts over 1 minute with an active Content ID claim are blocked.',
        ],
      },
      thumbnail: {
        placement: 'thumbnail',
        label: 'Custom thumbnail',
        image: {
          formats: ['jpeg', 'png'],
          // 2 MB on one reference page, 50 MB on a newer one (section 5).
          maxBytes: 2 * MB,
          preferredAspect: SIXTEEN_NINE,
          box: { long: 1280, short: 720 },
          srgb: true,
        },
        notes: ['Custom thumbnails need a verified channel.'],
      },
    },
  },

  instagram: {
    platform: 'instagram',
    requires: 'media',
    label: 'Instagram',
    text: [
      { field: 'caption', max: 2200, unit: 'characters' },
      { field: 'hashtags', max: 30, unit: 'count' },
      { field: 'mentions', max: 20, unit: 'count' },
    ],
    defaultPlacement: { image: 'feed_image', video: 'reel' },
    placements: {
      feed_image: {
        placement: 'feed_image',
        label: 'Feed image',
        image: instagramImage,
        notes: ['Media is fetched from a public URL.'],
      },
      carousel_item: {
        placement: 'carousel_item',
        label: 'Carousel item',
        image: instagramImage,
        video: {
          ...instagramReel,
          durationSec: { min: 3, max: 60 },
          maxBytes: 100 * MB,
          aspect: { min: 4 / 5, max: SIXTEEN_NINE },
          preferredAspect: 4 / 5,
        },
        items: { min: 2, max: 10 },
        notes: ['Carousel items carry no caption of their own; reels cannot be carousel items.'],
      },
      reel: { placement: 'reel', label: 'Reel', video: instagramReel },
      story: {
        placement: 'story',
        label: 'Story',
        image: { ...instagramImage, aspect: undefined, width: undefined, preferredAspect: NINE_SIXTEEN, box: FULL_HD },
        video: {
          ...instagramReel,
          durationSec: { min: 3, max: 60 },
          maxBytes: 100 * MB,
          aspect: { min: 0.1, max: 10 },
        },
        notes: ['Stories expire after 24 hours and carry no caption.'],
      },
      thumbnail: {
        placement: 'thumbnail',
        label: 'Reel cover',
        image: { formats: ['jpeg'], maxBytes: 8 * MB, preferredAspect: NINE_SIXTEEN, box: FULL_HD, srgb: true },
      },
    },
  },

  facebook: {
    platform: 'facebook',
    requires: 'nothing',
    label: 'Facebook Page',
    text: [{ field: 'message', max: 63_206, unit: 'characters' }],
    defaultPlacement: { image: 'feed_image', video: 'video' },
    placements: {
      feed_image: { placement: 'feed_image', label: 'Photo', image: facebookPhoto },
      carousel_item: { placement: 'carousel_item', label: 'Photo in a multi-photo post', image: facebookPhoto },
      video: {
        placement: 'video',
        label: 'Page video',
        video: {
          // The documented upload (Resumable Upload API, platform-apis.md 4.4 B) takes file_type
          // video/mp4 and no other video type: anything else is transcoded to MP4 first.
          containers: ['mp4'],
          videoCodecs: ['h264', 'hevc', 'vp9', 'av1'],
          audioCodecs: ['aac'],
          // Not stated by the current docs; older docs: 10 GB and 240 minutes with resumable upload.
          maxBytes: 10 * GB,
          durationSec: { min: 1, max: 240 * 60 },
          aspect: { min: NINE_SIXTEEN, max: SIXTEEN_NINE },
          preferredAspect: SIXTEEN_NINE,
          // Section 4.9, Page videos: "audio 48 kHz, stereo or mono, AAC, ≤ 256 kbps".
          maxAudioBitrate: 256 * kbps,
          minAudioSampleRate: 48_000,
          maxAudioSampleRate: 48_000,
          maxAudioChannels: 2,
          box: FULL_HD,
        },
      },
      reel: {
        placement: 'reel',
        label: 'Reel',
        video: facebookReel,
        notes: ['1080×1920 recommended; a reel shared as a story must be at most 60 seconds.'],
      },
      story: {
        placement: 'story',
        label: 'Story',
        image: facebookPhoto,
        video: { ...facebookReel, durationSec: { min: 3, max: 60 } },
      },
    },
  },
};

export function isMediaPlatform(value: string): value is MediaPlatform {
  return (MEDIA_PLATFORMS as readonly string[]).includes(value);
}

export function isPlacement(value: string): value is Placement {
  return (PLACEMENTS as readonly string[]).includes(value);
}

/** The rules for one platform and placement, or undefined where the platform has no such placement. */
export function placementRules(platform: MediaPlatform, placement: Placement): PlacementRules | undefined {
  return PLATFORM_RULES[platform].placements[placement];
}

/** The placement a file of this kind takes on the platform when none is named. */
export function defaultPlacement(platform: MediaPlatform, kind: MediaKind): Placement {
  return PLATFORM_RULES[platform].defaultPlacement[kind];
}

/** The placements of a platform, in the order of PLACEMENTS. */
export function placementsOf(platform: MediaPlatform): PlacementRules[] {
  const all = PLATFORM_RULES[platform].placements;
  return PLACEMENTS.flatMap((p) => (all[p] ? [all[p]] : []));
}

/** What a post with no media lacks for a platform, in words; undefined when the platform needs none. */
export function missingMediaInWords(platform: string): string | undefined {
  const rules = (PLATFORM_RULES as Record<string, (typeof PLATFORM_RULES)[MediaPlatform] | undefined>)[platform];
  if (!rules || rules.requires === 'nothing') return undefined;
  return rules.requires === 'video'
    ? `${rules.label} needs a video; this post has none.`
    : `${rules.label} needs an image or a video; this post has none.`;
}
