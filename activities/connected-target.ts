import { Context } from '@temporalio/activity';
import { and, eq, sql } from 'drizzle-orm';
import { publications, type renditions } from '../db/schema.js';
import type { Platform } from '../platforms/connector.js';
import { PublishError } from '../platforms/publish-errors.js';
import type { ConnectedTarget, RenditionFile } from '../platforms/publisher.js';
import type { Credentials, Journal, PublishContext, PublishJournal } from '../platforms/publishing.js';
import { openCredentials } from '../use-cases/connections/credentials.js';
import { type ConnectionRow, connectionById } from '../use-cases/connections/rows.js';
import { publicLinkOf } from '../use-cases/media/public-links.js';
import { CALL_WINDOW_MS, keepContainersSpent, takeCallSlot } from '../use-cases/publishing/quota-budget.js';
import type { ActivityDeps } from './deps.js';

type Publication = typeof publications.$inferSelect;
type Rendition = typeof renditions.$inferSelect;

/** Another attempt of the same target took over: this one stops without touching anything more. */
export class SupersededAttempt extends Error {
  override name = 'SupersededAttempt';
}

/**
 * The journal lives on the publication row. Each attempt stamps it with its own fence first, and
 * every later write only lands while the fence is still its own: two attempts of one target (a
 * worker presumed dead that is still running, and its replacement) never both move it forward.
 */
function rowJournal(deps: ActivityDeps, postId: string, targetKey: string, fence: string): PublishJournal {
  const where = and(eq(publications.postId, postId), eq(publications.targetKey, targetKey));
  return {
    async get() {
      const [row] = await deps.db.select({ journal: publications.journal }).from(publications).where(where);
      return (row?.journal ?? {}) as Journal;
    },
    async record(patch: Journal) {
      const clean = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      const updated = await deps.db
        .update(publications)
        .set({ journal: sql`coalesce(${publications.journal}, '{}'::jsonb) || ${JSON.stringify(clean)}::jsonb` })
        .where(and(where, sql`${publications.journal}->>'fence' = ${fence}`))
        .returning({ key: publications.targetKey });
      if (updated.length === 0) throw new SupersededAttempt('another attempt of this target took over');
    },
  };
}

/** Takes the journal for this attempt; a person's retry after "outcome unknown" starts it afresh. */
export async function claimJournal(
  deps: ActivityDeps,
  publication: Publication,
  options: { fresh: boolean },
): Promise<string> {
  const info = Context.current().info;
  const fence = `${info.workflowExecution?.runId}/${info.activityId}/${info.attempt}`;
  const where = and(eq(publications.postId, publication.postId), eq(publications.targetKey, publication.targetKey));
  // Whatever the last journal made stays counted, apart from what this one is about to reserve.
  if (options.fresh) await keepContainersSpent(deps.db, publication);
  await deps.db
    .update(publications)
    .set({
      journal: options.fresh
        ? sql`${JSON.stringify({ fence })}::jsonb`
        : sql`coalesce(${publications.journal}, '{}'::jsonb) || ${JSON.stringify({ fence })}::jsonb`,
    })
    .where(where);
  return fence;
}

/** Tokens through the connection: a refused one is renewed by the connection's owner workflow. */
function connectionCredentials(deps: ActivityDeps, platform: Platform, connectionId: string) {
  let row: ConnectionRow | undefined;
  const vault = deps.connections?.vault;
  if (!vault) throw new Error('publishing to a connected account needs the token vault');
  const load = async (): Promise<ConnectionRow> => {
    const found = await connectionById(deps.db, connectionId);
    if (!found)
      throw new PublishError(
        platform,
        'needs_reconnect',
        'the connected account was removed; connect it again and retry',
      );
    if (found.status === 'needs_reconnect') {
      throw new PublishError(
        platform,
        'needs_reconnect',
        `the account must be connected again${found.statusReason ? `: ${found.statusReason}` : ''}`,
      );
    }
    row = found;
    return found;
  };
  const credentials: Credentials = {
    async accessToken() {
      const current = await load();
      return openCredentials(vault, current.id, current).accessToken;
    },
    async refresh() {
      if (!deps.requestRenewal)
        throw new PublishError(platform, 'needs_reconnect', 'the token was refused and cannot be renewed here');
      const outcome = await deps.requestRenewal(connectionId, row ? { seenVersion: row.version } : {});
      if (outcome.outcome === 'needs_reconnect' || outcome.outcome === 'gone') {
        // The platform's own words, as the owner stored them with the connection's new state.
        const after = await connectionById(deps.db, connectionId);
        throw new PublishError(
          platform,
          'needs_reconnect',
          `${after?.statusReason ?? `${platform} no longer accepts this connection`}; connect the account again`,
        );
      }
      const current = await load();
      return openCredentials(vault, current.id, current).accessToken;
    },
  };
  const userToken = async () => {
    const current = row ?? (await load());
    const token = openCredentials(vault, current.id, current).userToken;
    if (!token)
      throw new PublishError(
        platform,
        'needs_reconnect',
        'the connection has no user token for uploads; connect it again',
      );
    return token;
  };
  return { credentials, userToken };
}

/** Everything a platform publisher needs for this attempt, with progress going to the row and the heartbeat. */
export function connectedTarget(
  deps: ActivityDeps,
  publication: Publication,
  platform: Platform,
  files: Rendition[],
  fence: string,
  accountId: string,
  via: 'facebook' | null,
): ConnectedTarget {
  const { postId, targetKey } = publication;
  const { credentials, userToken } = connectionCredentials(deps, platform, publication.connectionId!);
  const context = Context.current();
  let lastWrite = 0;
  const onProgress = (sent: number, total: number) => {
    context.heartbeat({ targetKey, sent, total });
    const now = Date.now();
    if (now - lastWrite < 1000 && sent < total) return;
    lastWrite = now;
    void deps.db
      .update(publications)
      .set({ uploadProgress: { sent, total, at: new Date(now).toISOString() } })
      .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)))
      .catch(() => undefined);
  };
  const publishing = deps.publishing ?? {};
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      // Keep the heartbeat going through waits, so a wait is never taken for a dead worker.
      const beat = setInterval(() => context.heartbeat({ targetKey, waiting: true }), 10_000);
      setTimeout(() => {
        clearInterval(beat);
        resolve();
      }, ms);
    });
  const ctx: PublishContext = {
    journal: rowJournal(deps, postId, targetKey, fence),
    credentials,
    onProgress,
    // Short waits happen here; longer ones end the attempt and Temporal retries after them.
    maxWaitMs: publishing.maxWaitMs ?? 60_000,
    ...(publishing.pollIntervalMs !== undefined ? { pollIntervalMs: publishing.pollIntervalMs } : {}),
    ...(publishing.maxPolls !== undefined ? { maxPolls: publishing.maxPolls } : {}),
    sleep,
    async pace(budget, perMinute) {
      for (;;) {
        const slot = await takeCallSlot(deps.db, budget, perMinute, CALL_WINDOW_MS);
        if ('takenAt' in slot) return;
        await sleep(Math.max(50, slot.fitsAt.getTime() - Date.now()));
      }
    },
  };
  return {
    options: publication.options ?? {},
    connectionId: publication.connectionId!,
    accountId,
    via,
    context: ctx,
    userToken,
    linkOf(file: RenditionFile) {
      const rendition = files.find((r) => r.position === file.position);
      const link = rendition && deps.links ? publicLinkOf(deps.links, rendition) : null;
      if (!link)
        throw new PublishError(
          platform,
          'rejected',
          'this platform fetches media by URL, and no public link could be made (PUBLIC_URL)',
        );
      return link.url;
    },
  };
}
