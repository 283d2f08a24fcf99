import { lt, or } from 'drizzle-orm';
import { purgeRateLimits } from '../auth/rate-limit.js';
import { auditEvents, postActionKeys, sessions } from '../db/schema.js';
import type { ActivityDeps } from './deps.js';

const DAY_MS = 24 * 3600 * 1000;
/**
 * A client retries an action within minutes; a week covers any sensible retry, and a key reused
 * after that is simply a new request.
 */
const ACTION_KEY_RETENTION_DAYS = 7;

export interface PurgeResult {
  auditEvents: number;
  sessions: number;
  rateLimits: number;
  actionKeys: number;
}

/**
 * Enforces retention: audit entries past AUDIT_RETENTION_DAYS, dead sessions, old rate counters,
 * and the Idempotency-Keys of post actions once no client would still be retrying them.
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
    const result = { auditEvents: audit.length, sessions: dead.length, rateLimits, actionKeys: actionKeys.length };
    deps.logger.info(result, 'housekeeping purged expired records');
    return result;
  };
}
