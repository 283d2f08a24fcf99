import { randomUUID } from 'node:crypto';
import type { Database } from '../db/client.js';
import { auditEvents } from '../db/schema.js';

export type AuditAction =
  | 'account.register'
  | 'account.update'
  | 'account.password_change'
  | 'account.export'
  | 'account.delete'
  | 'session.sign_in'
  | 'session.sign_out'
  | 'api_key.create'
  | 'api_key.revoke'
  | 'connection.connect'
  | 'connection.disconnect'
  | 'connection.needs_reconnect'
  | 'connection.platform_notice'
  | 'connection.data_deletion';

export interface AuditEntry {
  userId: string | null;
  action: AuditAction;
  outcome: 'success' | 'failure';
  ip: string | undefined;
  /** Only ids and reasons: never credentials, never content. */
  detail?: Record<string, unknown>;
}

export async function audit(db: Database, entry: AuditEntry): Promise<void> {
  await db.insert(auditEvents).values({
    id: randomUUID(),
    userId: entry.userId,
    action: entry.action,
    outcome: entry.outcome,
    ip: entry.ip ?? null,
    detail: entry.detail ?? null,
  });
}
