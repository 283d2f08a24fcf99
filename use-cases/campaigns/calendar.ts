import { and, eq, gte, inArray, lt, or, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { campaignSlots, campaigns, posts, publications } from '../../db/schema.js';
import { type CampaignSettings, localTimeOf } from '../../domain/campaign-schedule.js';
import { ValidationError } from '../../domain/errors.js';
import type { PostStatus } from '../../domain/pipeline.js';
import { type CampaignRow, computedNextSlots } from './campaigns.js';

export type CalendarStatus =
  | 'planned'
  | 'paused'
  | 'scheduled'
  | 'awaiting_review'
  | 'published'
  | 'failed'
  | 'cancelled';

export interface CalendarItem {
  /** A saved post, or a campaign slot not reached yet (computed, not stored). */
  kind: 'post' | 'slot';
  postId: string | null;
  campaignId: string | null;
  status: CalendarStatus;
  at: string;
  /** Wall-clock time in the zone asked for, "YYYY-MM-DDTHH:MM". */
  local: string;
  /**
   * The zone the post was planned in (the campaign's for a slot): a move keeps its wall-clock time
   * there. Null for a post planned without one (published at once).
   */
  timeZone: string | null;
  targets: { key: string; type: string }[];
}

/** The longest range one request may ask for: a month view with room on both sides. */
const MAX_RANGE_DAYS = 62;

function calendarStatus(status: PostStatus): CalendarStatus {
  if (status === 'published' || status === 'partially_published') return 'published';
  if (status === 'failed' || status === 'cancelled' || status === 'awaiting_review') return status;
  return 'scheduled';
}

/**
 * What happens between `from` and `to` for one person: their posts (single or from campaigns) by
 * publish time, and the slots their running campaigns will reach, computed from each campaign's
 * settings so nothing is stored for slots in the future.
 */
export async function calendar(
  db: Database,
  ownerId: string,
  range: { from: string; to: string; timeZone?: string | undefined },
): Promise<{ from: string; to: string; timeZone: string; items: CalendarItem[] }> {
  const from = new Date(range.from);
  const to = new Date(range.to);
  const zone = range.timeZone ?? 'UTC';
  if (to <= from) throw new ValidationError([{ field: 'to', message: 'must be after from' }]);
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000) {
    throw new ValidationError([{ field: 'to', message: `at most ${MAX_RANGE_DAYS} days after from` }]);
  }
  const when = sql`coalesce(${posts.publishAt}, ${posts.createdAt})`;
  const postRows = await db
    .select({
      id: posts.id,
      status: posts.status,
      at: when,
      timeZone: posts.timeZone,
      campaignId: campaignSlots.campaignId,
    })
    .from(posts)
    .leftJoin(campaignSlots, eq(campaignSlots.postId, posts.id))
    .where(and(eq(posts.ownerId, ownerId), gte(when, from.toISOString()), lt(when, to.toISOString())))
    .limit(5000);
  const targetRows =
    postRows.length > 0
      ? await db
          .select({ postId: publications.postId, key: publications.targetKey, type: publications.targetType })
          .from(publications)
          .where(
            inArray(
              publications.postId,
              postRows.map((p) => p.id),
            ),
          )
      : [];
  const targetsOf = new Map<string, { key: string; type: string }[]>();
  for (const t of targetRows)
    targetsOf.set(t.postId, [...(targetsOf.get(t.postId) ?? []), { key: t.key, type: t.type }]);

  const items: CalendarItem[] = postRows.map((p) => {
    const at = new Date(p.at as string | Date).getTime();
    return {
      kind: 'post',
      postId: p.id,
      campaignId: p.campaignId,
      status: calendarStatus(p.status),
      at: new Date(at).toISOString(),
      local: localTimeOf(at, zone),
      timeZone: p.timeZone,
      targets: targetsOf.get(p.id) ?? [],
    };
  });

  const running = await db
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.ownerId, ownerId), or(eq(campaigns.status, 'active'), eq(campaigns.status, 'paused'))));
  const start = Math.max(from.getTime(), Date.now());
  if (running.length > 0 && start < to.getTime()) {
    const reached = await db
      .select({ campaignId: campaignSlots.campaignId, slot: campaignSlots.slotLocal })
      .from(campaignSlots)
      .where(
        and(
          inArray(
            campaignSlots.campaignId,
            running.map((c) => c.id),
          ),
          gte(campaignSlots.at, new Date(start - 7 * 86_400_000)),
        ),
      );
    const reachedBy = new Map<string, string[]>();
    for (const r of reached) reachedBy.set(r.campaignId, [...(reachedBy.get(r.campaignId) ?? []), r.slot]);
    for (const row of running) items.push(...futureSlots(row, reachedBy.get(row.id) ?? [], start, to.getTime(), zone));
  }
  items.sort((a, b) => a.at.localeCompare(b.at));
  return { from: from.toISOString(), to: to.toISOString(), timeZone: zone, items };
}

function futureSlots(row: CampaignRow, reached: string[], start: number, end: number, zone: string): CalendarItem[] {
  const settings = row.settings as unknown as CampaignSettings;
  // A range holds at most 62 days; no cadence has more slots in that than this.
  return computedNextSlots(row, reached, 100_000, start, end).map((slot) => ({
    kind: 'slot',
    postId: null,
    campaignId: row.id,
    status: row.status === 'paused' ? 'paused' : 'planned',
    at: slot.at,
    local: localTimeOf(Date.parse(slot.at), zone),
    timeZone: settings.timeZone,
    targets: settings.targets.map((t) => ({ key: t.key ?? t.type, type: t.type })),
  }));
}
