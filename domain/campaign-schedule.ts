import { type Cadence, CadenceError, type CampaignEnd, findSlot, listSlots, type Slot } from './cadence.js';
import type { Brief, DraftFormat } from './drafts.js';
import type { TargetType } from './pipeline.js';
import { zonedTimeToInstant, zoneOffsetMinutes } from './zoned-time.js';

// Which slot a campaign reaches next, shared by its workflow (which acts on it) and the calendar
// (which shows slots not yet reached). Pure: the same settings and plan give the same answer in
// both, and in a workflow's replay.

const DAY_MS = 86_400_000;

/** What the schedule depends on; the rest of a campaign's settings (brief, targets) does not move slots. */
export interface ScheduleSettings {
  cadence: Cadence;
  timeZone: string;
  /** First local date, "YYYY-MM-DD". An edit of the cadence restarts the series from the edit's date. */
  startDate: string;
  end: CampaignEnd;
  /** How long before a slot its post is drafted and sent for review. */
  leadMinutes: number;
  /** After downtime: drop slots whose time has passed, or publish them late within a window. */
  catchUp: { mode: 'skip' } | { mode: 'late'; windowMinutes: number };
}

/** Per-slot changes a person made to future slots, by the slot's original local time. */
export interface SlotOverrides {
  skipped: string[];
  /** Original local time -> new local time. */
  moved: Record<string, string>;
}

/** Where the campaign stands in its series. */
export interface SchedulePlan {
  settings: ScheduleSettings;
  overrides: SlotOverrides;
  /** Every original slot at or before this instant is done (reached, skipped or missed). */
  cursor: string | null;
  /** Slots after the cursor already done (a slot moved earlier than others). */
  done: string[];
  /** Slots in the order they happen (cadence.ts `inTimeOrder`); false only for runs started before it. */
  inTimeOrder?: boolean;
  /**
   * Every moved slot comes at its new time, however far after the cursor its own time is; false
   * only for runs started before it, which saw a slot moved earlier only once the slots before its
   * own time were done (and then, its new time gone, recorded it missed).
   */
  allMoves?: boolean;
  /** The rule's UNTIL as RFC 5545 means it (cadence.ts `strictUntil`); false only for runs started before it. */
  strictUntil?: boolean;
}

export interface PlannedSlot extends Slot {
  /** When it happens: its own time, or the time it was moved to. */
  at: string;
  /** Its local time after a move ("YYYY-MM-DDTHH:MM"); equals `local` when not moved. */
  localAt: string;
}

/** The local wall-clock time of an instant in a zone, "YYYY-MM-DDTHH:MM". */
export function localTimeOf(instant: number, timeZone: string): string {
  const offset = zoneOffsetMinutes(instant, timeZone);
  return new Date(instant + offset * 60_000).toISOString().slice(0, 16);
}

/** The campaign's coming slots in the order they happen, skips left out and moves applied. */
export function upcomingSlots(plan: SchedulePlan, limit: number): PlannedSlot[] {
  const { settings, overrides } = plan;
  const skipped = new Set(overrides.skipped);
  const done = new Set(plan.done);
  const series = {
    cadence: settings.cadence,
    timeZone: settings.timeZone,
    startDate: settings.startDate,
    end: settings.end,
    inTimeOrder: plan.inTimeOrder ?? false,
    strictUntil: plan.strictUntil ?? false,
  };
  // Enough originals that skipped, done and moved ones cannot crowd out `limit` live ones.
  const extra = skipped.size + done.size + Object.keys(overrides.moved).length;
  const originals = listSlots({ ...series, ...(plan.cursor ? { after: plan.cursor } : {}), limit: limit + extra });
  const listed = new Set(originals.map((s) => s.local));
  // A slot moved earlier than the originals listed: found by its own time, it comes at its new one.
  const movedAhead = plan.allMoves
    ? Object.keys(overrides.moved).flatMap((local) => {
        if (listed.has(local)) return [];
        // Still one of the series' slots (an edit of the end may have dropped it), not yet passed.
        const slot = findSlot(series, local);
        return slot && (!plan.cursor || Date.parse(slot.at) > Date.parse(plan.cursor)) ? [slot] : [];
      })
    : [];
  return [...originals, ...movedAhead]
    .filter((s) => !skipped.has(s.local) && !done.has(s.local))
    .map((s) => {
      const moved = overrides.moved[s.local];
      return moved
        ? { ...s, at: zonedTimeToInstant(moved, settings.timeZone).toISOString(), localAt: moved }
        : { ...s, localAt: s.local };
    })
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.index - b.index)
    .slice(0, limit);
}

/**
 * The plan once `slot` is done: the cursor moves past every original slot that is done or skipped,
 * so `done` and the overrides stay as small as the number of pending exceptions.
 */
export function markDone(plan: SchedulePlan, local: string): SchedulePlan {
  const done = new Set([...plan.done, local]);
  const skipped = new Set(plan.overrides.skipped);
  const moved = { ...plan.overrides.moved };
  let cursor = plan.cursor;
  const originals = listSlots({
    cadence: plan.settings.cadence,
    timeZone: plan.settings.timeZone,
    startDate: plan.settings.startDate,
    end: plan.settings.end,
    ...(cursor ? { after: cursor } : {}),
    // One more: the slot after the last done one may share its instant.
    limit: done.size + skipped.size + 2,
    inTimeOrder: plan.inTimeOrder ?? false,
    strictUntil: plan.strictUntil ?? false,
  });
  const finished = (s: { local: string }) => done.has(s.local) || skipped.has(s.local);
  for (const [i, s] of originals.entries()) {
    if (!finished(s)) break;
    // Two slots can share an instant (a local time that does not exist moved onto a real one);
    // the cursor passes that instant only once both are done, or the other would be lost.
    if (plan.inTimeOrder && originals.slice(i + 1).some((o) => o.at === s.at && !finished(o))) break;
    cursor = s.at;
    done.delete(s.local);
    skipped.delete(s.local);
    delete moved[s.local];
  }
  return { ...plan, cursor, done: [...done], overrides: { skipped: [...skipped], moved } };
}

/** What to do with a slot whose time (`at`) has come or passed, at `now`. */
export function catchUpDecision(settings: ScheduleSettings, at: string, now: number): 'create' | 'missed' {
  const late = now - Date.parse(at);
  // A minute's grace: a worker waking a little after the slot is not an outage.
  if (late <= 60_000) return 'create';
  if (settings.catchUp.mode === 'late' && late <= settings.catchUp.windowMinutes * 60_000) return 'create';
  return 'missed';
}

/** What the schedule is: two settings with the same key place the same slots. */
const scheduleKey = (s: ScheduleSettings) => JSON.stringify([s.cadence, s.timeZone, s.startDate, s.end]);

/** Where a restarted series begins: today's local date at `now`, or its own first date if later. */
function restartDate(next: ScheduleSettings, now: number): string {
  const today = localTimeOf(now, next.timeZone).slice(0, 10);
  // ISO dates order as strings: the later of the two.
  return [next.startDate, today].sort()[1]!;
}

/** What an end given as a number of posts leaves once `reached` slots are done; refused at none. */
function postsLeft(count: number, reached: number): number {
  const left = count - reached;
  if (left < 1) throw new CadenceError('end.count', `the campaign has already reached ${reached} slots`);
  return left;
}

/**
 * The schedule an edit leaves in effect from `now`, or null when the edit does not touch it: the
 * series restarts on today's local date (a campaign not yet started keeps its date), and a campaign
 * that ends after a number of posts keeps only what the slots reached so far leave. Runs started
 * before `rebaseSeries` keep this on replay.
 */
export function rebaseSchedule(
  next: ScheduleSettings,
  previous: ScheduleSettings,
  reached: number,
  now: number,
): ScheduleSettings | null {
  if (scheduleKey(next) === scheduleKey(previous)) return null;
  const startDate = restartDate(next, now);
  if ('count' in next.end) return { ...next, startDate, end: { count: postsLeft(next.end.count, reached) } };
  return { ...next, startDate };
}

/** How an edit is taken: the workflow passes what its run's patches allow. */
export interface SeriesEdit {
  /**
   * `campaign-edit-from-now`: an edit of the zone keeps the series but never reaches into the past
   * (see rebaseSeries). Runs started before it keep the cursor where it was.
   */
  fromNow?: boolean;
  /** The cursor before the edit: the old zone's slots at or before it are done. */
  cursor?: string | null;
  /** cadence.ts `strictUntil`, as the run lists its slots. */
  strictUntil?: boolean;
}

/**
 * The schedule an edit leaves in effect (null when the edit does not touch it), and whether the
 * series restarts. An edit of the end or the zone keeps the series: the same rule from the same
 * first date, so a monthly rule keeps its day and a fortnightly one its weeks, and an end given as
 * a number of posts still counts the whole series. A new cadence or first date starts a new series
 * on today's local date (a campaign not yet started keeps its date), whose count is what the slots
 * reached so far leave; its slots earlier today than `cutoff` never run and are not counted.
 *
 * With `fromNow`, a zone edit also gives the cursor the series continues from (`cursor`, ms): in the
 * new zone, slots at or before `cutoff` never run and are not missed (they would otherwise all
 * become due at once), nor those whose local time is not after the last one the old zone reached
 * (east to west, a slot would come again under the name of one already made, and make no post). An
 * end given as a number of posts then yields, from the cursor on, the posts the old zone still had
 * after `cutoff`: the count is rewritten to the new zone's slots gone plus those left.
 */
export function rebaseSeries(
  next: ScheduleSettings,
  previous: ScheduleSettings,
  reached: number,
  cutoff: number,
  edit: SeriesEdit = {},
): { settings: ScheduleSettings; restart: boolean; cursor?: number } | null {
  if (scheduleKey(next) === scheduleKey(previous)) return null;
  const strictUntil = edit.strictUntil ?? false;
  if (JSON.stringify([next.cadence, next.startDate]) === JSON.stringify([previous.cadence, previous.startDate])) {
    // The whole series counts, so the end must lie beyond what is reached (at least one left).
    if ('count' in next.end) postsLeft(next.end.count, reached);
    if (!edit.fromNow || next.timeZone === previous.timeZone) return { settings: next, restart: false };
    const lastKey = lastSlotUpTo(previous, edit.cursor ? Date.parse(edit.cursor) : null, strictUntil);
    const cursor = Math.max(cutoff, lastKey ? zonedTimeToInstant(lastKey, next.timeZone).getTime() : cutoff);
    if (!('count' in next.end)) return { settings: next, restart: false, cursor };
    const left = next.end.count - slotsUpTo(previous, cutoff, strictUntil);
    if (left < 1)
      throw new CadenceError('end.count', `none of the campaign's ${next.end.count} slots is left after now`);
    return {
      settings: { ...next, end: { count: slotsUpTo(next, cursor, strictUntil) + left } },
      restart: false,
      cursor,
    };
  }
  const startDate = restartDate(next, cutoff);
  if (!('count' in next.end)) return { settings: { ...next, startDate }, restart: true };
  const left = postsLeft(next.end.count, reached);
  const gone = listSlots({
    ...next,
    startDate,
    end: { count: 1_000 },
    limit: 1_000,
    inTimeOrder: true,
    strictUntil,
  }).filter((slot) => Date.parse(slot.at) <= cutoff).length;
  return { settings: { ...next, startDate, end: { count: left + gone } }, restart: true };
}

/** What places a series' slots, its end aside. */
type SeriesSettings = Pick<ScheduleSettings, 'cadence' | 'timeZone' | 'startDate'>;

/** The series' slots apart from its end, in the order they happen. */
const seriesOnly = (s: SeriesSettings, strictUntil: boolean) => ({
  cadence: s.cadence,
  timeZone: s.timeZone,
  startDate: s.startDate,
  inTimeOrder: true,
  strictUntil,
});

/** How many of the series' slots (its end aside) fall at or before `instant`. */
export function slotsUpTo(s: SeriesSettings, instant: number, strictUntil: boolean): number {
  const [first] = listSlots({ ...seriesOnly(s, strictUntil), after: instant, limit: 1 });
  if (first) return first.index;
  // None after it: the rule's own COUNT or UNTIL ended the series before.
  return listSlots({ ...seriesOnly(s, strictUntil), limit: 10_000 }).length;
}

/**
 * The local time of the series' last slot at or before `instant`, or null. Only the last two days
 * are looked at: a slot's local time read in another zone moves by at most 26 hours.
 */
function lastSlotUpTo(s: SeriesSettings, instant: number | null, strictUntil: boolean): string | null {
  if (instant === null) return null;
  const recent = listSlots({ ...seriesOnly(s, strictUntil), after: instant - 2 * DAY_MS, limit: 500 });
  return recent.filter((slot) => Date.parse(slot.at) <= instant).at(-1)?.local ?? null;
}

/**
 * The plan's pending exceptions without those of slots at or before its cursor: after an edit moved
 * the cursor on, they are gone with their slots (a slot moved later whose own time in the new zone
 * has passed goes too), and the cursor would never pass them to clear them.
 */
export function dropPassed(plan: SchedulePlan): Pick<SchedulePlan, 'done' | 'overrides'> {
  const series = { ...seriesOnly(plan.settings, plan.strictUntil ?? false), end: plan.settings.end };
  const cursor = plan.cursor ? Date.parse(plan.cursor) : Number.NEGATIVE_INFINITY;
  const live = (local: string) => {
    const slot = findSlot(series, local);
    return slot !== null && Date.parse(slot.at) > cursor;
  };
  return {
    done: plan.done.filter(live),
    overrides: {
      skipped: plan.overrides.skipped.filter(live),
      moved: Object.fromEntries(Object.entries(plan.overrides.moved).filter(([local]) => live(local))),
    },
  };
}

/** A campaign's whole settings as saved and run (validated by api/schemas/campaigns.ts). */
export interface CampaignSettings extends ScheduleSettings {
  name: string;
  brief: Brief;
  /** As posts take them (the target registry's shapes), passed to each slot's post unchanged. */
  targets: ({ type: TargetType; key?: string | undefined; platform: DraftFormat } & Record<string, unknown>)[];
  /** Review of each slot's post; a manual review is due by the slot's time. */
  review: { mode: 'auto' } | { mode: 'manual'; onExpiry: 'cancel' | 'approve'; maxRounds?: number | undefined };
}
