import { z } from 'zod';
import { DRAFT_FORMATS } from '../domain/drafts.js';
import { PLACEMENTS } from '../domain/media-rules.js';
import type { TargetType } from '../domain/pipeline.js';
import { createLocalExportPublisher } from './local-export.js';
import type { Publisher } from './publisher.js';

/** Everything a publisher may need from the composition root. */
export interface PublisherDeps {
  dataDir: string;
}

/** What the rest of the system needs to know to publish to one kind of target. */
export interface TargetEntry {
  /** Shown in errors and docs. */
  label: string;
  /** The target's own fields in a create request, beside `type` and `key`. */
  options: z.ZodRawShape;
  createPublisher(deps: PublisherDeps): Publisher;
}

/** Names a target within its post; defaults to the type. */
export const targetKeySchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected 1-63 lowercase letters, digits, "_" or "-"')
  .describe('A target key: 1-63 lowercase letters, digits, "_" or "-", starting with a letter or digit');

/**
 * The one list of target types: adding a platform is its module plus one line here. The compiler
 * then asks for its type in domain/pipeline.ts TARGET_TYPES and its retry rules in
 * domain/targets.ts, which the workflow bundle reads without importing any platform code.
 */
export const TARGET_REGISTRY = {
  local_export: {
    label: 'local export (a folder per post, for posting by hand)',
    options: {
      /** The platform the hand-off is meant for: drafts and image sizes follow its rules. */
      platform: z.enum(DRAFT_FORMATS, { error: `expected one of ${DRAFT_FORMATS.join(', ')}` }).default('generic'),
      /** Where the media goes on that platform (GET /api/v1/platforms lists each one's); absent: chosen per file. */
      placement: z.enum(PLACEMENTS, { error: `expected one of ${PLACEMENTS.join(', ')}` }).optional(),
      /** How a picture of the wrong shape is reframed: crop around what draws the eye, crop the centre, or pad on a blurred background (default). */
      fit: z.enum(['attention', 'centre', 'pad'], { error: 'expected attention, centre or pad' }).optional(),
    },
    createPublisher: (deps) => createLocalExportPublisher(deps.dataDir),
  },
} satisfies Record<TargetType, TargetEntry>;

export const REGISTERED_TARGET_TYPES = Object.keys(TARGET_REGISTRY) as TargetType[];

/** A target in a create request, one shape per registered type (the API validates with this). */
export const targetSchema = z.discriminatedUnion(
  'type',
  Object.entries(TARGET_REGISTRY).map(([type, entry]) =>
    z.strictObject({ type: z.literal(type as TargetType), key: targetKeySchema.optional(), ...entry.options }),
  ) as unknown as [AnyTargetSchema, ...AnyTargetSchema[]],
  { error: `expected a target object with a known "type" (${REGISTERED_TARGET_TYPES.join(', ')})` },
);

type TargetSchemaOf<T extends TargetType> = z.ZodObject<
  { type: z.ZodLiteral<T>; key: z.ZodOptional<typeof targetKeySchema> } & (typeof TARGET_REGISTRY)[T]['options'],
  z.core.$strict
>;
type AnyTargetSchema = { [T in TargetType]: TargetSchemaOf<T> }[TargetType];

/** One publisher per registered target type. */
export function createPublishers(deps: PublisherDeps): Record<TargetType, Publisher> {
  return Object.fromEntries(
    Object.entries(TARGET_REGISTRY).map(([type, entry]) => [type, entry.createPublisher(deps)]),
  ) as Record<TargetType, Publisher>;
}
