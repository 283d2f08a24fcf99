import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CampaignSettings, PlannedSlot, SlotOverrides } from '../domain/campaign-schedule.js';

// The campaign workflow's messages, shared by the workflow and the use cases that send them.

export type CampaignStatus = 'active' | 'paused' | 'cancelled' | 'completed';

export interface CampaignInput {
  campaignId: string;
  ownerId: string;
  /** The settings in effect: an edit of the schedule restarts it (start date, count left) from the edit. */
  settings: CampaignSettings;
  /** What each slot's post is created with (the API's own defaults), fixed when the campaign starts. */
  postDefaults: {
    reviewMaxRounds: number;
    retryWindowDays: number;
    searchAttributes: boolean;
    uploadTaskQueue?: string;
  };
  /**
   * When the campaign was created (ISO-8601): its first run starts there, so slots of its start date
   * already passed then are not reached. Absent in inputs from before it: from the start date.
   */
  startFrom?: string;
  /** Carried over by continue-as-new; absent on the first run. */
  carried?: CampaignCarried;
}

/** Everything a run hands the next one: small, whatever the campaign's length. */
export interface CampaignCarried {
  status: CampaignStatus;
  statusReason: string | null;
  overrides: SlotOverrides;
  cursor: string | null;
  done: string[];
  /** Slots reached since the schedule's start date (for an end given as a number of posts). */
  reached: number;
  counts: CampaignCounts;
  /** Runs so far, including this one: continue-as-new made them. */
  runs: number;
  /** When the latest post the campaign made is due (its slot's time, after a move); v2 only. */
  lastDueAt?: string | null;
}

export interface CampaignCounts {
  created: number;
  missed: number;
  skipped: number;
  /** Slots whose post could not be made from the settings (in words on the slot). */
  failed: number;
}

export interface CampaignProgress {
  status: CampaignStatus;
  statusReason: string | null;
  nextSlots: PlannedSlot[];
  counts: CampaignCounts;
  runs: number;
}

export interface EditCampaignInput {
  /** The whole new settings (the API merges a partial edit onto the current ones first). */
  settings: CampaignSettings;
  /**
   * Just the fields the person changed. A campaign run with `campaign-schedule-v2` merges them onto
   * its own settings at the edit's turn, so two edits sent at once both stand; `settings` serves
   * runs from before it.
   */
  changes?: Partial<CampaignSettings>;
}

export const campaignProgressQuery = defineQuery<CampaignProgress>('campaignProgress');
export const pauseCampaignUpdate = defineUpdate<CampaignProgress, [{ reason?: string }]>('pauseCampaign');
export const resumeCampaignUpdate = defineUpdate<CampaignProgress, []>('resumeCampaign');
export const editCampaignUpdate = defineUpdate<CampaignProgress, [EditCampaignInput]>('editCampaign');
/** `slot` is the slot's original local time, as the progress lists it. */
export const skipSlotUpdate = defineUpdate<CampaignProgress, [{ slot: string }]>('skipSlot');
export const moveSlotUpdate = defineUpdate<CampaignProgress, [{ slot: string; to: string }]>('moveSlot');
export const cancelCampaignUpdate = defineUpdate<CampaignProgress, [{ reason?: string }]>('cancelCampaign');
