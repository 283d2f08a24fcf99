import { createHash, randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { campaignSlots, campaigns, media, posts } from '../../db/schema.js';
import { CadenceError, checkCadenceLimits, findSlot, listSlots } from '../../domain/cadence.js';
import {
  type CampaignSettings,
  localTimeOf,
  type PlannedSlot,
  type SlotOverrides,
  slotsUpTo,
} from '../../domain/campaign-schedule.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../domain/errors.js';
import { isUuid } from '../../domain/ids.js';
import { zonedTimeToInstant } from '../../domain/zoned-time.js';
import type { campaign } from '../../workflows/campaign.js';
import type { CampaignInput, CampaignProgress } from '../../workflows/campaign-messages.js';
import {
  campaignProgressQuery,
  cancelCampaignUpdate,
  editCampaignUpdate,
  moveSlotUpdate,
  pauseCampaignUpdate,
  resumeCampaignUpdate,
  skipSlotUpdate,
} from '../../workflows/campaign-messages.js';
import { assertPostMediaPossible, MediaRefusedError, type MediaTarget } from '../posts/validate-media.js';
import { assertTargetsUsable, type RequestedTarget } from '../posts/validate-targets.js';
import { TEMPORAL_RETRY_AFTER_SECONDS, type TemporalAccess, withTemporalDeadline } from '../temporal-calls.js';

export type CampaignRow = typeof campaigns.$inferSelect;

export interface CampaignDeps extends TemporalAccess {
  db: Database;
  taskQueue: string;
  /** What each slot's post is created with: the API's own post defaults. */
  postDefaults: {
    reviewMaxRounds: number;
    retryWindowDays: number;
    searchAttributes: boolean;
    uploadTaskQueue?: string;
  };
  /** TIKTOK_APP_AUDITED, for checking TikTok targets. */
  tiktokAudited?: boolean;
  /** An AI endpoint is configured, so the brief's image will be made (default true). */
  aiImages?: boolean;
}

export function workflowIdForCampaign(id: string): string {
  return `campaign-${id}`;
}

/** A cadence that cannot produce slots is refused naming the field, as any other bad input. */
function refusingCadence<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof CadenceError) throw new ValidationError([{ field: err.field, message: err.message }]);
    throw err;
  }
}

/** A new campaign's schedule: one that can run, within the limits on how often it posts. */
export function checkSchedule(settings: Pick<CampaignSettings, 'cadence' | 'timeZone' | 'startDate' | 'end'>) {
  return refusingCadence(() => {
    checkCadenceLimits(settings.cadence);
    return listSlots({ ...settings, limit: 1, strictUntil: true });
  });
}

/**
 * A new series as it runs from `now`: its start date's slots already passed never run (the
 * workflow starts from the creation time), so an end given as a number of posts counts from now
 * and takes those in, as an edit that restarts the series does.
 */
export function countingFromNow<T extends Pick<CampaignSettings, 'cadence' | 'timeZone' | 'startDate'>>(
  settings: T & { end?: CampaignSettings['end'] | undefined },
  now: number,
): T & { end?: CampaignSettings['end'] | undefined } {
  if (!settings.end || !('count' in settings.end)) return settings;
  const gone = slotsUpTo(settings, now, true);
  return gone === 0 ? settings : { ...settings, end: { count: settings.end.count + gone } };
}

/**
 * A series starts today or later in its own zone: the days before it would be walked as slots
 * already missed, using up an end given as a number of posts (or, caught up late, all publishing
 * at once).
 */
function assertStartNotPast(settings: Pick<CampaignSettings, 'timeZone' | 'startDate'>, now = Date.now()) {
  const today = localTimeOf(now, settings.timeZone).slice(0, 10);
  if (settings.startDate < today) {
    throw new ValidationError([
      {
        field: 'startDate',
        message: `must be today or later: it is ${today} in ${settings.timeZone}, and the days before would count as missed`,
      },
    ]);
  }
}

/**
 * A campaign whose end comes before its first slot still to come would be made and completed at
 * once, having posted nothing: refused, saying so.
 */
function assertSomeSlotComing(settings: CampaignSettings, now: number) {
  const [first] = refusingCadence(() =>
    listSlots({ ...countingFromNow(settings, now), after: now, limit: 1, inTimeOrder: true, strictUntil: true }),
  );
  if (first) return;
  throw new ValidationError([
    {
      field: 'end',
      message: 'the campaign would make no post: no slot of its cadence comes between now and its end',
    },
  ]);
}

/** The next slots of a cadence not yet saved, in local time. */
export function previewSlots(request: {
  cadence: CampaignSettings['cadence'];
  timeZone: string;
  startDate?: string | undefined;
  end?: CampaignSettings['end'] | undefined;
  limit: number;
}) {
  const now = Date.now();
  const startDate = request.startDate ?? localTimeOf(now, request.timeZone).slice(0, 10);
  return refusingCadence(() => {
    checkCadenceLimits(request.cadence);
    const slots = listSlots({
      ...countingFromNow({ ...request, startDate }, now),
      after: now,
      limit: request.limit,
      inTimeOrder: true,
      strictUntil: true,
    });
    return { timeZone: request.timeZone, startDate, slots: slots.map((s) => ({ local: s.local, at: s.at })) };
  });
}

/** The one ownership check for campaigns: another user's campaign is reported as missing. */
export async function ownCampaign(db: Database, ownerId: string, id: string): Promise<CampaignRow> {
  const [row] = isUuid(id)
    ? await db
        .select()
        .from(campaigns)
        .where(and(eq(campaigns.id, id), eq(campaigns.ownerId, ownerId)))
    : [];
  if (!row) throw new NotFoundError(`Campaign ${id}`);
  return row;
}

/**
 * Saves a campaign and starts its workflow. A repeat with the same Idempotency-Key answers the
 * first campaign (and starts its workflow if that start was never confirmed).
 */
export async function createCampaign(
  deps: CampaignDeps,
  request: { ownerId: string; settings: CampaignSettings; idempotencyKey?: string | undefined },
): Promise<{ campaign: CampaignRow; created: boolean }> {
  const { ownerId, settings, idempotencyKey } = request;
  const requestHash = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
  if (idempotencyKey) {
    const [earlier] = await deps.db
      .select()
      .from(campaigns)
      .where(and(eq(campaigns.ownerId, ownerId), eq(campaigns.idempotencyKey, idempotencyKey)));
    if (earlier) {
      if (earlier.requestHash !== requestHash) {
        throw new ValidationError([
          { field: 'Idempotency-Key', message: 'already used for a different request; use a new key' },
        ]);
      }
      return { campaign: await replayStart(deps, earlier), created: false };
    }
  }
  checkSchedule(settings);
  const now = Date.now();
  assertStartNotPast(settings, now);
  assertSomeSlotComing(settings, now);
  await assertOwnMedia(deps.db, ownerId, settings.brief.sourceMediaIds ?? []);
  await assertSlotPostsPossible(deps, ownerId, settings);
  const id = randomUUID();
  // The workflow starts from `createdAt` (launchCampaign), the count saved counts from the same moment.
  const createdAt = new Date(now);
  const [row] = await deps.db
    .insert(campaigns)
    .values({
      id,
      ownerId,
      name: settings.name,
      settings: countingFromNow(settings, now) as unknown as Record<string, unknown>,
      createdAt,
      status: 'active',
      idempotencyKey: idempotencyKey ?? null,
      requestHash,
      workflowId: workflowIdForCampaign(id),
    })
    .returning();
  return { campaign: await startCampaign(deps, row!), created: true };
}

/**
 * A repeated create: a campaign whose start Temporal never confirmed is started now (the sweep may
 * not have come yet). One confirmed, or ended, is never started again: after the namespace's
 * retention Temporal would accept a second run of a campaign that was cancelled.
 */
async function replayStart(deps: CampaignStartDeps, row: CampaignRow): Promise<CampaignRow> {
  return awaitsStart(row) ? startCampaign(deps, row) : row;
}

/** Saved, not ended, and its workflow's start never confirmed: the sweep or a repeat starts it. */
export function awaitsStart(row: CampaignRow): boolean {
  return row.workflowStartedAt === null && (row.status === 'active' || row.status === 'paused');
}

/**
 * The checks a slot's post gets (use-cases/posts/create-post.ts), now rather than at every slot. A
 * slot's post is made without media, so its brief's image is all it will have: a platform that
 * needs a video, or a picture when no image will be made, is refused here in words instead of
 * failing each slot.
 */
async function assertSlotPostsPossible(deps: CampaignDeps, ownerId: string, settings: CampaignSettings) {
  await assertTargetsUsable(deps.db, ownerId, settings.targets as RequestedTarget[], [], {
    tiktokAudited: deps.tiktokAudited ?? false,
    generatesImage: settings.brief.generateImage === true,
  });
  const aiImages = deps.aiImages ?? true;
  try {
    assertPostMediaPossible(
      [],
      { mediaIds: [], brief: settings.brief, targets: settings.targets as MediaTarget[] },
      aiImages,
    );
  } catch (err) {
    if (!(err instanceof MediaRefusedError)) throw err;
    // A post's advice ("Add media.") cannot be followed here: a campaign has no media field.
    const targetErrors = err.validation.targets.flatMap((target, t) =>
      target.problems
        .filter((p) => !p.fixable)
        .map((p) => ({ field: `targets[${t}]`, message: `${p.message} ${campaignMediaAdvice(p.code, aiImages)}` })),
    );
    // The rest (brief.generateImage when no picture can be made) stands as the post's check said it.
    const others = err.errors.filter((e) => !/^targets\[\d+\]$/.test(e.field));
    throw new ValidationError([...targetErrors, ...others]);
  }
}

function campaignMediaAdvice(code: string, aiImages: boolean): string {
  if (code !== 'no_media') return '';
  if (!aiImages) {
    return "A campaign's posts carry no media of their own, and no picture can be made with AI here: choose a platform that takes text alone.";
  }
  return "A campaign's posts carry no media of their own: ask for a picture made with AI (brief.generateImage: true), or choose a platform that takes text alone. AI makes pictures, not videos.";
}

/** What starting a saved campaign's workflow takes: the create's deps without its checks'. */
export type CampaignStartDeps = Pick<CampaignDeps, 'db' | 'temporal' | 'callTimeoutMs' | 'taskQueue' | 'postDefaults'>;

/**
 * Starts a saved campaign's workflow and records that Temporal confirmed it. When Temporal does
 * not answer, the start may or may not have happened: the campaign stays, unconfirmed, and is
 * started by the API's sweep (start-unconfirmed.ts) or a repeat with the same Idempotency-Key.
 */
async function startCampaign(deps: CampaignStartDeps, row: CampaignRow): Promise<CampaignRow> {
  try {
    await launchCampaign(deps, row);
  } catch (err) {
    if (!(err instanceof UnavailableError)) throw err;
    throw new UnavailableError(
      'Workflow engine unavailable',
      `Campaign ${row.id} was saved, but Temporal did not confirm its start in time; it starts by itself once Temporal answers. Repeating the request with the same Idempotency-Key is safe.`,
      TEMPORAL_RETRY_AFTER_SECONDS,
    );
  }
  return (await markCampaignStarted(deps.db, row.id)) ?? row;
}

/**
 * Asks Temporal for the campaign's workflow, within the call deadline, from the campaign as saved.
 * Starting it again is harmless: a repeat joins the running workflow or finds the ended one, never
 * a second run. A campaign saved as paused starts paused, with its reason and per-slot changes
 * (its row only says paused once its workflow ran and paused, so the running one is normally found).
 */
export async function launchCampaign(deps: CampaignStartDeps, row: CampaignRow): Promise<void> {
  const input: CampaignInput = {
    campaignId: row.id,
    ownerId: row.ownerId,
    settings: row.settings as unknown as CampaignSettings,
    postDefaults: deps.postDefaults,
    // The campaign's own creation, however late this start (the sweep's, a repeat's): slots that had
    // passed when it was created never run; those passed since follow the catch-up policy.
    startFrom: row.createdAt.toISOString(),
  };
  if (row.status === 'paused') {
    const overrides = row.overrides as unknown as Partial<SlotOverrides>;
    input.carried = {
      status: 'paused',
      statusReason: row.statusReason,
      overrides: { skipped: overrides.skipped ?? [], moved: overrides.moved ?? {} },
      cursor: input.startFrom ?? null,
      done: [],
      reached: 0,
      counts: { created: 0, missed: 0, skipped: 0, failed: 0 },
      runs: 0,
    };
  }
  await withTemporalDeadline(deps, async () => {
    try {
      await deps.temporal.workflow.start<typeof campaign>('campaign', {
        taskQueue: deps.taskQueue,
        workflowId: row.workflowId,
        args: [input],
        staticSummary: `Campaign: ${row.name}`,
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
}

/** Records that the campaign's workflow exists (the first confirmation stands); the row as it is now. */
export async function markCampaignStarted(db: Database, campaignId: string): Promise<CampaignRow | undefined> {
  const [row] = await db
    .update(campaigns)
    .set({ workflowStartedAt: sql`coalesce(${campaigns.workflowStartedAt}, now())` })
    .where(eq(campaigns.id, campaignId))
    .returning();
  return row;
}

async function assertOwnMedia(db: Database, ownerId: string, ids: string[]) {
  if (ids.length === 0) return;
  const found = await db
    .select({ id: media.id })
    .from(media)
    .where(and(inArray(media.id, ids), eq(media.ownerId, ownerId)));
  const known = new Set(found.map((m) => m.id));
  const errors = ids.flatMap((id, i) =>
    known.has(id) ? [] : [{ field: `brief.sourceMediaIds[${i}]`, message: `no media with id ${id}; upload it first` }],
  );
  if (errors.length > 0) throw new ValidationError(errors);
}

/**
 * Settings as saved, with the edit's fields on top; what the edit changes is checked like a new
 * campaign's (a running campaign keeps its first date, and a cadence saved before a limit runs on).
 */
export function mergeEdit(row: CampaignRow, edit: Partial<CampaignSettings>): CampaignSettings {
  const current = row.settings as unknown as CampaignSettings;
  const merged = {
    ...current,
    ...Object.fromEntries(Object.entries(edit).filter(([, v]) => v !== undefined)),
  } as CampaignSettings;
  refusingCadence(() => {
    if (edit.cadence) checkCadenceLimits(merged.cadence);
    listSlots({ ...merged, limit: 1, strictUntil: true });
  });
  if (edit.startDate !== undefined && edit.startDate !== current.startDate) assertStartNotPast(merged);
  // A campaign whose first day is still to come may not be moved by its zone to a first day already
  // gone, as create refuses one. From its first day on, a zone edit continues from the edit's time
  // (the workflow leaves out what the new zone puts before it).
  if (
    edit.timeZone !== undefined &&
    edit.timeZone !== current.timeZone &&
    current.startDate > localTimeOf(Date.now(), current.timeZone).slice(0, 10)
  ) {
    assertStartNotPast(merged);
  }
  return merged;
}

/** Sends one validated Update to the caller's campaign; a refusal comes back in words (409/422). */
export async function sendCampaignUpdate<Args extends unknown[]>(
  deps: CampaignDeps,
  request: { ownerId: string; campaignId: string },
  update: UpdateDefinition<CampaignProgress, Args>,
  args: Args,
): Promise<CampaignProgress> {
  const row = await ownCampaign(deps.db, request.ownerId, request.campaignId);
  // A campaign whose start Temporal never confirmed is started first (as the sweep would), so the
  // change reaches its workflow instead of being refused as if the campaign had ended.
  if (awaitsStart(row)) {
    await launchCampaign(deps, row);
    await markCampaignStarted(deps.db, row.id);
  }
  const handle = deps.temporal.workflow.getHandle(row.workflowId);
  return withTemporalDeadline(deps, async () => {
    try {
      // One signature for Updates with and without an argument.
      return await handle.executeUpdate(update as unknown as UpdateDefinition<CampaignProgress, [unknown]>, {
        args: args as unknown as [unknown],
      });
    } catch (err) {
      throw refusal(err);
    }
  });
}

function refusal(err: unknown): unknown {
  if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test(String((err as Error)?.message))) {
    return new ConflictError('Campaign finished', 'This campaign has ended; it can no longer be changed');
  }
  if (!(err instanceof WorkflowUpdateFailedError)) return err;
  // The campaign could not save the change (its database did not answer in time); it made none.
  if (
    err.cause instanceof ActivityFailure &&
    !(err.cause.cause instanceof ApplicationFailure && err.cause.cause.nonRetryable)
  ) {
    return new UnavailableError(
      'Campaign not changed',
      'The change could not be saved just now; nothing changed. Try again shortly.',
      TEMPORAL_RETRY_AFTER_SECONDS,
    );
  }
  let cause: unknown = err.cause;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  const message = cause instanceof Error ? cause.message : 'The request was refused';
  if (cause instanceof ApplicationFailure && cause.type === 'CadenceError') {
    // The field the schedule failed on; runs from before it was sent refused only a count.
    const [field] = cause.details ?? [];
    return new ValidationError([{ field: typeof field === 'string' ? field : 'end.count', message }]);
  }
  if (cause instanceof ApplicationFailure && (cause.type === 'NoSuchSlot' || cause.type === 'MoveInPast')) {
    return new ValidationError([{ field: cause.type === 'MoveInPast' ? 'to' : 'slot', message }]);
  }
  return new ConflictError('Not possible now', message);
}

const NEXT_SLOTS = 5;

/**
 * A campaign with its progress: next slots from its workflow (computed from the saved settings when
 * Temporal does not answer) and what became of the slots reached, from the posts themselves.
 */
export async function viewCampaign(deps: CampaignDeps, ownerId: string, id: string) {
  const row = await ownCampaign(deps.db, ownerId, id);
  return viewOf(deps, row);
}

export async function viewOf(deps: CampaignDeps, row: CampaignRow) {
  let progress: CampaignProgress | null = null;
  if (row.status === 'active' || row.status === 'paused') {
    progress = await withTemporalDeadline(deps, () =>
      deps.temporal.workflow.getHandle(row.workflowId).query(campaignProgressQuery),
    ).catch(() => null);
  }
  const slots = await deps.db
    .select({
      slot: campaignSlots.slotLocal,
      at: campaignSlots.at,
      outcome: campaignSlots.outcome,
      reason: campaignSlots.reason,
      postId: posts.id,
      status: posts.status,
    })
    .from(campaignSlots)
    .leftJoin(posts, eq(posts.id, campaignSlots.postId))
    .where(eq(campaignSlots.campaignId, row.id))
    .orderBy(desc(campaignSlots.at));
  const summary = { scheduled: 0, awaitingReview: 0, published: 0, failed: 0, cancelled: 0, missed: 0, skipped: 0 };
  for (const s of slots) {
    if (s.outcome === 'missed') summary.missed++;
    else if (s.outcome === 'skipped') summary.skipped++;
    else if (s.outcome === 'failed' || s.status === 'failed') summary.failed++;
    else if (s.status === 'published' || s.status === 'partially_published') summary.published++;
    else if (s.status === 'awaiting_review') summary.awaitingReview++;
    else if (s.status === 'cancelled') summary.cancelled++;
    else summary.scheduled++;
  }
  const settings = row.settings as unknown as CampaignSettings;
  const nextSlots =
    progress?.nextSlots ??
    (row.status === 'active' || row.status === 'paused'
      ? computedNextSlots(
          row,
          slots.filter((s) => s.at.getTime() > Date.now()).map((s) => s.slot),
        )
      : []);
  return {
    id: row.id,
    name: row.name,
    status: progress?.status ?? row.status,
    statusReason: progress ? progress.statusReason : row.statusReason,
    settings,
    overrides: row.overrides,
    // When it happens on the campaign's clock, read from the instant: a time the clocks skip (02:30
    // on the spring-forward day) happens, and is shown, at 03:30. `slot` stays its identity.
    nextSlots: nextSlots.map((s) => ({
      slot: s.local,
      local: localTimeOf(Date.parse(s.at), settings.timeZone),
      at: s.at,
    })),
    summary,
    slots: slots.slice(0, 50).map((s) => ({
      slot: s.slot,
      at: s.at.toISOString(),
      outcome: s.outcome,
      postId: s.postId,
      status: s.status,
      reason: s.outcome === 'failed' ? s.reason : null,
    })),
    runs: progress?.runs ?? null,
    workflowId: row.workflowId,
    workflowStartedAt: row.workflowStartedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * Slots not yet reached, from the saved settings, in the order they happen: those after `after`
 * (a moved slot by its new time, whenever its original time was) and before `before`, without a
 * recorded outcome, skips left out.
 */
export function computedNextSlots(
  row: CampaignRow,
  reached: string[],
  limit = NEXT_SLOTS,
  after = Date.now(),
  before = Number.POSITIVE_INFINITY,
): PlannedSlot[] {
  const settings = row.settings as unknown as CampaignSettings;
  const overrides = row.overrides as unknown as Partial<SlotOverrides>;
  const gone = new Set([...reached, ...(overrides.skipped ?? [])]);
  const moved = overrides.moved ?? {};
  const series = (from: number, count: number) =>
    listSlots({
      cadence: settings.cadence,
      timeZone: settings.timeZone,
      startDate: settings.startDate,
      end: settings.end,
      after: from,
      limit: count,
      inTimeOrder: true,
      strictUntil: true,
    });
  const slots: PlannedSlot[] = [];
  for (const [local, localAt] of Object.entries(moved)) {
    if (gone.has(local)) continue;
    // Still one of the series' slots (an edit of the end may have dropped it), with its index.
    const original = findSlot(
      {
        cadence: settings.cadence,
        timeZone: settings.timeZone,
        startDate: settings.startDate,
        end: settings.end,
        inTimeOrder: true,
        strictUntil: true,
      },
      local,
    );
    if (!original) continue;
    const at = zonedTimeToInstant(localAt, settings.timeZone).getTime();
    if (at > after && at < before) slots.push({ ...original, at: new Date(at).toISOString(), localAt });
  }
  // The others by their own time, a page at a time: paging by a moved slot's time would skip some.
  let cursor = after;
  for (let taken = 0; taken < limit; ) {
    const page = series(cursor, 100);
    for (const slot of page) {
      if (Date.parse(slot.at) >= before || taken >= limit) break;
      if (gone.has(slot.local) || slot.local in moved) continue;
      slots.push({ ...slot, localAt: slot.local });
      taken++;
    }
    const last = page.at(-1);
    if (page.length < 100 || !last || Date.parse(last.at) >= before) break;
    cursor = Date.parse(last.at);
  }
  return slots.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.index - b.index).slice(0, limit);
}

export async function listCampaigns(db: Database, ownerId: string) {
  const rows = await db
    .select()
    .from(campaigns)
    .where(eq(campaigns.ownerId, ownerId))
    .orderBy(desc(campaigns.createdAt))
    .limit(200);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    status: r.status,
    statusReason: r.statusReason,
    createdAt: r.createdAt.toISOString(),
  }));
}

/** Who acts on which campaign. */
export interface CampaignTarget {
  ownerId: string;
  campaignId: string;
}

export const pauseCampaign = (deps: CampaignDeps, target: CampaignTarget, input: { reason?: string | undefined }) =>
  sendCampaignUpdate(deps, target, pauseCampaignUpdate, [input.reason ? { reason: input.reason } : {}]);
export const resumeCampaign = (deps: CampaignDeps, target: CampaignTarget) =>
  sendCampaignUpdate(deps, target, resumeCampaignUpdate, []);
export const cancelCampaign = (deps: CampaignDeps, target: CampaignTarget, input: { reason?: string | undefined }) =>
  sendCampaignUpdate(deps, target, cancelCampaignUpdate, [input.reason ? { reason: input.reason } : {}]);
export const skipSlot = (deps: CampaignDeps, target: CampaignTarget, input: { slot: string }) =>
  sendCampaignUpdate(deps, target, skipSlotUpdate, [input]);
export const moveSlot = (deps: CampaignDeps, target: CampaignTarget, input: { slot: string; to: string }) =>
  sendCampaignUpdate(deps, target, moveSlotUpdate, [input]);

/** An edit: merged onto the saved settings, checked, then sent; it applies to slots not yet reached. */
export async function editCampaign(deps: CampaignDeps, target: CampaignTarget, edit: Partial<CampaignSettings>) {
  const row = await ownCampaign(deps.db, target.ownerId, target.campaignId);
  const settings = mergeEdit(row, edit);
  // The create's checks for what changes: the brief's media, and the targets (whether the brief
  // makes a picture decides what some of them can take).
  if (edit.brief) await assertOwnMedia(deps.db, target.ownerId, settings.brief.sourceMediaIds ?? []);
  if (edit.targets || edit.brief) {
    await assertSlotPostsPossible(deps, target.ownerId, settings);
  }
  const changes = Object.fromEntries(Object.entries(edit).filter(([, v]) => v !== undefined));
  return sendCampaignUpdate(deps, target, editCampaignUpdate, [{ settings, changes }]);
}
