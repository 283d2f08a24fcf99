import { useState } from 'preact/hooks';
import { api } from '../api';
import { movedStep, movedTo, plannedTime, shiftDay, shownDay } from '../calendar-move';
import { useAction, useApi } from '../hooks';
import { PLATFORM_NAMES, platformName, words } from '../types';
import { Alert, Loading, Page } from '../ui';

interface CalendarItem {
  kind: 'post' | 'slot';
  postId: string | null;
  campaignId: string | null;
  status: string;
  at: string;
  local: string;
  timeZone: string | null;
  targets: { key: string; type: string }[];
}

const pad = (n: number) => String(n).padStart(2, '0');
const dayKey = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

type View = 'month' | 'week';

/** A month cell lists this many items and folds the rest behind "N more" (the week view lists all). */
const MONTH_CELL_ITEMS = 4;

const mondayOf = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate() - ((d.getDay() + 6) % 7));
const addDays = (d: Date, n: number) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);

function itemLabel(item: CalendarItem): string {
  // An export is named by the platform it is shaped for when its key says so (the panel keys them so).
  const where = item.targets
    .map((t) =>
      t.type !== 'local_export' ? platformName(t.type) : PLATFORM_NAMES[t.key] ? platformName(t.key) : 'Export',
    )
    .join(', ');
  return `${item.local.slice(11, 16)} ${where || 'post'}`;
}

/** One day's items; a scheduled post can be dragged to another day or moved a day by its buttons. */
function DayItems({ items, move }: { items: CalendarItem[]; move: (item: CalendarItem, direction: 1 | -1) => void }) {
  return (
    <ul>
      {items.map((item) => {
        const label = itemLabel(item);
        const movable = item.kind === 'post' && item.status === 'scheduled' && item.postId;
        return (
          <li
            key={`${item.postId ?? item.campaignId}-${item.at}`}
            class={`event event-${item.status}`}
            draggable={!!movable}
            onDragStart={(e) => e.dataTransfer?.setData('application/json', JSON.stringify(item))}
          >
            {item.postId ? <a href={`/posts/${item.postId}`}>{label}</a> : <span>{label}</span>}
            <span class="muted"> {item.kind === 'slot' ? 'campaign slot' : words(item.status)}</span>
            {movable && (
              <span class="move">
                <button
                  type="button"
                  class="button-secondary small"
                  aria-label={`Move ${label} one day earlier`}
                  onClick={() => move(item, -1)}
                >
                  ←
                </button>
                <button
                  type="button"
                  class="button-secondary small"
                  aria-label={`Move ${label} one day later`}
                  onClick={() => move(item, 1)}
                >
                  →
                </button>
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}

export function CalendarScreen() {
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [view, setView] = useState<View>('month');
  // The day the view is anchored on: the month view shows its month, the week view its week.
  const [anchor, setAnchor] = useState(() => {
    const now = new Date();
    return new Date(now.getFullYear(), now.getMonth(), now.getDate());
  });
  const monthStart = new Date(anchor.getFullYear(), anchor.getMonth(), 1);
  const first = view === 'month' ? mondayOf(monthStart) : mondayOf(anchor);
  const count = view === 'month' ? 42 : 7;
  const days = Array.from({ length: count }, (_, i) => addDays(first, i));
  const from = days[0]!.toISOString();
  const to = addDays(days[count - 1]!, 1).toISOString();
  const data = useApi<{ items: CalendarItem[] }>(
    `/api/v1/calendar?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&timeZone=${encodeURIComponent(timeZone)}`,
    10000,
  );
  const action = useAction();
  const [moved, setMoved] = useState<string | null>(null);
  const [unfolded, setUnfolded] = useState<ReadonlySet<string>>(new Set());
  const byDay = new Map<string, CalendarItem[]>();
  for (const item of data.data?.items ?? []) {
    const key = item.local.slice(0, 10);
    const list = byDay.get(key);
    if (list) list.push(item);
    else byDay.set(key, [item]);
  }

  // A day of the calendar as its cell names it ("Sun, Mar 14").
  const dayName = (key: string) => {
    const [y, m, d] = key.split('-').map(Number) as [number, number, number];
    return new Date(y, m - 1, d).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
  };
  const inZone = (zone: string) => (zone === timeZone ? '' : ` (${zone})`);
  const neverOn = (item: CalendarItem, key: string) => {
    const planned = plannedTime(item, timeZone);
    return `${planned.time}${inZone(planned.timeZone)} never falls on ${dayName(key)} here (the two zones change their clocks on different dates)`;
  };
  const send = (item: CalendarItem, publishAt: { local: string; timeZone: string }, note: string) =>
    void action.run(async () => {
      await api('POST', `/api/v1/posts/${item.postId}/reschedule`, { publishAt });
      setMoved(`Moved to ${publishAt.local.replace('T', ' at ')}${inZone(publishAt.timeZone)}.${note}`);
      await data.reload();
    });
  const refuse = (text: string) => {
    setMoved(null);
    action.setError(text);
  };
  // "One day earlier/later" goes to the neighbouring cell, or past it when the post's time cannot fall on it.
  const move = (item: CalendarItem, direction: 1 | -1) => {
    const step = movedStep(item, direction, timeZone);
    if (!step) return refuse(`Not moved: ${neverOn(item, shiftDay(shownDay(item, timeZone), direction))}.`);
    send(item, step.publishAt, step.skipped ? ` ${neverOn(item, step.skipped)}.` : '');
  };
  // A drop means the day of the cell it was dropped on, at the post's time in its own zone.
  const onDrop = (key: string) => (e: DragEvent) => {
    e.preventDefault();
    const raw = e.dataTransfer?.getData('application/json');
    if (!raw) return;
    const item = JSON.parse(raw) as CalendarItem;
    if (shownDay(item, timeZone) === key) return;
    const publishAt = movedTo(item, key, timeZone);
    if (!publishAt) return refuse(`Not moved: ${neverOn(item, key)}. Drop it on the day before or after.`);
    send(item, publishAt, '');
  };

  const title =
    view === 'month'
      ? monthStart.toLocaleDateString(undefined, { month: 'long', year: 'numeric' })
      : `Week of ${days[0]!.toLocaleDateString(undefined, { day: 'numeric', month: 'long', year: 'numeric' })}`;
  const go = (n: number) =>
    setAnchor(
      view === 'month' ? new Date(anchor.getFullYear(), anchor.getMonth() + n, 1) : addDays(mondayOf(anchor), 7 * n),
    );
  const unit = view === 'month' ? 'month' : 'week';
  return (
    <Page
      title="Calendar"
      actions={
        <div class="actions">
          <fieldset class="plain segmented view-switch">
            <legend class="visually-hidden">Calendar view</legend>
            <button
              type="button"
              class={view === 'month' ? '' : 'button-secondary'}
              aria-pressed={view === 'month'}
              onClick={() => setView('month')}
            >
              Month
            </button>
            <button
              type="button"
              class={view === 'week' ? '' : 'button-secondary'}
              aria-pressed={view === 'week'}
              onClick={() => setView('week')}
            >
              Week
            </button>
          </fieldset>
          <button type="button" class="button-secondary" onClick={() => go(-1)}>
            Previous {unit}
          </button>
          <span class="row-title" aria-live="polite">
            {title}
          </span>
          <button type="button" class="button-secondary" onClick={() => go(1)}>
            Next {unit}
          </button>
        </div>
      }
    >
      <p class="hint">Times in {timeZone}. Drag a scheduled post to another day, or use its earlier/later buttons.</p>
      <Alert>{data.error ?? action.error}</Alert>
      <Alert kind="success">{moved}</Alert>
      {!data.data && data.loading && <Loading />}
      <ol class={`calendar calendar-${view}`} aria-label={`Calendar for ${title}`}>
        {days.map((d) => {
          const key = dayKey(d);
          const items = byDay.get(key) ?? [];
          const outside = view === 'month' && d.getMonth() !== monthStart.getMonth();
          return (
            <li
              key={key}
              class={`day${outside ? ' other-month' : ''}`}
              onDragOver={(e) => e.preventDefault()}
              onDrop={onDrop(key)}
            >
              <p class="day-label">
                {d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' })}
              </p>
              {view === 'week' && items.length === 0 ? (
                <p class="muted">Nothing planned</p>
              ) : view === 'month' && items.length > MONTH_CELL_ITEMS && !unfolded.has(key) ? (
                <>
                  <DayItems items={items.slice(0, MONTH_CELL_ITEMS)} move={move} />
                  <button
                    type="button"
                    class="link more"
                    aria-label={`Show all ${items.length} on ${d.toLocaleDateString(undefined, { day: 'numeric', month: 'long' })}`}
                    onClick={() => setUnfolded(new Set([...unfolded, key]))}
                  >
                    {items.length - MONTH_CELL_ITEMS} more
                  </button>
                </>
              ) : (
                <DayItems items={items} move={move} />
              )}
            </li>
          );
        })}
      </ol>
    </Page>
  );
}
