import { Router } from 'express';
import { z } from 'zod';
import { MEDIA_PLATFORMS, PLACEMENTS, PLATFORM_RULES, placementsOf } from '../../domain/media-rules.js';
import {
  connectedPlatformOf,
  REGISTERED_TARGET_TYPES,
  TARGET_REGISTRY,
  targetSchema,
} from '../../platforms/registry.js';
import type { RouteDoc } from '../openapi.js';

// The platform rules composers show and check against: the same data the validator and the
// renderer read (domain/media-rules.ts).

function platformsView() {
  return {
    platforms: MEDIA_PLATFORMS.map((id) => {
      const rules = PLATFORM_RULES[id];
      return {
        platform: id,
        label: rules.label,
        requires: rules.requires,
        text: rules.text,
        defaultPlacement: rules.defaultPlacement,
        placements: placementsOf(id),
      };
    }),
    // Each kind of target a post may name, with its options as JSON Schema (the create request's own).
    targets: REGISTERED_TARGET_TYPES.map((type) => ({
      type,
      label: TARGET_REGISTRY[type].label,
      connected: connectedPlatformOf(type),
      options: z.toJSONSchema(targetSchema.options.find((o) => o.shape.type.value === type)!, { io: 'input' }),
    })),
  };
}

export function platformRoutes(): Router {
  const router = Router();
  const body = platformsView();
  router.get('/api/v1/platforms', (_req, res) => {
    res.setHeader('Cache-Control', 'private, max-age=3600');
    res.json(body);
  });
  return router;
}

const range = z.object({ min: z.number().optional(), max: z.number().optional() });
const box = z.object({ long: z.number().int(), short: z.number().int() });
const imageRules = z.object({
  formats: z.array(z.string()),
  maxBytes: z.number().int(),
  width: range.optional(),
  height: range.optional(),
  aspect: range.optional().describe('Width divided by height'),
  preferredAspect: z.number().optional(),
  box,
  srgb: z.boolean(),
});
const videoRules = z.object({
  containers: z.array(z.string()),
  videoCodecs: z.array(z.string()),
  audioCodecs: z.array(z.string()),
  maxBytes: z.number().int().optional(),
  durationSec: range,
  frameRate: range.optional(),
  constantFrameRate: z.boolean().optional(),
  width: range.optional(),
  height: range.optional(),
  aspect: range.optional(),
  preferredAspect: z.number().optional(),
  maxVideoBitrate: z.number().optional(),
  maxAudioBitrate: z.number().optional(),
  maxAudioSampleRate: z.number().optional(),
  maxAudioChannels: z.number().optional(),
  minAudioBitrate: z.number().optional(),
  minAudioSampleRate: z.number().optional(),
  minAudioChannels: z.number().optional(),
  aacProfiles: z.array(z.string()).optional(),
  faststart: z.boolean().optional(),
  progressive: z.boolean().optional(),
  chroma420: z.boolean().optional(),
  box,
});

export const platformsSchema = z.object({
  platforms: z.array(
    z.object({
      platform: z.enum(MEDIA_PLATFORMS),
      label: z.string(),
      requires: z.enum(['video', 'media', 'nothing']),
      text: z.array(
        z.object({
          field: z.string(),
          max: z.number().int(),
          unit: z.enum(['characters', 'utf16_units', 'bytes', 'count']),
          note: z.string().optional(),
        }),
      ),
      defaultPlacement: z.object({ image: z.enum(PLACEMENTS), video: z.enum(PLACEMENTS) }),
      placements: z.array(
        z.object({
          placement: z.enum(PLACEMENTS),
          label: z.string(),
          image: imageRules.optional(),
          video: videoRules.optional(),
          items: range.optional().describe('Files in one post of this placement'),
          notes: z.array(z.string()).optional(),
        }),
      ),
    }),
  ),
  targets: z.array(
    z.object({
      type: z.string(),
      label: z.string(),
      connected: z.string().nullable().describe('The platform of the connected account it needs; null: none'),
      options: z
        .record(z.string(), z.unknown())
        .describe("JSON Schema of the target object (type, key and the platform's options)"),
    }),
  ),
});

export const platformDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/platforms',
    tag: 'Platforms',
    summary:
      'What each platform accepts: media limits per placement (aspect ratios, sizes, formats, bytes, duration, codecs), text limits and default placements',
    responses: { 200: { description: 'Every platform a target may name', schema: platformsSchema } },
  },
];
