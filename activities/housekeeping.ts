import { lt, or } from 'drizzle-orm';
import { purgeRateLimits } from '../auth/rate-limit.js';
import { auditEvents, sessions } from '../db/schema.js';
import type { ActivityDeps } from './deps.js';

const DAY_MS = 24 * 3600 * 1000;

export interface PurgeResult {
  auditEvents: number;
  sessions: number;
  rateLimits: number;
}

/** Enforces retention: audit entries past AUDIT_RETENTION_DAYS, dead sessions, old rate counters. */
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
    const result = { auditEvents: audit.length, sessions: dead.length, rateLimits };
    deps.logger.info(result, 'housekeeping purged expired records');
    return result;
  };
}
