import { lt, or } from 'drizzle-orm';
import { purgeRateLimits } from '../auth/rate-limit.js';
import { auditEvents, postActionKeys, publishingUsage, sessions } from '../db/schema.js';
import type { ActivityDeps } from './deps.js';

const DAY_MS = 24 * 3600 * 1000;
/**
 * A client retries an action within minutes; a week covers any sensible retry, and a key reused
 * after that is simply a new request.
 */
const ACTION_KEY_RETENTION_DAYS = 7;
/**
 * The longest window a publishing budget counts is a day (YouTube's Pacific day has at most 25
 * hours); a spend or call older than two days can never count again. Without this, every target
 * and every paced call would leave a row behind for good.
 */
const USAGE_RETENTION_DAYS = 2;

export interface PurgeResult {
  auditEvents: number;
  sessions: number;
  rateLimits: number;
  actionKeys: number;
  publishingUsage: number;
}

/**
 * Enforces retention: audit entries past AUDIT_RETENTION_DAYS, dead sessions, old rate counters,
 * the Idempotency-Keys of post actions once no client would still be retrying them, and publishing
 * spends and calls once no budget window can count them.
 */
export function createPurgeExpiredRecords(deps: ActivityDeps) {
  return async function purgeExpiredRecords({
    auditRetentionDays,
  }: {
    auditRetentionDays: number;
  }): Promise<PurgeResult> {
    const now = Date.now();
    const audit = await deps.db
      .delete(auditEvents)
      .where(lt(auditEvents.createdAt, new Date(now - auditRetentionDays * DAY_MS)))
      .returning({ id: auditEvents.id });
    const dead = await deps.db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, new Date(now)), lt(sessions.revokedAt, new Date(now - DAY_MS))))
      .returning({ id: sessions.id });
    const rateLimits = await purgeRateLimits(deps.db, now);
    const actionKeys = await deps.db
      .delete(postActionKeys)
      .where(lt(postActionKeys.createdAt, new Date(now - ACTION_KEY_RETENTION_DAYS * DAY_MS)))
      .returning({ key: postActionKeys.key });
    const usage = await deps.db
      .delete(publishingUsage)
      .where(lt(publishingUsage.at, new Date(now - USAGE_RETENTION_DAYS * DAY_MS)))
      .returning({ id: publishingUsage.id });
    const result = {
      auditEvents: audit.length,
      sessions: dead.length,
      rateLimits,
      actionKeys: actionKeys.length,
      publishingUsage: usage.length,
    };
    deps.logger.info(result, 'housekeeping purged expired records');
    return result;
  };
}
