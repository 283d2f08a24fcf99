import { useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { platformName, words } from '../types';
import { Alert, Loading, Page } from '../ui';

interface CalendarItem {
  kind: 'post' | 'slot';
  postId: string | null;
  campaignId: string | null;
  status: string;
  at: string;
  local: string;
  targets: { key: string; type: string }[];
}

const pad = (n: number) => String(n).padStart(2, '0');
const dayKey = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** Moves "YYYY-MM-DDTHH:MM" by whole days, keeping the wall-clock time. */
function shiftLocal(local: string, days: number): string {
  const [date, time] = local.split('T') as [string, string];
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const moved = new Date(Date.UTC(y, m - 1, d + days));
  return `${moved.toISOString().slice(0, 10)}T${time.slice(0, 5)}`;
}

export function CalendarScreen() {
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [month, setMonth] = useState(() => {
    const now = new Date();
    return new Date(now.getFullYear(), now.getMonth(), 1);
  });
  const first = new Date(month);
  first.setDate(1 - ((first.getDay() + 6) % 7)); // Monday on or before the 1st
  const days = Array.from(
    { length: 42 },
    (_, i) => new Date(first.getFullYear(), first.getMonth(), first.getDate() + i),
  );
  const from = days[0]!.toISOString();
  const to = new Date(days[41]!.getFullYear(), days[41]!.getMonth(), days[41]!.getDate() + 1).toISOString();
  const data = useApi<{ items: CalendarItem[] }>(
    `/api/v1/calendar?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&timeZone=${encodeURIComponent(timeZone)}`,
    10000,
  );
  const action = useAction();
  const [moved, setMoved] = useState<string | null>(null);
  const byDay = new Map<string, CalendarItem[]>();
  for (const item of data.data?.items ?? []) {
    const key = item.local.slice(0, 10);
    byDay.set(key, [...(byDay.get(key) ?? []), item]);
  }

  const move = (item: CalendarItem, local: string) =>
    void action.run(async () => {
      await api('POST', `/api/v1/posts/${item.postId}/reschedule`, { publishAt: { local, timeZone } });
      setMoved(`Moved to ${local.replace('T', ' at ')}.`);
      await data.reload();
    });

  const title = month.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
  const go = (n: number) => setMonth(new Date(month.getFullYear(), month.getMonth() + n, 1));
  return (
    <Page
      title="Calendar"
      actions={
        <div class="actions">
          <button type="button" class="button-secondary" onClick={() => go(-1)}>
            Previous month
          </button>
          <span class="row-title" aria-live="polite">
            {title}
          </span>
          <button type="button" class="button-secondary" onClick={() => go(1)}>
            Next month
          </button>
        </div>
      }
    >
      <p class="hint">Times in {timeZone}. Drag a scheduled post to another day, or use its earlier/later buttons.</p>
      <Alert>{data.error ?? action.error}</Alert>
      <Alert kind="success">{moved}</Alert>
      {!data.data && data.loading && <Loading />}
      <ol class="calendar" aria-label={`Calendar for ${title}`}>
        {days.map((d) => {
          const key = dayKey(d);
          const items = byDay.get(key) ?? [];
          return (
            <li
              key={key}
              class={`day${d.getMonth() === month.getMonth() ? '' : ' other-month'}`}
              onDragOver={(e) => e.preventDefault()}
              onDrop={(e) => {
                e.preventDefault();
                const raw = e.dataTransfer?.getData('application/json');
                if (!raw) return;
                const item = JSON.parse(raw) as CalendarItem;
                move(item, `${key}T${item.local.slice(11, 16)}`);
              }}
            >
              <p class="day-label">
                {d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' })}
              </p>
              <ul>
                {items.map((item) => {
                  const label = `${item.local.slice(11, 16)} ${item.targets.map((t) => platformName(t.key)).join(', ') || 'post'}`;
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
                            onClick={() => move(item, shiftLocal(item.local, -1))}
                          >
                            ←
                          </button>
                          <button
                            type="button"
                            class="button-secondary small"
                            aria-label={`Move ${label} one day later`}
                            onClick={() => move(item, shiftLocal(item.local, 1))}
                          >
                            →
                          </button>
                        </span>
                      )}
                    </li>
                  );
                })}
              </ul>
            </li>
          );
        })}
      </ol>
    </Page>
  );
}
