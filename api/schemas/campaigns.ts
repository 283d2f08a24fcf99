import { z } from 'zod';
import { WEEKDAYS } from '../../domain/cadence.js';
import { isSupportedYear, isTimeZone, YEAR_RULE, zonedTimeToInstant } from '../../domain/zoned-time.js';
import { briefSchema, targetSchema } from './posts.js';
import { storableText } from './text.js';

// Campaign bodies. Targets are whatever posts accept (the one target registry), so a new target
// type reaches campaigns with no change here.

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const LOCAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/;

export const timeZoneSchema = z
  .string({ error: 'required: an IANA time zone such as Europe/Berlin' })
  .max(64, 'expected an IANA time zone such as Europe/Berlin')
  .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'expected an IANA time zone such as Europe/Berlin')
  .refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin')
  .describe('The IANA zone slots are computed in: 18:00 stays 18:00 local across daylight-saving changes.');

export const cadenceSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('weekly'),
      slots: z
        .array(
          z.strictObject({
            day: z.enum(WEEKDAYS, { error: `expected one of ${WEEKDAYS.join(', ')}` }),
            time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a local time like 18:00'),
          }),
        )
        .min(1, 'give at least one weekly slot')
        .max(50, 'at most 50 weekly slots'),
    }),
    z.strictObject({
      kind: z.literal('rrule'),
      rule: z
        .string()
        .min(1, 'required: an RRULE such as FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=18')
        .max(500, 'must be at most 500 characters')
        .describe(
          'RFC 5545 subset: FREQ=DAILY|WEEKLY|MONTHLY, INTERVAL, BYDAY (ordinals with MONTHLY), BYMONTHDAY, BYHOUR (required), BYMINUTE, COUNT, UNTIL; BYHOUR and BYMINUTE together give at most 48 times a day',
        ),
    }),
  ],
  { error: 'expected { "kind": "weekly", "slots": [...] } or { "kind": "rrule", "rule": "..." }' },
);

// The year rule is a refinement, not a second pattern: generators (Schemathesis) give up on a
// field that must match two patterns at once.
const dateSchema = z.string().regex(DATE, 'expected a date like 2026-12-01').refine(isSupportedYear, YEAR_RULE);

export const endSchema = z.union(
  [
    z.strictObject({ until: dateSchema.describe('Last local date (inclusive)') }),
    z.strictObject({
      count: z.number().int().min(1, 'must be from 1 to 10000').max(10_000, 'must be from 1 to 10000'),
    }),
  ],
  { error: 'expected { "until": "2026-12-31" } or { "count": 12 }' },
);

export const catchUpSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('skip') }),
    z.strictObject({
      mode: z.literal('late'),
      windowMinutes: z.number().int().min(1, 'must be from 1 to 10080').max(10_080, 'must be from 1 to 10080'),
    }),
  ],
  { error: 'expected { "mode": "skip" } or { "mode": "late", "windowMinutes": 120 }' },
);

export const campaignReviewSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('auto') }),
    z.strictObject({
      mode: z.literal('manual'),
      onExpiry: z.enum(['cancel', 'approve'], { error: 'expected "cancel" or "approve"' }).default('cancel'),
      maxRounds: z.number().int().min(0, 'must be from 0 to 10').max(10, 'must be from 0 to 10').optional(),
    }),
  ],
  { error: 'expected { "mode": "auto" } or { "mode": "manual", "onExpiry": "cancel" }' },
);

const campaignFields = {
  name: storableText().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  brief: briefSchema,
  targets: z
    .array(targetSchema, { error: 'required: a list of at least one target' })
    .min(1, 'at least one target is required')
    .max(20, 'at most 20 targets'),
  cadence: cadenceSchema,
  timeZone: timeZoneSchema,
  startDate: dateSchema.describe("First local date of the series: today or later in the campaign's zone"),
  end: endSchema,
  leadMinutes: z
    .number()
    .int()
    .min(0, 'must be from 0 to 10080')
    .max(10_080, 'must be from 0 to 10080')
    .default(60)
    .describe('How long before each slot its post is drafted and sent for review'),
  review: campaignReviewSchema.default({ mode: 'manual', onExpiry: 'cancel' }),
  catchUp: catchUpSchema
    .default({ mode: 'skip' })
    .describe('After downtime: skip slots whose time has passed, or publish them late within a window'),
};

function distinctTargetKeys(value: { targets?: { type: string; key?: string | undefined }[] }, ctx: z.RefinementCtx) {
  const keys = new Set<string>();
  value.targets?.forEach((t, i) => {
    const key = t.key ?? t.type;
    if (keys.has(key)) {
      ctx.addIssue({ code: 'custom', path: ['targets', i, 'key'], message: `duplicate target key "${key}"` });
    }
    keys.add(key);
  });
}

export const createCampaignSchema = z.strictObject(campaignFields).superRefine(distinctTargetKeys);
export type CreateCampaignInput = z.infer<typeof createCampaignSchema>;

/** An edit names only what changes; it applies to slots not yet reached. */
export const editCampaignSchema = z
  .strictObject({
    name: campaignFields.name.optional(),
    brief: briefSchema.optional(),
    targets: campaignFields.targets.optional(),
    cadence: cadenceSchema.optional(),
    timeZone: timeZoneSchema.optional(),
    startDate: dateSchema
      .optional()
      .describe("A new first date restarts the series: today or later in the campaign's zone"),
    end: endSchema.optional(),
    leadMinutes: z.number().int().min(0, 'must be from 0 to 10080').max(10_080, 'must be from 0 to 10080').optional(),
    review: campaignReviewSchema.optional(),
    catchUp: catchUpSchema.optional(),
  })
  .superRefine(distinctTargetKeys);

export const previewSchema = z
  .strictObject({
    cadence: cadenceSchema,
    timeZone: timeZoneSchema,
    startDate: dateSchema.optional().describe("Defaults to today's date in the zone"),
    end: endSchema.optional(),
    limit: z.number().int().min(1, 'must be from 1 to 100').max(100, 'must be from 1 to 100').default(10),
    // The rest of a campaign's body is taken too, checked as create checks it, so a client can
    // preview the very body it will create; only the schedule decides the slots.
    name: campaignFields.name.optional(),
    brief: briefSchema.optional(),
    targets: campaignFields.targets.optional(),
    leadMinutes: campaignFields.leadMinutes.optional(),
    review: campaignFields.review.optional(),
    catchUp: campaignFields.catchUp.optional(),
  })
  .superRefine(distinctTargetKeys);

export const reasonSchema = z.strictObject({
  reason: storableText().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters').optional(),
});
/** A real wall-clock time (no 30 February, no 25:00) in a year the product accepts. */
const isRealLocalTime = (value: string) => {
  try {
    zonedTimeToInstant(value, 'UTC');
    return true;
  } catch {
    return false;
  }
};
const slotSchema = z
  .string()
  .regex(LOCAL, 'expected a slot local time like 2026-12-01T18:00')
  .refine(isRealLocalTime, `expected a real date and time like 2026-12-01T18:00; the year ${YEAR_RULE}`);
export const skipSlotSchema = z.strictObject({ slot: slotSchema });
export const moveSlotSchema = z.strictObject({ slot: slotSchema, to: slotSchema });

export const calendarQuery = z.strictObject({
  from: z.iso
    .datetime({ offset: true, error: 'expected an ISO-8601 date-time, e.g. 2026-12-01T00:00:00Z' })
    .refine(isSupportedYear, YEAR_RULE),
  to: z.iso
    .datetime({ offset: true, error: 'expected an ISO-8601 date-time, e.g. 2027-01-01T00:00:00Z' })
    .refine(isSupportedYear, YEAR_RULE),
  timeZone: timeZoneSchema.optional(),
});

// What the campaign routes answer (use-cases/campaigns), for the OpenAPI document.
const instant = z.iso.datetime({ offset: true });
const slotView = z.object({
  slot: z.string().describe("The slot's identity: its original local time"),
  local: z.string().describe('When it happens, local time (after a move)'),
  at: instant,
});

export const campaignView = z.looseObject({
  id: z.uuid(),
  name: z.string(),
  status: z.enum(['active', 'paused', 'cancelled', 'completed']),
  statusReason: z.string().nullable(),
  settings: z.looseObject({}),
  nextSlots: z.array(slotView),
  summary: z.object({
    scheduled: z.number().int(),
    awaitingReview: z.number().int(),
    published: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
    missed: z.number().int(),
    skipped: z.number().int(),
  }),
  slots: z.array(
    z.looseObject({
      slot: z.string(),
      at: instant,
      outcome: z.string(),
      postId: z.uuid().nullable(),
      reason: z
        .string()
        .nullable()
        .describe(
          'Why a failed slot made no post, in words (e.g. media its brief names was deleted); null for other outcomes and for slots that failed before reasons were kept',
        ),
    }),
  ),
  workflowStartedAt: instant
    .nullable()
    .describe(
      'When Temporal confirmed the campaign started; null while it waits to start (Temporal did not answer its create in time): it starts by itself once Temporal answers',
    ),
});

export const campaignListView = z.object({
  items: z.array(z.looseObject({ id: z.uuid(), name: z.string(), status: z.string() })),
});

export const previewView = z.object({
  timeZone: z.string(),
  startDate: z.string(),
  slots: z.array(z.object({ local: z.string(), at: instant })),
});

export const calendarView = z.object({
  from: instant,
  to: instant,
  timeZone: z.string(),
  items: z.array(
    z.object({
      kind: z.enum(['post', 'slot']).describe('A saved post, or a campaign slot not reached yet (computed)'),
      postId: z.uuid().nullable(),
      campaignId: z.uuid().nullable(),
      status: z.enum(['planned', 'paused', 'scheduled', 'awaiting_review', 'published', 'failed', 'cancelled']),
      at: instant,
      local: z.string().describe('Wall-clock time in the zone asked for, "YYYY-MM-DDTHH:MM"'),
      timeZone: z
        .string()
        .nullable()
        .describe("The zone the post was planned in (the campaign's for a slot); null for a post sent at once"),
      targets: z.array(z.object({ key: z.string(), type: z.string() })),
    }),
  ),
});
