import { isSupportedYear, LAST_YEAR, YEAR_RULE, zonedTimeToInstant, zoneOffsetMinutes } from './zoned-time.js';

// When a campaign's slots fall. Slots are computed on the campaign's wall clock, then turned into
// instants one by one, so an 18:00 slot stays 18:00 local across daylight-saving changes. A slot's
// identity is its local date and time ("2026-03-29T18:00"): it does not move when offsets do, so it
// can key the slot's post. Local times that do not exist or exist twice follow zonedTimeToInstant:
// a skipped time moves forward by the gap (02:30 becomes 03:30), a repeated one means the first.

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface WeeklySlot {
  day: Weekday;
  /** Local time, "HH:MM". */
  time: string;
}

export type Cadence = { kind: 'weekly'; slots: WeeklySlot[] } | { kind: 'rrule'; rule: string };

export type CampaignEnd = { until: string } | { count: number };

export interface Slot {
  /** Local wall-clock time in the campaign's zone, "YYYY-MM-DDTHH:MM": the slot's identity. */
  local: string;
  /** The instant, ISO-8601 UTC. */
  at: string;
  /** 0-based position in the series since the campaign's start. */
  index: number;
}

export class CadenceError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'CadenceError';
  }
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;
/** Far enough for any campaign; bounds the walk so a rule that never matches cannot spin. */
const HORIZON_DAYS = 366 * 10;
/** A series ends with the last year a time may name, whatever its rule says. */
const LAST_DAY = Date.UTC(LAST_YEAR, 11, 31) / 86_400_000;

/** A parsed rule: which local dates match, and at which local times. */
interface Rule {
  freq: 'DAILY' | 'WEEKLY' | 'MONTHLY';
  interval: number;
  /** 0 = Monday. For MONTHLY, with an ordinal (1 = first, -1 = last). */
  byDay?: { weekday: number; ordinal?: number }[];
  byMonthDay?: number[];
  times: { hour: number; minute: number }[];
  count?: number;
  /** Local date, inclusive. */
  until?: number;
  /**
   * UNTIL's time when it has one: "HHMMSS" with `utc` for a time ending in Z (an instant), else a
   * local time in the campaign's zone. A slot after it is not in the series.
   */
  untilTime?: { hour: number; minute: number; second: number; utc: boolean };
}

const RRULE_DAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];

function dayNumber(date: string, field: string): number {
  const m = DATE.exec(date);
  if (!m) throw new CadenceError(field, 'expected a date like 2026-12-01');
  if (!isSupportedYear(date)) throw new CadenceError(field, YEAR_RULE);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!);
  const check = new Date(ms);
  if (check.getUTCMonth() !== +m[2]! - 1) throw new CadenceError(field, 'not a real calendar date');
  return ms / DAY_MS;
}

function dateOf(day: number): { y: number; m: number; d: number; weekday: number } {
  const date = new Date(day * DAY_MS);
  return {
    y: date.getUTCFullYear(),
    m: date.getUTCMonth(),
    d: date.getUTCDate(),
    weekday: (date.getUTCDay() + 6) % 7,
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

function localString(day: number, hour: number, minute: number): string {
  const { y, m, d } = dateOf(day);
  return `${y}-${pad(m + 1)}-${pad(d)}T${pad(hour)}:${pad(minute)}`;
}

function parseTime(time: string, field: string): { hour: number; minute: number } {
  const m = TIME.exec(time);
  if (!m) throw new CadenceError(field, 'expected a local time like 18:00');
  return { hour: +m[1]!, minute: +m[2]! };
}

/** Whole numbers from min to max; zero only where min allows it (BYMONTHDAY has no day 0). */
function integerList(value: string, field: string, min: number, max: number): number[] {
  return value.split(',').map((part) => {
    const n = Number(part);
    if (!/^-?\d+$/.test(part) || n < min || n > max || (n === 0 && min < 0)) {
      throw new CadenceError(field, `expected whole numbers from ${min} to ${max}`);
    }
    return n;
  });
}

/**
 * The RFC 5545 subset campaigns need: FREQ=DAILY|WEEKLY|MONTHLY, INTERVAL, BYDAY (with ordinals for
 * MONTHLY), BYMONTHDAY, BYHOUR, BYMINUTE, COUNT, UNTIL. Anything else is refused by name rather than
 * ignored, so a rule never means less than it says.
 */
export function parseRRule(text: string): Rule {
  const field = 'cadence.rule';
  const parts = new Map<string, string>();
  for (const piece of text.replace(/^RRULE:/i, '').split(';')) {
    if (!piece) continue;
    const [key, value] = piece.split('=');
    if (!key || value === undefined || value === '') throw new CadenceError(field, `"${piece}" is not NAME=VALUE`);
    parts.set(key.toUpperCase(), value.toUpperCase());
  }
  const supported = ['FREQ', 'INTERVAL', 'BYDAY', 'BYMONTHDAY', 'BYHOUR', 'BYMINUTE', 'COUNT', 'UNTIL', 'WKST'];
  for (const key of parts.keys()) {
    if (!supported.includes(key))
      throw new CadenceError(field, `${key} is not supported (use ${supported.join(', ')})`);
  }
  const freq = parts.get('FREQ');
  if (freq !== 'DAILY' && freq !== 'WEEKLY' && freq !== 'MONTHLY') {
    throw new CadenceError(field, 'FREQ must be DAILY, WEEKLY or MONTHLY');
  }
  if (parts.has('WKST') && parts.get('WKST') !== 'MO') throw new CadenceError(field, 'only WKST=MO is supported');
  const interval = parts.has('INTERVAL') ? integerList(parts.get('INTERVAL')!, field, 1, 52)[0]! : 1;
  if (!parts.has('BYHOUR')) throw new CadenceError(field, 'BYHOUR is required: say at what local time to post');
  const hours = integerList(parts.get('BYHOUR')!, field, 0, 23);
  const minutes = parts.has('BYMINUTE') ? integerList(parts.get('BYMINUTE')!, field, 0, 59) : [0];
  const times = hours
    .flatMap((hour) => minutes.map((minute) => ({ hour, minute })))
    .sort((a, b) => a.hour - b.hour || a.minute - b.minute);
  const rule: Rule = { freq, interval, times };
  if (parts.has('BYDAY')) {
    rule.byDay = parts
      .get('BYDAY')!
      .split(',')
      .map((token) => {
        const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(token);
        if (!m) throw new CadenceError(field, `BYDAY "${token}" is not a weekday like MO or 1MO`);
        const ordinal = m[1] === undefined ? undefined : Number(m[1]);
        if (ordinal !== undefined && (freq !== 'MONTHLY' || ordinal === 0 || Math.abs(ordinal) > 5)) {
          throw new CadenceError(field, `BYDAY "${token}": ordinals from -5 to 5 only with FREQ=MONTHLY`);
        }
        return { weekday: RRULE_DAYS.indexOf(m[2]!), ...(ordinal !== undefined ? { ordinal } : {}) };
      });
  }
  if (parts.has('BYMONTHDAY')) rule.byMonthDay = integerList(parts.get('BYMONTHDAY')!, field, -31, 31);
  if (parts.has('COUNT')) rule.count = integerList(parts.get('COUNT')!, field, 1, 10_000)[0]!;
  if (rule.byMonthDay && rule.freq !== 'MONTHLY') throw new CadenceError(field, 'BYMONTHDAY needs FREQ=MONTHLY');
  if (parts.has('UNTIL')) {
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$/.exec(parts.get('UNTIL')!);
    if (!m) throw new CadenceError(field, 'UNTIL must be a date like 20261231');
    rule.until = dayNumber(`${m[1]}-${m[2]}-${m[3]}`, field);
    if (m[4] !== undefined) {
      const [hour, minute, second] = [+m[4], +m[5]!, +m[6]!];
      if (hour > 23 || minute > 59 || second > 59) throw new CadenceError(field, 'UNTIL has no such time of day');
      rule.untilTime = { hour, minute, second, utc: m[7] === 'Z' };
    }
  }
  if (rule.count !== undefined && rule.until !== undefined) {
    throw new CadenceError(field, 'COUNT and UNTIL cannot both be given');
  }
  return rule;
}

function weeklyRule(slots: WeeklySlot[]): Rule[] {
  if (slots.length === 0) throw new CadenceError('cadence.slots', 'give at least one weekly slot');
  // One rule per distinct time keeps "Mon 18:00, Thu 09:00" from meaning Mon 09:00 as well.
  const byTime = new Map<string, number[]>();
  slots.forEach((slot, i) => {
    const weekday = WEEKDAYS.indexOf(slot.day);
    if (weekday < 0) throw new CadenceError(`cadence.slots[${i}].day`, `expected one of ${WEEKDAYS.join(', ')}`);
    parseTime(slot.time, `cadence.slots[${i}].time`);
    byTime.set(slot.time, [...(byTime.get(slot.time) ?? []), weekday]);
  });
  return [...byTime].map(([time, days]) => ({
    freq: 'WEEKLY' as const,
    interval: 1,
    byDay: days.map((weekday) => ({ weekday })),
    times: [parseTime(time, 'cadence.slots')],
  }));
}

/** A day's calendar facts, worked out once for all of a series' rules. */
type DayOf = ReturnType<typeof dateOf>;

function matches(rule: Rule, day: number, date: DayOf, startDay: number, start: DayOf): boolean {
  if (rule.freq === 'DAILY') {
    if ((day - startDay) % rule.interval !== 0) return false;
    if (rule.byDay && !rule.byDay.some((b) => b.weekday === date.weekday)) return false;
  } else if (rule.freq === 'WEEKLY') {
    const weekOf = (n: number, weekday: number) => Math.floor((n - weekday) / 7);
    if ((weekOf(day, date.weekday) - weekOf(startDay, start.weekday)) % rule.interval !== 0) return false;
    const days = rule.byDay?.map((d) => d.weekday) ?? [start.weekday];
    if (!days.includes(date.weekday)) return false;
  } else {
    const months = (date.y - start.y) * 12 + (date.m - start.m);
    if (months % rule.interval !== 0) return false;
    const lastDay = new Date(Date.UTC(date.y, date.m + 1, 0)).getUTCDate();
    if (rule.byMonthDay) {
      if (!rule.byMonthDay.some((n) => (n > 0 ? n : lastDay + n + 1) === date.d)) return false;
    }
    if (rule.byDay) {
      const nth = Math.floor((date.d - 1) / 7) + 1;
      const nthFromEnd = -(Math.floor((lastDay - date.d) / 7) + 1);
      const ok = rule.byDay.some(
        (b) => b.weekday === date.weekday && (b.ordinal === undefined || b.ordinal === nth || b.ordinal === nthFromEnd),
      );
      if (!ok) return false;
    }
    if (!rule.byMonthDay && !rule.byDay && date.d !== start.d) return false;
  }
  return true;
}

export interface SlotQuery {
  cadence: Cadence;
  timeZone: string;
  /** The campaign's first local date, "YYYY-MM-DD". */
  startDate: string;
  end?: CampaignEnd;
  /** Only slots strictly after this instant (ISO-8601 or ms). */
  after?: string | number;
  /** At most this many slots. */
  limit: number;
  /**
   * A day's slots in the order they happen rather than by wall-clock time. They differ only where
   * a local time does not exist (moved forward by the clocks' jump, so 02:30 can fall after 03:15
   * on that day); a campaign that waits for one slot at a time needs the order they happen in.
   */
  inTimeOrder?: boolean;
  /**
   * The rule's UNTIL as RFC 5545 means it: the earlier of it and `end.until` ends the series, and a
   * time in UNTIL ends it at that moment. Without it (runs of the campaign workflow started before
   * `campaign-rule-until` replay that way) `end.until` replaces the rule's UNTIL and only UNTIL's
   * date counts.
   */
  strictUntil?: boolean;
}

/** A series as listSlots walks it: its rules, its first and last day, and how many slots at most. */
interface Series {
  rules: (Rule & { distinct: Rule['times'] })[];
  startDay: number;
  start: DayOf;
  lastDay: number;
  count: number;
  /** With strictUntil: no slot after this instant (ms), from a time in the rule's UNTIL. */
  untilAt: number;
}

const byClock = (a: { hour: number; minute: number }, b: { hour: number; minute: number }) =>
  a.hour - b.hour || a.minute - b.minute;
const distinctTimes = (times: Rule['times']) =>
  [...times].sort(byClock).filter((t, i, all) => i === 0 || byClock(t, all[i - 1]!) !== 0);

function seriesOf(query: Pick<SlotQuery, 'cadence' | 'startDate' | 'end' | 'timeZone' | 'strictUntil'>): Series {
  const rules = query.cadence.kind === 'weekly' ? weeklyRule(query.cadence.slots) : [parseRRule(query.cadence.rule)];
  const startDay = dayNumber(query.startDate, 'startDate');
  const endUntil = query.end && 'until' in query.end ? dayNumber(query.end.until, 'end.until') : undefined;
  const ruleDate = Math.min(...rules.map((r) => r.until ?? Number.POSITIVE_INFINITY));
  // Refused as before either way: a series that the stricter reading alone ends before its start
  // has no slots, rather than failing the workflow of a campaign saved under the old reading.
  if ((endUntil ?? ruleDate) < startDay) throw new CadenceError('end.until', 'the campaign ends before it starts');
  const ruleUntil = query.strictUntil ? Math.min(...rules.map((r) => untilDay(r, query.timeZone))) : ruleDate;
  const endDay = endUntil === undefined ? ruleUntil : query.strictUntil ? Math.min(endUntil, ruleUntil) : endUntil;
  const count = Math.min(
    query.end && 'count' in query.end ? query.end.count : Number.POSITIVE_INFINITY,
    ...rules.map((r) => r.count ?? Number.POSITIVE_INFINITY),
  );
  const untilAt = query.strictUntil
    ? Math.min(...rules.map((r) => untilInstant(r, query.timeZone)))
    : Number.POSITIVE_INFINITY;
  return {
    rules: rules.map((rule) => ({ ...rule, distinct: distinctTimes(rule.times) })),
    startDay,
    start: dateOf(startDay),
    lastDay: Math.min(endDay, startDay + HORIZON_DAYS, LAST_DAY),
    count,
    untilAt,
  };
}

/** The campaign's local date of a rule's UNTIL: an instant's (ending in Z) can fall on another date there. */
function untilDay(rule: Rule, timeZone: string): number {
  if (rule.until === undefined || !rule.untilTime?.utc) return rule.until ?? Number.POSITIVE_INFINITY;
  const at = untilInstant(rule, timeZone);
  return Math.floor((at + zoneOffsetMinutes(at, timeZone) * 60_000) / DAY_MS);
}

/** The instant a rule's UNTIL with a time names (ms); none for a date alone (its whole local day counts). */
function untilInstant(rule: Rule, timeZone: string): number {
  if (rule.until === undefined || !rule.untilTime) return Number.POSITIVE_INFINITY;
  const { hour, minute, second, utc } = rule.untilTime;
  const ms = rule.until * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000;
  if (utc) return ms;
  // A local time: its seconds kept on top of the minute zonedTimeToInstant places.
  return zonedTimeToInstant(localString(rule.until, hour, minute), timeZone).getTime() + second * 1000;
}

/** The local times of a day's slots, by wall clock, each once. */
function timesOn(series: Series, day: number): Rule['times'] {
  const date = dateOf(day);
  const matching = series.rules.filter((rule) => matches(rule, day, date, series.startDay, series.start));
  if (matching.length === 1) return matching[0]!.distinct;
  return distinctTimes(matching.flatMap((rule) => rule.distinct));
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Days after which the series' days repeat which times they have: daily and weekly rules repeat
 * within a year at most; monthly ones (months differ in length) have none this needs.
 */
function repeatDays(series: Series): number | undefined {
  let days = 1;
  for (const rule of series.rules) {
    if (rule.freq === 'MONTHLY') return undefined;
    const own =
      rule.freq === 'WEEKLY'
        ? 7 * rule.interval
        : rule.byDay
          ? (rule.interval * 7) / gcd(rule.interval, 7)
          : rule.interval;
    days = (days * own) / gcd(days, own);
  }
  return days;
}

/** How many slots the days from `from` up to (not including) `to` hold, without their instants. */
function countSlots(series: Series, from: number, to: number): number {
  let count = 0;
  let day = from;
  const repeat = repeatDays(series);
  if (repeat !== undefined && to - from >= 2 * repeat) {
    let once = 0;
    for (; day < from + repeat; day++) once += timesOn(series, day).length;
    const times = Math.floor((to - from) / repeat);
    count = once * times;
    day = from + times * repeat;
  }
  for (; day < to; day++) count += timesOn(series, day).length;
  return count;
}

/** A day's slots with their instants, in the order the query lists them. */
function slotsOn(series: Series, day: number, timeZone: string, inTimeOrder: boolean) {
  const timed = timesOn(series, day).map(({ hour, minute }) => {
    const local = localString(day, hour, minute);
    return { local, at: zonedTimeToInstant(local, timeZone).getTime() };
  });
  if (inTimeOrder) timed.sort((a, b) => a.at - b.at);
  return timed;
}

/**
 * A day this many days before a moment has all its slots before it: a slot's instant is its
 * wall-clock time less the zone's offset, no zone is more than 12 hours behind UTC, and a time the
 * clocks skip takes the offset from before the jump.
 */
const SURELY_BEFORE_DAYS = 2;

/**
 * The campaign's slots in order, on its own wall clock. Days before `after` are only counted (a
 * slot's index runs from the series' start): their instants are never computed, so asking for the
 * next slots of a campaign years old costs what asking for a new one's does. The answer is the same
 * as walking every slot from the start.
 */
export function listSlots(query: SlotQuery): Slot[] {
  const series = seriesOf(query);
  const after = query.after === undefined ? Number.NEGATIVE_INFINITY : new Date(query.after).getTime();
  const slots: Slot[] = [];
  const firstListed = Math.max(series.startDay, Math.floor(after / DAY_MS) - SURELY_BEFORE_DAYS + 1);
  let index = countSlots(series, series.startDay, Math.min(firstListed, series.lastDay + 1));
  for (let day = firstListed; day <= series.lastDay; day++) {
    for (const { local, at } of slotsOn(series, day, query.timeZone, query.inTimeOrder === true)) {
      if (index >= series.count) return slots;
      // Past UNTIL's moment: later ones on this day may still come earlier (a local time the clocks
      // skipped, listed by wall clock), so each is checked; a slot this drops is not in the series.
      if (at > series.untilAt) continue;
      if (at > after) {
        slots.push({ local, at: new Date(at).toISOString(), index });
        if (slots.length >= query.limit) return slots;
      }
      index++;
    }
  }
  return slots;
}

/**
 * The series' slot whose identity is `local` ("YYYY-MM-DDTHH:MM"), with its instant and index as
 * listSlots gives them; null when the series has no such slot (an edit ended it earlier).
 */
export function findSlot(query: Omit<SlotQuery, 'after' | 'limit'>, local: string): Slot | null {
  const series = seriesOf(query);
  if (!DATE.test(local.slice(0, 10))) return null;
  const target = Date.UTC(+local.slice(0, 4), +local.slice(5, 7) - 1, +local.slice(8, 10)) / DAY_MS;
  if (!Number.isInteger(target) || target < series.startDay || target > series.lastDay) return null;
  let index = countSlots(series, series.startDay, target);
  for (const { local: slot, at } of slotsOn(series, target, query.timeZone, query.inTimeOrder === true)) {
    if (index >= series.count) return null;
    if (at > series.untilAt) continue;
    if (slot === local) return { local, at: new Date(at).toISOString(), index };
    index++;
  }
  return null;
}

/** More slots a day than any campaign needs; each costs time whenever its day is listed. */
export const MAX_TIMES_PER_DAY = 48;

/**
 * What a new or edited cadence may ask beyond what listSlots accepts (saved campaigns keep running
 * as they were): at most MAX_TIMES_PER_DAY slots a day.
 */
export function checkCadenceLimits(cadence: Cadence): void {
  if (cadence.kind === 'rrule') {
    const times = distinctTimes(parseRRule(cadence.rule).times).length;
    if (times > MAX_TIMES_PER_DAY) {
      throw new CadenceError(
        'cadence.rule',
        `at most ${MAX_TIMES_PER_DAY} posts a day: BYHOUR and BYMINUTE together give ${times} times a day; name fewer hours or minutes`,
      );
    }
    return;
  }
  for (const day of WEEKDAYS) {
    const times = new Set(cadence.slots.filter((slot) => slot.day === day).map((slot) => slot.time)).size;
    if (times > MAX_TIMES_PER_DAY) {
      throw new CadenceError(
        'cadence.slots',
        `at most ${MAX_TIMES_PER_DAY} posts a day: ${times} different times are given for ${day}`,
      );
    }
  }
}
