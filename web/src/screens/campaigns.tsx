import { useEffect, useMemo, useState } from 'preact/hooks';
import { localTimeOf } from '../../../domain/campaign-schedule.js';
import { isTimeZone } from '../../../domain/zoned-time.js';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { useKeyPerBody } from '../idempotency';
import { type Me, NO_AI_IMAGES, platformName, words } from '../types';
import { Alert, Confirm, Empty, Loading, Page, Status } from '../ui';

/** The campaign summary's counts as a person reads them (the API's keys are camelCase). */
const SUMMARY_WORDS: Record<string, string> = {
  scheduled: 'Scheduled',
  awaitingReview: 'Awaiting review',
  published: 'Published',
  failed: 'Failed',
  cancelled: 'Cancelled',
  missed: 'Missed',
  skipped: 'Skipped',
};

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
interface Settings {
  name: string;
  brief: { topic: string; [k: string]: unknown };
  targets: { type: string; key?: string; platform?: string; [k: string]: unknown }[];
  cadence: { kind: 'weekly'; slots: { day: string; time: string }[] } | { kind: 'rrule'; rule: string };
  timeZone: string;
  startDate: string;
  end: { count: number } | { until: string };
  review: { mode: 'manual' | 'auto'; [k: string]: unknown };
}
interface Campaign extends CampaignSummary {
  nextSlots: { slot: string; local: string; at: string }[];
  summary: Record<string, unknown> | null;
  settings: Settings;
  /** The slots reached, newest first; a failed one says why it made no post. */
  slots?: { slot: string; at: string; outcome: string; reason?: string | null }[];
}
/** How many failed slots a campaign's row names: the latest ones, which say what is wrong now. */
const FAILED_SHOWN = 3;

/** Today's date where the campaign runs: the API refuses a start before it, and UTC's may be yesterday's. */
const today = (timeZone: string) =>
  isTimeZone(timeZone)
    ? localTimeOf(Date.now(), timeZone).slice(0, 10)
    : new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
const slotText = (local: string) => local.replace('T', ' at ');

/** Creates a campaign, or edits one (`editing`): an edit sends only what changed. */
function CampaignForm({ editing, onDone }: { editing?: Campaign; onDone: () => void }) {
  const saved = editing?.settings;
  const [name, setName] = useState(saved?.name ?? '');
  const [topic, setTopic] = useState(saved?.brief.topic ?? '');
  // Every slot's post is made without media, so the brief's picture is all it would have.
  const [aiImage, setAiImage] = useState(saved?.brief.generateImage === true);
  const me = useApi<Me>('/api/v1/me');
  const imagesPossible = me.data?.ai.images;
  const imageWhyId = `ai-image-why-${editing?.id ?? 'new'}`;
  const [targets, setTargets] = useState<string[]>(
    saved
      ? saved.targets.filter((t) => t.type === 'local_export').map((t) => String(t.platform ?? t.key ?? 'generic'))
      : ['generic'],
  );
  const [rule, setRule] = useState(saved?.cadence.kind === 'rrule' ? saved.cadence.rule : null);
  const [slots, setSlots] = useState<{ day: string; time: string }[]>(
    saved?.cadence.kind === 'weekly' ? saved.cadence.slots : [{ day: 'mon', time: '18:00' }],
  );
  const [timeZone, setTimeZone] = useState(saved?.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  // Null until the person sets the day: the default is today in the zone chosen now, and a zone
  // ahead of the browser's would otherwise be refused (a day too early), one behind start a day late.
  const [chosenStart, setStartDate] = useState<string | null>(saved?.startDate ?? null);
  const startDate = chosenStart ?? today(timeZone);
  const [count, setCount] = useState(saved && 'count' in saved.end ? saved.end.count : 8);
  const [until] = useState(saved && 'until' in saved.end ? saved.end.until : null);
  const [review, setReview] = useState<'manual' | 'auto'>(saved?.review.mode ?? 'manual');
  const [preview, setPreview] = useState<{ slots: { local: string }[] } | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const action = useAction();
  const createKeys = useKeyPerBody();
  const cadence = useMemo(() => (rule !== null ? { kind: 'rrule', rule } : { kind: 'weekly', slots }), [slots, rule]);
  const end = until ? { until } : { count };
  const prefix = editing ? `${editing.name}: ` : '';

  // The next slots in local time, as the server computes them, while the cadence is edited.
  useEffect(() => {
    const timer = setTimeout(() => {
      api<{ slots: { local: string }[] }>('POST', '/api/v1/campaigns/preview', {
        cadence,
        timeZone,
        startDate,
        end,
        limit: 5,
      })
        .then((p) => {
          setPreview(p);
          setPreviewError(null);
        })
        .catch((err: Error) => setPreviewError(err.message));
    }, 250);
    return () => clearTimeout(timer);
  }, [cadence, timeZone, startDate, count, until]);

  const exportPlatform = (t: Settings['targets'][number]) => String(t.platform ?? 'generic');
  const targetList = () => [
    // Account targets the form does not edit, and exports still chosen, stay exactly as saved.
    ...(saved?.targets.filter((t) => t.type !== 'local_export' || targets.includes(exportPlatform(t))) ?? []),
    ...targets
      .filter((p) => !saved?.targets.some((t) => t.type === 'local_export' && exportPlatform(t) === p))
      .map((platform) => ({ type: 'local_export', key: platform, platform })),
  ];
  /** Only what changed: a changed schedule restarts the series from today and drops skipped or moved slots. */
  const changes = () => {
    if (!saved) return {};
    const out: Record<string, unknown> = {};
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (name !== saved.name) out.name = name;
    const savedImage = saved.brief.generateImage === true;
    if (topic !== saved.brief.topic || aiImage !== savedImage)
      out.brief = {
        ...saved.brief,
        topic,
        // Left out when it never was set and is not now, so the saved brief keeps its shape.
        ...(aiImage || saved.brief.generateImage !== undefined ? { generateImage: aiImage } : {}),
      };
    if (!same(targetList(), saved.targets)) out.targets = targetList();
    if (!same(cadence, saved.cadence)) out.cadence = cadence;
    if (timeZone !== saved.timeZone) out.timeZone = timeZone;
    if (startDate !== saved.startDate) out.startDate = startDate;
    if (!same(end, saved.end)) out.end = end;
    if (review !== saved.review.mode) out.review = { mode: review };
    return out;
  };

  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          if (editing) {
            const edit = changes();
            if (Object.keys(edit).length > 0) await api('PATCH', `/api/v1/campaigns/${editing.id}`, edit);
          } else {
            const settings = {
              name,
              brief: { topic, ...(aiImage ? { generateImage: true } : {}) },
              targets: targetList(),
              cadence,
              timeZone,
              startDate,
              end,
              review: { mode: review },
            };
            const headers = { 'Idempotency-Key': createKeys.keyFor(settings) };
            await api('POST', '/api/v1/campaigns', settings, { headers });
            createKeys.done(settings);
            setName('');
            setTopic('');
            setAiImage(false);
          }
          onDone();
        });
      }}
    >
      <h2>{editing ? `Edit ${editing.name}` : 'New campaign'}</h2>
      {editing && (
        <p class="hint">
          Changes apply to posts not made yet. Changing the schedule starts it again from today and drops slots you
          skipped or moved.
        </p>
      )}
      <label>
        {prefix}Campaign name
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        {prefix}Brief for every post
        <textarea rows={2} value={topic} onInput={(e) => setTopic(e.currentTarget.value)} required />
      </label>
      <label class="check">
        <input
          type="checkbox"
          checked={aiImage}
          disabled={imagesPossible !== true}
          aria-describedby={imagesPossible === false ? imageWhyId : undefined}
          onChange={(e) => setAiImage(e.currentTarget.checked)}
        />
        {prefix}Also make a picture with AI for each post
      </label>
      {imagesPossible === false && (
        <p class="hint" id={imageWhyId}>
          {NO_AI_IMAGES}
        </p>
      )}
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
      {rule !== null ? (
        <label>
          Repeat rule (RRULE)
          <input value={rule} onInput={(e) => setRule(e.currentTarget.value)} required />
        </label>
      ) : (
        <fieldset>
          <legend>Cadence: every week on</legend>
          {slots.map((slot, i) => (
            <div key={`${i}`} class="slot-row">
              <label>
                {prefix}Day {i + 1}
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
                {prefix}Time {i + 1}
                <input
                  type="time"
                  value={slot.time}
                  onInput={(e) => setSlots(slots.map((s, j) => (j === i ? { ...s, time: e.currentTarget.value } : s)))}
                  required
                />
              </label>
              {slots.length > 1 && (
                <button
                  type="button"
                  class="button-secondary"
                  onClick={() => setSlots(slots.filter((_, j) => j !== i))}
                >
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
      )}
      <div class="two">
        <label>
          {prefix}Time zone
          <input value={timeZone} onInput={(e) => setTimeZone(e.currentTarget.value)} required />
        </label>
        <label>
          {prefix}First day
          <input type="date" value={startDate} onInput={(e) => setStartDate(e.currentTarget.value)} required />
        </label>
        {until ? (
          <p class="hint">Last day: {until}</p>
        ) : (
          <label>
            {prefix}Number of posts
            <input
              type="number"
              min={1}
              max={10000}
              value={count}
              onInput={(e) => setCount(Number(e.currentTarget.value))}
              required
            />
          </label>
        )}
        <label>
          {prefix}Review
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
      <div class="actions">
        <button type="submit" disabled={action.busy || targetList().length === 0}>
          {editing ? 'Save changes' : 'Create campaign'}
        </button>
        {editing && (
          <button type="button" class="button-secondary" onClick={onDone}>
            Close without saving
          </button>
        )}
      </div>
    </form>
  );
}

/** One coming slot: skip it, or move it to another local time. */
function SlotRow({
  slot,
  busy,
  onSkip,
  onMove,
}: {
  slot: Campaign['nextSlots'][number];
  busy: boolean;
  onSkip: () => void;
  onMove: (to: string) => Promise<boolean>;
}) {
  const [moving, setMoving] = useState(false);
  const [to, setTo] = useState(slot.local);
  const text = slotText(slot.local);
  return (
    <li class="slot">
      <span class="grow">
        {text}
        {slot.local !== slot.slot && <span class="muted"> (moved from {slotText(slot.slot)})</span>}
      </span>
      {moving ? (
        <form
          class="slot-move"
          onSubmit={(e) => {
            e.preventDefault();
            void onMove(to).then((ok) => ok && setMoving(false));
          }}
        >
          <label>
            Move the post of {text} to
            <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} required />
          </label>
          <button type="submit" disabled={busy}>
            Move
          </button>
          <button type="button" class="button-secondary" onClick={() => setMoving(false)}>
            Keep it
          </button>
        </form>
      ) : (
        <>
          <button type="button" class="button-secondary small" disabled={busy} onClick={() => setMoving(true)}>
            Move {text}
          </button>
          <button type="button" class="button-secondary small" disabled={busy} onClick={onSkip}>
            Skip {text}
          </button>
        </>
      )}
    </li>
  );
}

function CampaignRow({ id, onChange }: { id: string; onChange: () => void }) {
  const view = useApi<Campaign>(`/api/v1/campaigns/${id}`, 10000);
  const action = useAction();
  const [editing, setEditing] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  // An edit's new name lands in the saved settings; the row's own name column is not updated by it.
  const c = view.data && { ...view.data, name: view.data.settings?.name || view.data.name };
  if (!c) return <li class="row">{view.error ? <Alert>{view.error}</Alert> : <Loading />}</li>;
  const act = (name: string, body: Record<string, unknown> = {}, said?: string) =>
    action.run(async () => {
      await api('POST', `/api/v1/campaigns/${id}/${name}`, body);
      setDone(said ?? null);
      await view.reload();
      onChange();
    });
  const live = c.status === 'active' || c.status === 'paused';
  const failed = (c.slots ?? []).filter((s) => s.outcome === 'failed');
  return (
    <li class="row campaign">
      <div class="grow">
        <p class="row-title">{c.name}</p>
        {c.statusReason && <p class="hint">{c.statusReason}</p>}
        <p class="muted">
          {c.nextSlots.length
            ? `Next: ${c.nextSlots
                .slice(0, 3)
                .map((s) => slotText(s.local))
                .join('; ')}`
            : 'No more slots'}
        </p>
        {c.summary && (
          <p class="muted">
            {Object.entries(c.summary)
              .filter(([, v]) => typeof v === 'number')
              .map(([k, v]) => `${SUMMARY_WORDS[k] ?? words(k)}: ${v}`)
              .join(' · ')}
          </p>
        )}
        {failed.slice(0, FAILED_SHOWN).map((s) => (
          <p key={s.slot} class="error-text">
            No post for {slotText(s.slot)}: {s.reason ?? 'the reason was not recorded'}
          </p>
        ))}
        {failed.length > FAILED_SHOWN && (
          <p class="muted">
            {failed.length - FAILED_SHOWN} earlier {failed.length - FAILED_SHOWN === 1 ? 'slot' : 'slots'} made no post
            either
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
        <button type="button" class="button-secondary" aria-expanded={editing} onClick={() => setEditing(!editing)}>
          Edit {c.name}
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
      <Alert kind="success">{done}</Alert>
      {live && c.nextSlots.length > 0 && (
        <details class="slots">
          <summary>Coming posts of {c.name}</summary>
          <ul class="list">
            {c.nextSlots.slice(0, 8).map((s) => (
              <SlotRow
                key={s.slot}
                slot={s}
                busy={action.busy}
                onSkip={() => act('skip', { slot: s.slot }, `Skipped ${slotText(s.local)}.`)}
                onMove={(to) => act('move', { slot: s.slot, to }, `Moved ${slotText(s.local)} to ${slotText(to)}.`)}
              />
            ))}
          </ul>
        </details>
      )}
      {editing && (
        <div class="edit-campaign">
          <CampaignForm
            editing={c}
            onDone={() => {
              setEditing(false);
              void view.reload();
              onChange();
            }}
          />
        </div>
      )}
    </li>
  );
}

export function CampaignsScreen() {
  const list = useApi<{ items: CampaignSummary[] }>('/api/v1/campaigns', 15000);
  return (
    <Page title="Campaigns">
      <CampaignForm onDone={() => void list.reload()} />
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
