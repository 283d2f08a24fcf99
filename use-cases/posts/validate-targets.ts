import { and, eq, inArray } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { connections } from '../../db/schema.js';
import type { FieldError } from '../../domain/errors.js';
import { ValidationError } from '../../domain/errors.js';
import type { TargetType } from '../../domain/pipeline.js';
import {
  facebookReelSlot,
  instagramSlot,
  type QuotaSettings,
  tiktokSlot,
  youtubeUploadSlot,
} from '../../domain/quotas.js';
import type { Platform } from '../../platforms/connector.js';
import { connectedPlatformOf } from '../../platforms/registry.js';

/** A target as the create request gave it: its type, the account, and its options. */
export interface RequestedTarget {
  type: TargetType;
  connectionId?: string | undefined;
  [option: string]: unknown;
}

export interface TargetRules {
  /** TIKTOK_APP_AUDITED: an unaudited app may only post privately (platform-apis.md 1.6). */
  tiktokAudited: boolean;
  /** The brief asks the AI for a picture, which joins a post without media before rendering. */
  generatesImage?: boolean;
  /** The publishing budgets: a post that could never fit one is refused now, not left waiting. */
  quotas?: QuotaSettings;
}

/** What one post of this target needs from its budgets with nothing else spent: its time can never come when this fails. */
function neverFits(platform: Platform, target: RequestedTarget, videos: number, images: number, quotas: QuotaSettings) {
  const now = new Date();
  const verdict =
    platform === 'youtube'
      ? youtubeUploadSlot({ units: [], inserts: [] }, quotas, now, images > 0)
      : platform === 'instagram'
        ? instagramSlot([], quotas, now)
        : platform === 'tiktok'
          ? tiktokSlot([], [], quotas, now, (target.mode ?? 'direct') === 'direct')
          : videos > 0 && target.placement === 'reel'
            ? facebookReelSlot([], quotas, now)
            : ({ ok: true } as const);
  return verdict.ok ? undefined : verdict.reason;
}

const PLATFORM_NAMES = { tiktok: 'TikTok', youtube: 'YouTube', instagram: 'Instagram', facebook: 'Facebook' } as const;

/**
 * Every platform target against its connected account and the platform's own rules, before
 * anything is written: the account exists, is the caller's, is of the target's platform and can
 * publish; the media suits the platform; TikTok's privacy level is the person's own choice and one
 * an unaudited app may use. What TikTok's creator_info allows is checked again at publish time.
 */
export async function assertTargetsUsable(
  db: Database,
  ownerId: string,
  targets: readonly RequestedTarget[],
  /** The post's media, as the owner's rows (ownMedia). */
  files: readonly { kind: string }[],
  rules: TargetRules,
): Promise<void> {
  const ids = [...new Set(targets.flatMap((t) => (t.connectionId ? [t.connectionId] : [])))];
  const accounts =
    ids.length === 0
      ? []
      : await db
          .select({
            id: connections.id,
            platform: connections.platform,
            status: connections.status,
            reason: connections.statusReason,
            name: connections.displayName,
            scopes: connections.scopes,
          })
          .from(connections)
          .where(and(inArray(connections.id, ids), eq(connections.ownerId, ownerId)));
  const videos = files.filter((f) => f.kind === 'video').length;
  // The AI's image is made only for a post without media of its own (activities/generate-drafts.ts).
  const images = files.length - videos + (rules.generatesImage && files.length === 0 ? 1 : 0);
  const errors: FieldError[] = [];
  targets.forEach((target, i) => {
    const platform = connectedPlatformOf(target.type);
    if (!platform) return;
    const name = PLATFORM_NAMES[platform];
    const field = (f: string) => `targets[${i}].${f}`;
    const account = accounts.find((a) => a.id === target.connectionId);
    if (!account) {
      errors.push({
        field: field('connectionId'),
        message: `no connected account with id ${target.connectionId}; connect a ${name} account first (GET /api/v1/connections lists yours)`,
      });
    } else if (account.platform !== platform) {
      errors.push({
        field: field('connectionId'),
        message: `${account.name} is a ${PLATFORM_NAMES[account.platform]} account; a ${platform} target needs a ${name} connection`,
      });
    } else if (account.status === 'needs_reconnect') {
      errors.push({
        field: field('connectionId'),
        message: `${account.name} must be connected again before it can publish${account.reason ? `: ${account.reason}` : ''}`,
      });
    }
    const impossible = rules.quotas && neverFits(platform, target, videos, images, rules.quotas);
    if (impossible) {
      errors.push({ field: field('type'), message: `${impossible}; raise the setting or leave ${name} out` });
    }
    if (platform === 'youtube' && target.scheduleOn === 'youtube' && (target.privacy ?? 'public') !== 'public') {
      errors.push({
        field: field('privacy'),
        message:
          "YouTube's own schedule makes a video public at its time: with scheduleOn youtube, privacy must be public",
      });
    }
    if (platform === 'youtube' && videos === 0) {
      errors.push({ field: field('type'), message: 'YouTube publishes videos: add a video to mediaIds' });
    }
    if ((platform === 'instagram' || platform === 'tiktok') && videos + images === 0) {
      errors.push({ field: field('type'), message: `${name} needs a picture or a video: add one to mediaIds` });
    }
    if (platform === 'tiktok' && videos > 0 && images > 0) {
      errors.push({ field: field('type'), message: 'a TikTok post is one video or photos, not both' });
    }
    if (platform === 'instagram' && target.placement === 'story' && files.length > 1) {
      errors.push({ field: field('placement'), message: 'an Instagram Story takes one picture or video' });
    }
    if (platform === 'instagram' && videos + images > 10) {
      errors.push({ field: field('type'), message: 'an Instagram carousel takes at most 10 items' });
    }
    if (
      platform === 'tiktok' &&
      (target.mode ?? 'direct') === 'direct' &&
      account?.platform === 'tiktok' &&
      !account.scopes.includes('video.publish')
    ) {
      // Users may switch the permission off when connecting (1.1): drafts to the inbox still work.
      errors.push({
        field: field('mode'),
        message: `${account.name} did not allow direct posting (the video.publish permission); send it to the creator's inbox with mode "inbox", or connect the account again and allow direct posting`,
      });
    }
    if (
      platform === 'tiktok' &&
      target.mode === 'inbox' &&
      account?.platform === 'tiktok' &&
      !account.scopes.includes('video.upload')
    ) {
      // Drafts to the inbox need video.upload (1.4), which a person may also switch off (1.1).
      errors.push({
        field: field('mode'),
        message: `${account.name} did not allow sending drafts to the inbox (the video.upload permission); post it directly with mode "direct", or connect the account again and allow uploads`,
      });
    }
    if (platform === 'tiktok' && (target.mode ?? 'direct') === 'direct') {
      const privacy = target.privacyLevel;
      if (privacy === undefined) {
        errors.push({
          field: field('privacyLevel'),
          message:
            "required for a Direct Post: choose who can see it (TikTok asks for the creator's own choice; GET /api/v1/connections/{id}/tiktok/creator-info lists the allowed levels)",
        });
      } else if (!rules.tiktokAudited && privacy !== 'SELF_ONLY') {
        errors.push({
          field: field('privacyLevel'),
          message:
            "this installation's TikTok app has not passed TikTok's audit (TIKTOK_APP_AUDITED=false), and until it does TikTok shows its posts only to the creator: choose SELF_ONLY",
        });
      }
      if (target.brandContent === true && privacy === 'SELF_ONLY') {
        errors.push({
          field: field('brandContent'),
          message: 'branded content cannot be private (SELF_ONLY) on TikTok',
        });
      }
    }
  });
  if (errors.length > 0) throw new ValidationError(errors);
}
