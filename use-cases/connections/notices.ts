import { randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { audit } from '../../auth/audit.js';
import type { Database } from '../../db/client.js';
import { auditEvents, connections } from '../../db/schema.js';
import { verifyMetaSignedRequest, verifyTikTokSignature } from '../../platforms/webhook-signatures.js';
import { connectionOwnerWorkflowId, replanSignal } from '../../workflows/connection-messages.js';
import { withTemporalDeadline } from '../temporal-calls.js';
import type { OwnerAccess } from './deps.js';
import { removeConnection } from './disconnect.js';
import type { ConnectionRow } from './rows.js';

/** The app secrets the platforms sign their notices with; a platform without one takes none. */
export interface NoticeSecrets {
  tiktok?: string | undefined;
  facebook?: string | undefined;
  instagram?: string | undefined;
}

export interface NoticeDeps {
  db: Database;
  owner: OwnerAccess;
  secrets: NoticeSecrets;
}

/** A notice whose signature does not verify; answered 401 and otherwise ignored. */
export class NoticeRefusedError extends Error {
  override name = 'NoticeRefusedError';
}

/**
 * The platform ended the grant itself: the tokens are dead already, so nothing is revoked, but the
 * connections go exactly as on disconnect (tokens, name, picture), and their owners are woken to end.
 */
async function removeAll(deps: NoticeDeps, rows: ConnectionRow[], notice: string): Promise<number> {
  for (const row of rows) {
    const affectedPostIds = await removeConnection(deps.db, row);
    await audit(deps.db, {
      userId: row.ownerId,
      action: 'connection.platform_notice',
      outcome: 'success',
      ip: undefined,
      detail: { connectionId: row.id, platform: row.platform, notice, affectedPostIds },
    });
    await withTemporalDeadline(
      deps.owner,
      () => deps.owner.temporal.workflow.getHandle(connectionOwnerWorkflowId(row.id)).signal(replanSignal),
      // An owner that is not running has nothing to end; one Temporal could not reach finds the
      // row gone at its next plan and ends then.
    ).catch(() => undefined);
  }
  return rows.length;
}

/** TikTok's `authorization.removed` webhook (raw body, `TikTok-Signature` header). */
export async function handleTikTokWebhook(
  deps: NoticeDeps,
  request: { rawBody: Buffer; signature: string | undefined },
): Promise<{ removed: number }> {
  if (!deps.secrets.tiktok) throw new NoticeRefusedError('TikTok is not configured');
  const check = verifyTikTokSignature(request.signature, request.rawBody, deps.secrets.tiktok);
  if (!check.ok) throw new NoticeRefusedError(check.reason);
  let event: { event?: unknown; user_openid?: unknown };
  try {
    event = JSON.parse(request.rawBody.toString('utf8')) as typeof event;
  } catch {
    throw new NoticeRefusedError('the body is not JSON');
  }
  // Other events are acknowledged and ignored: TikTok retries anything not answered 200.
  if (event.event !== 'authorization.removed' || typeof event.user_openid !== 'string') return { removed: 0 };
  const rows = await deps.db
    .select()
    .from(connections)
    .where(and(eq(connections.platform, 'tiktok'), eq(connections.platformAccountId, event.user_openid)));
  return { removed: await removeAll(deps, rows, 'authorization.removed') };
}

/**
 * Meta's deauthorize and data-deletion callbacks (`signed_request`, form-encoded). Facebook's app
 * covers Pages and Instagram through Pages (grant `facebook:<user>`); Instagram Login's app its own.
 */
export async function handleMetaNotice(
  deps: NoticeDeps,
  request: { app: 'facebook' | 'instagram'; kind: 'deauthorize' | 'data_deletion'; signedRequest: string | undefined },
): Promise<{ removed: number; confirmationCode?: string }> {
  const secret = deps.secrets[request.app];
  if (!secret) throw new NoticeRefusedError(`${request.app} is not configured`);
  const check = verifyMetaSignedRequest(request.signedRequest, secret);
  if (!check.ok) throw new NoticeRefusedError(check.reason);
  const rows = await deps.db
    .select()
    .from(connections)
    .where(eq(connections.grantKey, `${request.app}:${check.value.user_id}`));
  const removed = await removeAll(deps, rows, `meta.${request.kind}`);
  if (request.kind === 'deauthorize') return { removed };
  // Meta shows the person a code and a status link; the code is kept (without any account data) to answer it.
  const confirmationCode = randomBytes(12).toString('hex');
  await audit(deps.db, {
    userId: null,
    action: 'connection.data_deletion',
    outcome: 'success',
    ip: undefined,
    detail: { confirmationCode, app: request.app, removed },
  });
  return { removed, confirmationCode };
}

/** The status Meta's data-deletion link shows: known codes are complete (deletion happens at once). */
export async function dataDeletionStatus(
  db: Database,
  confirmationCode: string,
): Promise<{ confirmationCode: string; status: 'completed'; completedAt: string } | null> {
  if (!/^[0-9a-f]{24}$/.test(confirmationCode)) return null;
  const [row] = await db
    .select({ createdAt: auditEvents.createdAt })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, 'connection.data_deletion'),
        sql`${auditEvents.detail} ->> 'confirmationCode' = ${confirmationCode}`,
      ),
    );
  return row ? { confirmationCode, status: 'completed', completedAt: row.createdAt.toISOString() } : null;
}
