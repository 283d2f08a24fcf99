import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { platformName, words } from '../types';
import { Alert, Confirm, Empty, Loading, Page, Status } from '../ui';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const DAY_NAMES: Record<string, string> = {
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
  sun: 'Sunday',
};
const FORMATS = ['generic', 'youtube', 'tiktok', 'instagram', 'facebook'];

interface CampaignSummary {
  id: string;
  name: string;
  status: string;
  statusReason: string | null;
}
interface Campaign extends CampaignSummary {
  nextSlots: { slot: string; local: string; at: string }[];
  summary: Record<string, unknown> | null;
}

const today = () => new Date().toISOString().slice(0, 10);
const slotText = (local: string) => local.replace('T', ' at ');

function NewCampaign({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [topic, setTopic] = useState('');
  const [targets, setTargets] = useState<string[]>(['generic']);
  const [slots, setSlots] = useState<{ day: string; time: string }[]>([{ day: 'mon', time: '18:00' }]);
  const [timeZone, setTimeZone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [startDate, setStartDate] = useState(today());
  const [count, setCount] = useState(8);
  const [review, setReview] = useState<'manual' | 'auto'>('manual');
  const [preview, setPreview] = useState<{ slots: { local: string }[] } | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const action = useAction();
  const cadence = useMemo(() => ({ kind: 'weekly', slots }), [slots]);

  // The next slots in local time, as the server computes them, while the cadence is edited.
  useEffect(() => {
    const timer = setTimeout(() => {
      api<{ slots: { local: string }[] }>('POST', '/api/v1/campaigns/preview', {
        cadence,
        timeZone,
        startDate,
        end: { count },
        limit: 5,
      })
        .then((p) => {
          setPreview(p);
          setPreviewError(null);
        })
        .catch((err: Error) => setPreviewError(err.message));
    }, 250);
    return () => clearTimeout(timer);
  }, [cadence, timeZone, startDate, count]);

  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          await api('POST', '/api/v1/campaigns', {
            name,
            brief: { topic },
            targets: targets.map((platform) => ({ type: 'local_export', key: platform, platform })),
            cadence,
            timeZone,
            startDate,
            end: { count },
            review: { mode: review },
          });
          setName('');
          setTopic('');
          onCreated();
        });
      }}
    >
      <h2>New campaign</h2>
      <label>
        Campaign name
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        Brief for every post
        <textarea rows={2} value={topic} onInput={(e) => setTopic(e.currentTarget.value)} required />
      </label>
      <fieldset>
        <legend>Targets</legend>
        <div class="chips">
          {FORMATS.map((f) => (
            <label key={f} class="check">
              <input
                type="checkbox"
                checked={targets.includes(f)}
                onChange={(e) => setTargets(e.currentTarget.checked ? [...targets, f] : targets.filter((t) => t !== f))}
              />
              {platformName(f)}
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset>
        <legend>Cadence: every week on</legend>
        {slots.map((slot, i) => (
          <div key={`${i}`} class="slot-row">
            <label>
              Day {i + 1}
              <select
                value={slot.day}
                onChange={(e) => setSlots(slots.map((s, j) => (j === i ? { ...s, day: e.currentTarget.value } : s)))}
              >
                {DAYS.map((d) => (
                  <option key={d} value={d}>
                    {DAY_NAMES[d]}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Time {i + 1}
              <input
                type="time"
                value={slot.time}
                onInput={(e) => setSlots(slots.map((s, j) => (j === i ? { ...s, time: e.currentTarget.value } : s)))}
                required
              />
            </label>
            {slots.length > 1 && (
              <button type="button" class="button-secondary" onClick={() => setSlots(slots.filter((_, j) => j !== i))}>
                Remove slot {i + 1}
              </button>
            )}
          </div>
        ))}
        <button
          type="button"
          class="button-secondary"
          onClick={() => setSlots([...slots, { day: 'thu', time: '18:00' }])}
        >
          Add a weekly slot
        </button>
      </fieldset>
      <div class="two">
        <label>
          Time zone
          <input value={timeZone} onInput={(e) => setTimeZone(e.currentTarget.value)} required />
        </label>
        <label>
          First day
          <input type="date" value={startDate} onInput={(e) => setStartDate(e.currentTarget.value)} required />
        </label>
        <label>
          Number of posts
          <input
            type="number"
            min={1}
            max={10000}
            value={count}
            onInput={(e) => setCount(Number(e.currentTarget.value))}
            required
          />
        </label>
        <label>
          Review
          <select value={review} onChange={(e) => setReview(e.currentTarget.value as 'manual' | 'auto')}>
            <option value="manual">I review each draft</option>
            <option value="auto">Publish without review</option>
          </select>
        </label>
      </div>
      <div aria-live="polite">
        {previewError ? (
          <Alert>{previewError}</Alert>
        ) : (
          preview && (
            <p class="hint">
              Next posts ({timeZone}): {preview.slots.map((s) => slotText(s.local)).join('; ') || 'none'}
            </p>
          )
        )}
      </div>
      <Alert>{action.error}</Alert>
      <button type="submit" disabled={action.busy || targets.length === 0}>
        Create campaign
      </button>
    </form>
  );
}

function CampaignRow({ id, onChange }: { id: string; onChange: () => void }) {
  const view = useApi<Campaign>(`/api/v1/campaigns/${id}`, 10000);
  const action = useAction();
  const c = view.data;
  if (!c) return <li class="row">{view.error ? <Alert>{view.error}</Alert> : <Loading />}</li>;
  const act = (name: string) =>
    void action.run(async () => {
      await api('POST', `/api/v1/campaigns/${id}/${name}`, {});
      await view.reload();
      onChange();
    });
  const live = c.status === 'active' || c.status === 'paused';
  return (
    <li class="row campaign">
      <div class="grow">
        <p class="row-title">{c.name}</p>
        {c.statusReason && <p class="hint">{c.statusReason}</p>}
        <p class="muted">
          {c.nextSlots.length
            ? `Next: ${c.nextSlots
                .slice(0, 3)
                .map((s) => slotText(s.slot))
                .join('; ')}`
            : 'No more slots'}
        </p>
        {c.summary && (
          <p class="muted">
            {Object.entries(c.summary)
              .filter(([, v]) => typeof v === 'number')
              .map(([k, v]) => `${words(k)}: ${v}`)
              .join(' · ')}
          </p>
        )}
      </div>
      <Status value={c.status} />
      {c.status === 'active' && (
        <button type="button" class="button-secondary" disabled={action.busy} onClick={() => act('pause')}>
          Pause {c.name}
        </button>
      )}
      {c.status === 'paused' && (
        <button type="button" disabled={action.busy} onClick={() => act('resume')}>
          Resume {c.name}
        </button>
      )}
      {live && (
        <Confirm
          label={`Cancel ${c.name}`}
          question={`Cancel ${c.name}? No more posts will be created; posts already made stay.`}
          confirmLabel="Cancel campaign"
          busy={action.busy}
          onConfirm={() => act('cancel')}
        />
      )}
      <Alert>{action.error}</Alert>
    </li>
  );
}

export function CampaignsScreen() {
  const list = useApi<{ items: CampaignSummary[] }>('/api/v1/campaigns', 15000);
  return (
    <Page title="Campaigns">
      <NewCampaign onCreated={() => void list.reload()} />
      <h2>Your campaigns</h2>
      <Alert>{list.error}</Alert>
      {!list.data && list.loading && <Loading />}
      {list.data?.items.length === 0 && (
        <Empty title="No campaigns yet">
          <p>A campaign drafts and posts a series on a weekly rhythm.</p>
        </Empty>
      )}
      <ul class="list">
        {list.data?.items.map((c) => (
          <CampaignRow key={c.id} id={c.id} onChange={() => void list.reload()} />
        ))}
      </ul>
    </Page>
  );
}
