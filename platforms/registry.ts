import type { TargetType } from '../domain/pipeline.js';
import { createLocalExportPublisher } from './local-export.js';
import type { Publisher } from './publisher.js';

/** What the rest of the system needs to know to publish to one kind of target. */
export interface PlatformEntry {
  /** Shown in errors and docs. */
  label: string;
  createPublisher(deps: PublisherDeps): Publisher;
}

/** Everything a publisher may need from the composition root. */
export interface PublisherDeps {
  dataDir: string;
}

/**
 * The one list of target types: adding a platform is its module plus one line here (the compiler
 * then asks for its type in domain/pipeline.ts TARGET_TYPES and its retry rules in domain/targets.ts,
 * which the workflow bundle reads without importing any platform code).
 */
export const PLATFORMS = {
  local_export: {
    label: 'local export (a folder per post for manual posting)',
    createPublisher: (d) => createLocalExportPublisher(d.dataDir),
  },
} satisfies Record<TargetType, PlatformEntry>;

export const REGISTERED_TARGET_TYPES = Object.keys(PLATFORMS) as TargetType[];

/** One publisher per registered target type. */
export function createPublishers(deps: PublisherDeps): Record<TargetType, Publisher> {
  return Object.fromEntries(
    Object.entries(PLATFORMS).map(([type, entry]) => [type, entry.createPublisher(deps)]),
  ) as Record<TargetType, Publisher>;
}
