import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { CadenceError, listSlots } from '../domain/cadence.js';
import {
  type CampaignSettings,
  catchUpDecision,
  dropPassed,
  markDone,
  type PlannedSlot,
  rebaseSchedule,
  rebaseSeries,
  type SchedulePlan,
  type SlotOverrides,
  upcomingSlots,
} from '../domain/campaign-schedule.js';
import {
  type CampaignCarried,
  type CampaignInput,
  type CampaignProgress,
  campaignProgressQuery,
  cancelCampaignUpdate,
  type EditCampaignInput,
  editCampaignUpdate,
  moveSlotUpdate,
  pauseCampaignUpdate,
  resumeCampaignUpdate,
  skipSlotUpdate,
} from './campaign-messages.js';
import { describeFailure } from './describe-failure.js';
import { FifoLock } from './fifo-lock.js';

/** Database writes, idempotent: they retry until they land (a slot is never left half-made). */
const { createSlotPost, recordSlot, markSlotPipelineStarted } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});
/** Cancels the posts a cancelled campaign made ahead for slots still to come (one Update per post). */
const { cancelSlotPosts } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});
/** Writes an Update's answer waits for: bounded, so a person hears back instead of hanging. */
const { saveCampaignState } = proxyActivities<Activities>({
  scheduleToCloseTimeout: '15 seconds',
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '250ms', backoffCoefficient: 2, maximumInterval: '2 seconds' },
});

/** Slots per run before continuing as new: the history holds a few slots' events, whatever the length. */
const SLOTS_PER_RUN = 4;
/** How many coming slots the progress lists. */
const NEXT_SLOTS = 5;

/**
 * One campaign (workflow id `campaign-<id>`): sleeps until the next slot's lead time, creates that
 * slot's post through the post use case (keyed by campaign and slot), starts its pipeline as a
 * child with the post's own workflow id that outlives this run, and continues as new every few
 * slots. Pause, resume, edit, skip, move and cancel are validated Updates; nothing polls.
 */
export async function campaign(input: CampaignInput): Promise<CampaignProgress> {
  const { campaignId, ownerId, postDefaults } = input;
  let settings: CampaignSettings = input.settings;
  const carried: CampaignCarried = input.carried ?? {
    status: 'active',
    statusReason: null,
    overrides: { skipped: [], moved: {} },
    // From its creation: the start date's slots that had passed by then were never to run (the
    // create's preview and count leave them out). Inputs from before it start from the start date.
    cursor: input.startFrom ?? null,
    done: [],
    reached: 0,
    counts: { created: 0, missed: 0, skipped: 0, failed: 0 },
    runs: 0,
  };
  const state = { ...carried, runs: carried.runs + 1 };
  // Slots in the order they happen (a slot in the clocks' spring-forward gap was lost), and edits
  // of the end or zone that keep the series. Runs without the marker keep the old rules on replay.
  const scheduleV2 = patched('campaign-schedule-v2');
  // A slot moved earlier than slots before its own time comes at its new time; runs without the
  // marker keep seeing it only once those are done.
  const allMoves = patched('campaign-moved-slots');
  // An edit of the zone continues the series from the edit's time: slots that the new zone puts
  // before it are neither run late nor missed. Runs without the marker keep their cursor on replay.
  const editsFromNow = patched('campaign-edit-from-now');
  // The rule's UNTIL ends the series when it is earlier than the end given, and at the time it
  // names. Runs without the marker list their slots as before on replay.
  const strictUntil = patched('campaign-rule-until');
  /** Bumped by every Update that changes what to wait for, so a sleep wakes and re-plans. */
  let version = 0;

  const plan = (): SchedulePlan => ({
    settings,
    overrides: state.overrides,
    cursor: state.cursor,
    done: state.done,
    inTimeOrder: scheduleV2,
    allMoves,
    strictUntil,
  });
  const next = (limit: number) => (state.status === 'cancelled' ? [] : upcomingSlots(plan(), limit));
  const progress = (): CampaignProgress => ({
    status: state.status,
    statusReason: state.statusReason,
    nextSlots: next(NEXT_SLOTS),
    counts: state.counts,
    runs: state.runs,
  });
  const save = (withSettings: boolean) =>
    saveCampaignState({
      campaignId,
      status: state.status,
      statusReason: state.statusReason,
      overrides: state.overrides,
      ...(withSettings ? { settings } : {}),
    });
  const assertOpen = () => {
    if (state.status === 'cancelled' || state.status === 'completed') {
      throw ApplicationFailure.nonRetryable(`The campaign is ${state.status}`, 'CampaignClosed');
    }
  };
  const findFuture = (slot: string): PlannedSlot => {
    const found = next(500).find((s) => s.local === slot);
    if (!found)
      throw ApplicationFailure.nonRetryable(`${slot} is not one of the campaign's coming slots`, 'NoSuchSlot');
    if (inFlight === slot) throw ApplicationFailure.nonRetryable(`${slot} is being created now`, 'SlotStarted');
    return found;
  };
  /** Where a new series would start: now, or past the last slot reached if that is later. */
  const editCutoff = () => Math.max(Date.now(), Date.parse(state.cursor ?? '1970-01-01T00:00:00Z'));
  /** The slot whose post is being created right now: no longer "future" for skip and move. */
  let inFlight: string | null = null;

  setHandler(campaignProgressQuery, progress);

  // What each Update asks, checked when it is accepted and again when its turn comes (v2).
  const checkPause = () => {
    assertOpen();
    if (state.status === 'paused') throw ApplicationFailure.nonRetryable('The campaign is paused already', 'Paused');
  };
  const checkResume = () => {
    assertOpen();
    if (state.status !== 'paused') throw ApplicationFailure.nonRetryable('The campaign is not paused', 'NotPaused');
  };
  /** The edited schedule (null: unchanged); refuses one that cannot run, naming the field in `details`. */
  const checkEdit = (edited: CampaignSettings) => {
    assertOpen();
    try {
      const rebased = rebaseSeries(edited, settings, state.reached, editCutoff(), {
        fromNow: editsFromNow,
        cursor: state.cursor,
        strictUntil,
      });
      if (rebased) listSlots({ ...rebased.settings, limit: 1, strictUntil });
      return rebased;
    } catch (err) {
      throw cadenceRefusal(err);
    }
  };
  /**
   * v2: the settings an edit asks for, its changes merged onto the settings as they are now (at the
   * edit's turn, so an edit sent at the same time and saved first stands).
   */
  const editedSettings = (edit: EditCampaignInput): CampaignSettings =>
    edit.changes ? { ...settings, ...edit.changes } : edit.settings;
  const withSkip = (overrides: SlotOverrides, slot: string) => ({
    ...overrides,
    skipped: [...overrides.skipped, slot],
  });
  const withMove = (overrides: SlotOverrides, slot: string, to: string) => ({
    ...overrides,
    moved: { ...overrides.moved, [slot]: to },
  });
  const checkMove = (slot: string, to: string) => {
    assertOpen();
    findFuture(slot);
    // The new time must be a real local time in the future (the API checks its shape).
    const moved = upcomingSlots({ ...plan(), overrides: withMove(state.overrides, slot, to) }, 500).find(
      (s) => s.local === slot,
    );
    if (!moved || Date.parse(moved.at) <= Date.now()) {
      throw ApplicationFailure.nonRetryable(`${to} is not in the future`, 'MoveInPast');
    }
  };

  /**
   * v2: Updates take turns, and each saves its change before making it. One whose save fails
   * (the database down past the answer's deadline) has changed nothing, so its refusal is true;
   * before, a cancel refused that way had stopped the campaign anyway, its row left active.
   */
  const updates = new FifoLock();
  /** An Update's turn; a schedule refused at its turn (checked again then) is refused, not a failed task. */
  const inTurn = <T>(work: () => Promise<T>) =>
    updates.run(async () => {
      try {
        return await work();
      } catch (err) {
        throw cadenceRefusal(err);
      }
    });
  const saveThen = async (
    change: {
      status?: CampaignCarried['status'];
      statusReason?: string | null;
      overrides?: SlotOverrides;
      settings?: CampaignSettings;
    },
    apply: () => void,
  ): Promise<CampaignProgress> => {
    await saveCampaignState({
      campaignId,
      status: change.status ?? state.status,
      statusReason: change.statusReason !== undefined ? change.statusReason : state.statusReason,
      overrides: change.overrides ?? state.overrides,
      ...(change.settings ? { settings: change.settings } : {}),
    });
    apply();
    version++;
    return progress();
  };
  const setStatus = (status: CampaignCarried['status'], statusReason: string | null) =>
    saveThen({ status, statusReason }, () => {
      state.status = status;
      state.statusReason = statusReason;
    });

  setHandler(
    pauseCampaignUpdate,
    async ({ reason }) => {
      if (scheduleV2) {
        return inTurn(() => {
          checkPause();
          return setStatus('paused', reason ?? 'Paused on request');
        });
      }
      state.status = 'paused';
      state.statusReason = reason ?? 'Paused on request';
      version++;
      await save(false);
      return progress();
    },
    { validator: (_input) => checkPause() },
  );

  setHandler(
    resumeCampaignUpdate,
    async () => {
      if (scheduleV2) {
        return inTurn(() => {
          checkResume();
          return setStatus('active', null);
        });
      }
      state.status = 'active';
      state.statusReason = null;
      version++;
      await save(false);
      return progress();
    },
    { validator: () => checkResume() },
  );

  setHandler(
    editCampaignUpdate,
    async (input) => {
      const { settings: edited } = input;
      if (scheduleV2) {
        return inTurn(() => {
          const wanted = editedSettings(input);
          const rebased = checkEdit(wanted);
          const cutoff = editCutoff();
          const nextSettings = rebased ? { ...wanted, ...rebased.settings } : wanted;
          const restart = rebased?.restart === true;
          const none: SlotOverrides = { skipped: [], moved: {} };
          // A zone edit's new cursor (campaign-edit-from-now): the exceptions of slots before it go.
          const moved =
            rebased?.cursor === undefined
              ? null
              : { cursor: new Date(rebased.cursor).toISOString(), settings: nextSettings };
          const kept = moved ? dropPassed({ ...plan(), ...moved }) : null;
          const overrides = restart ? none : kept?.overrides;
          return saveThen({ settings: nextSettings, ...(overrides ? { overrides } : {}) }, () => {
            settings = nextSettings;
            if (moved && kept) {
              state.cursor = moved.cursor;
              state.done = kept.done;
              state.overrides = kept.overrides;
            }
            if (!restart) return;
            // A new series starts now: what was reached stays, per-slot changes of the old one go.
            state.cursor = new Date(cutoff).toISOString();
            state.done = [];
            state.overrides = none;
            state.reached = 0;
          });
        });
      }
      const rebased = rebaseSchedule(edited, settings, state.reached, Date.now());
      if (rebased) {
        // A new schedule starts now: what was reached stays, per-slot changes of the old one go,
        // and an end given as a number of posts counts from here.
        settings = { ...edited, ...rebased };
        state.cursor = new Date(Math.max(Date.now(), Date.parse(state.cursor ?? '1970-01-01T00:00:00Z'))).toISOString();
        state.done = [];
        state.overrides = { skipped: [], moved: {} };
        state.reached = 0;
      } else {
        settings = edited;
      }
      version++;
      await save(true);
      return progress();
    },
    {
      validator: ({ settings: edited, changes }) => {
        if (scheduleV2) {
          checkEdit(editedSettings({ settings: edited, changes }));
          return;
        }
        assertOpen();
        try {
          const rebased = rebaseSchedule(edited, settings, state.reached, Date.now());
          if (rebased) listSlots({ ...rebased, limit: 1 });
        } catch (err) {
          throw cadenceRefusal(err);
        }
      },
    },
  );

  setHandler(
    skipSlotUpdate,
    async ({ slot }) => {
      if (scheduleV2) {
        return inTurn(async () => {
          assertOpen();
          const { at } = findFuture(slot);
          const answer = await saveThen({ overrides: withSkip(state.overrides, slot) }, () => {
            state.overrides = withSkip(state.overrides, slot);
            state.counts = { ...state.counts, skipped: state.counts.skipped + 1 };
          });
          await recordSlot({ campaignId, slotLocal: slot, at, outcome: 'skipped' });
          return answer;
        });
      }
      const { at } = findFuture(slot);
      state.overrides = withSkip(state.overrides, slot);
      state.counts = { ...state.counts, skipped: state.counts.skipped + 1 };
      version++;
      await recordSlot({ campaignId, slotLocal: slot, at, outcome: 'skipped' });
      await save(false);
      return progress();
    },
    {
      validator: ({ slot }) => {
        assertOpen();
        findFuture(slot);
      },
    },
  );

  setHandler(
    moveSlotUpdate,
    async ({ slot, to }) => {
      if (scheduleV2) {
        return inTurn(() => {
          checkMove(slot, to);
          return saveThen({ overrides: withMove(state.overrides, slot, to) }, () => {
            state.overrides = withMove(state.overrides, slot, to);
          });
        });
      }
      state.overrides = withMove(state.overrides, slot, to);
      version++;
      await save(false);
      return progress();
    },
    { validator: ({ slot, to }) => checkMove(slot, to) },
  );

  setHandler(
    cancelCampaignUpdate,
    async ({ reason }) => {
      if (scheduleV2) {
        return inTurn(() => {
          assertOpen();
          return setStatus('cancelled', reason ?? 'Cancelled on request');
        });
      }
      state.status = 'cancelled';
      state.statusReason = reason ?? 'Cancelled on request';
      version++;
      await save(false);
      return progress();
    },
    { validator: (_input) => assertOpen() },
  );

  let slotsThisRun = 0;
  while (state.status !== 'cancelled') {
    if (scheduleV2 && updates.busy) {
      // An Update is between its checks and its change (its save in flight): nothing is decided
      // from the state it is about to change. Plan again once it is done.
      await condition(() => !updates.busy);
      continue;
    }
    if (state.status === 'paused') {
      await condition(() => state.status !== 'paused');
      continue;
    }
    const [slot] = next(1);
    if (!slot) {
      const lastAt = Date.parse(state.lastDueAt ?? '1970-01-01T00:00:00Z');
      if (scheduleV2 && lastAt > Date.now()) {
        // The last posts were made a lead time ahead: until the latest is due, the campaign stays
        // open, so a cancel can still stop them and an edit can still add slots.
        const seen = version;
        await condition(() => version !== seen || updates.busy, lastAt - Date.now());
        continue;
      }
      state.status = 'completed';
      state.statusReason = null;
      await save(false);
      break;
    }
    const seen = version;
    const wakeAt = Date.parse(slot.at) - settings.leadMinutes * 60_000;
    if (wakeAt > Date.now()) {
      // Woken early by an Update (pause, edit, skip, move): plan again from the top.
      if (await condition(() => version !== seen, wakeAt - Date.now())) continue;
    }
    if (slotsThisRun >= SLOTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      // Continue as new on waking for the next slot rather than right after the last one: the
      // last slot's pipeline has usually finished by then, and the new run reaches this slot at once.
      await condition(allHandlersFinished);
      await continueAsNew<typeof campaign>({ campaignId, ownerId, settings, postDefaults, carried: state });
    }
    if (scheduleV2 && updates.busy) {
      // As above, once more after the wait: the slot an Update may skip, move or cancel is not
      // taken from under it.
      await condition(() => !updates.busy);
      continue;
    }
    inFlight = slot.local;
    await reachSlot(slot);
    inFlight = null;
    slotsThisRun++;
  }
  if (scheduleV2 && state.status === 'cancelled') {
    // Future slots do not publish: the posts made for them ahead of time go too; published ones stay.
    await cancelSlotPosts({
      campaignId,
      ownerId,
      reason: `The campaign was cancelled${state.statusReason ? ` (${state.statusReason})` : ''}`,
      // The moment of the cancel, the same on every retry: a post whose pipeline did not answer
      // at first is still asked once its slot's time has passed.
      now: Date.now(),
    });
  }
  await condition(allHandlersFinished);
  return progress();

  async function reachSlot(slot: PlannedSlot): Promise<void> {
    const decision = catchUpDecision(settings, slot.at, Date.now());
    if (decision === 'missed') {
      await recordSlot({ campaignId, slotLocal: slot.local, at: slot.at, outcome: 'missed' });
      state.counts = { ...state.counts, missed: state.counts.missed + 1 };
    } else {
      try {
        const dueAt = new Date(Math.max(Date.parse(slot.at), Date.now())).toISOString();
        const made = await createSlotPost({
          campaignId,
          ownerId,
          settings,
          postDefaults,
          // Late within the catch-up window: publish now rather than at a time already gone.
          slot: { local: slot.local, at: dueAt },
        });
        if (scheduleV2 && (!state.lastDueAt || dueAt > state.lastDueAt)) state.lastDueAt = dueAt;
        if (made.pipeline) {
          const options = made.pipeline;
          try {
            await startChild('postPipeline', {
              ...options,
              // The post's pipeline outlives this run (continue-as-new) and the campaign itself.
              parentClosePolicy: ParentClosePolicy.ABANDON,
            });
          } catch (err) {
            // Started before (a retry after a crash): the running pipeline is the slot's.
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          }
          await markSlotPipelineStarted({ postId: made.postId });
        }
        state.counts = { ...state.counts, created: state.counts.created + 1 };
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        if (err.cause instanceof ApplicationFailure && err.cause.type === 'ConnectionNeedsReconnect') {
          // Cancelled or paused by a person meanwhile: that stands (a cancel is not undone by a
          // pause a resume could lift). The slot is not done either way.
          if (scheduleV2 && state.status !== 'active') return;
          // Paused with the reason; the slot is not done, so a resume reaches it again (late within
          // the catch-up window, or missed).
          state.status = 'paused';
          state.statusReason = err.cause.message;
          version++;
          await save(false);
          return;
        }
        // The slot's words (why its post could not be made) for the campaign's view, not only its history.
        await recordSlot({
          campaignId,
          slotLocal: slot.local,
          at: slot.at,
          outcome: 'failed',
          reason: describeFailure(err),
        });
        state.counts = { ...state.counts, failed: state.counts.failed + 1 };
      }
    }
    const after = markDone(plan(), slot.local);
    state.cursor = after.cursor;
    state.done = after.done;
    state.overrides = after.overrides;
    state.reached++;
  }
}

/** A schedule refused (CadenceError) as the Update's refusal, its field in `details` for the API to name. */
function cadenceRefusal(err: unknown): unknown {
  if (!(err instanceof CadenceError)) return err;
  return ApplicationFailure.create({
    message: err.message,
    type: 'CadenceError',
    nonRetryable: true,
    details: [err.field],
  });
}
