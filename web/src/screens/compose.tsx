import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, upload } from '../api';
import { useAction, useApi } from '../hooks';
import { navigate } from '../router';
import { type MediaItem, type PlatformRules, platformName, type TextLimit } from '../types';
import { Alert, Empty, Page, Progress } from '../ui';

const FORMATS = ['generic', 'youtube', 'tiktok', 'instagram', 'facebook'] as const;

interface Problem {
  message: string;
  fix: string;
  fixable: boolean;
}
interface Report {
  ok: boolean;
  targets: { key: string; problems: Problem[]; files: { mediaId: string; problems: Problem[] }[] }[];
}

function measure(text: string, unit: TextLimit['unit']): number {
  if (unit === 'bytes') return new TextEncoder().encode(text).length;
  if (unit === 'utf16_units') return text.length;
  return [...text].length;
}

const zones = (): string[] => {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf?.('timeZone') ?? [Intl.DateTimeFormat().resolvedOptions().timeZone];
};

export function ComposeScreen() {
  const platforms = useApi<{ platforms: PlatformRules[] }>('/api/v1/platforms');
  const library = useApi<{ items: MediaItem[] }>('/api/v1/media?limit=24');
  const [media, setMedia] = useState<MediaItem[]>([]);
  const [uploads, setUploads] = useState<{ name: string; fraction: number; error?: string }[]>([]);
  const [dragging, setDragging] = useState(false);
  const [showLibrary, setShowLibrary] = useState(false);
  const [targets, setTargets] = useState<string[]>(['generic']);
  const [mode, setMode] = useState<'write' | 'ai'>('write');
  const [caption, setCaption] = useState('');
  const [topic, setTopic] = useState('');
  const [tone, setTone] = useState('');
  const [audience, setAudience] = useState('');
  const [when, setWhen] = useState<'now' | 'later'>('now');
  const [local, setLocal] = useState('');
  const [timeZone, setTimeZone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [review, setReview] = useState<'auto' | 'manual'>('auto');
  const [deadline, setDeadline] = useState('');
  const [report, setReport] = useState<Report | null>(null);
  const action = useAction();
  const allZones = useMemo(zones, []);

  useEffect(() => setReview(mode === 'ai' ? 'manual' : 'auto'), [mode]);

  const body = () => ({
    ...(mode === 'write'
      ? { caption }
      : { brief: { topic, ...(tone ? { tone } : {}), ...(audience ? { audience } : {}) } }),
    mediaIds: media.map((m) => m.id),
    targets: targets.map((platform) => ({ type: 'local_export', key: platform, platform })),
    ...(when === 'later' && local ? { publishAt: { local, timeZone } } : {}),
    review:
      review === 'auto'
        ? { mode: 'auto' }
        : { mode: 'manual', ...(deadline ? { deadline: new Date(deadline).toISOString() } : {}) },
  });

  // Media problems as you go: the server checks the chosen media against every chosen target.
  const mediaKey = media.map((m) => m.id).join(',');
  useEffect(() => {
    if (media.length === 0 || targets.length === 0) {
      setReport(null);
      return;
    }
    const timer = setTimeout(() => {
      api<Report>('POST', '/api/v1/posts/validate', { ...body(), caption: caption || 'check', brief: undefined })
        .then(setReport)
        .catch(() => setReport(null));
    }, 300);
    return () => clearTimeout(timer);
  }, [mediaKey, targets.join(',')]);

  const addFiles = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      const index = uploads.length;
      setUploads((u) => [...u, { name: file.name, fraction: 0 }]);
      const set = (patch: Partial<{ fraction: number; error: string }>) =>
        setUploads((u) => u.map((x, i) => (i === index ? { ...x, ...patch } : x)));
      upload<MediaItem>(file, (fraction) => set({ fraction }))
        .then((item) => {
          setMedia((m) => (m.some((x) => x.id === item.id) ? m : [...m, item]));
          void library.reload();
        })
        .catch((err: Error) => set({ error: `${file.name}: ${err.message}` }));
    }
  };

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const post = await api<{ id: string }>('POST', '/api/v1/posts', body());
      navigate(`/posts/${post.id}`);
    });
  };

  const rules = platforms.data?.platforms ?? [];
  return (
    <Page title="Compose">
      <form onSubmit={submit} class="compose">
        <fieldset>
          <legend>Media</legend>
          <label
            class={`dropzone${dragging ? ' dragging' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={(e) => {
              e.preventDefault();
              setDragging(false);
              addFiles(e.dataTransfer?.files ?? null);
            }}
          >
            <span>Drop photos or videos here, or choose files</span>
            <input
              type="file"
              multiple
              accept="image/*,video/*"
              onChange={(e) => addFiles(e.currentTarget.files)}
              aria-label="Choose photos or videos to upload"
            />
          </label>
          {uploads.map((u) => (
            <div key={u.name} class="upload">
              <span>{u.name}</span>
              {u.error ? <Alert>{u.error}</Alert> : <Progress value={u.fraction} label={`Uploading ${u.name}`} />}
            </div>
          ))}
          {media.length > 0 && (
            <ul class="media-strip" aria-label="Chosen media">
              {media.map((m) => (
                <li key={m.id}>
                  <img src={`/api/v1/media/${m.id}/thumbnail`} alt={m.originalName ?? 'chosen media'} />
                  <button type="button" class="button-secondary" onClick={() => setMedia(media.filter((x) => x !== m))}>
                    Remove {m.originalName ?? 'media'}
                  </button>
                </li>
              ))}
            </ul>
          )}
          <button
            type="button"
            class="button-secondary"
            onClick={() => setShowLibrary(!showLibrary)}
            aria-expanded={showLibrary}
          >
            {showLibrary ? 'Hide library' : 'Pick from library'}
          </button>
          {showLibrary &&
            (library.data?.items.length ? (
              <ul class="media-grid" aria-label="Media library">
                {library.data.items.map((m) => (
                  <li key={m.id}>
                    <button
                      type="button"
                      class="media-pick"
                      aria-pressed={media.some((x) => x.id === m.id)}
                      onClick={() =>
                        setMedia(media.some((x) => x.id === m.id) ? media.filter((x) => x.id !== m.id) : [...media, m])
                      }
                    >
                      <img src={`/api/v1/media/${m.id}/thumbnail`} alt="" />
                      <span>{m.originalName ?? m.mimeType}</span>
                    </button>
                  </li>
                ))}
              </ul>
            ) : (
              <Empty title="Your library is empty">
                <p>Uploads appear here for reuse.</p>
              </Empty>
            ))}
        </fieldset>

        <fieldset>
          <legend>Where to post</legend>
          <p class="hint">Each target exports a ready-to-post folder shaped for that platform.</p>
          <div class="chips">
            {FORMATS.map((f) => (
              <label key={f} class="check">
                <input
                  type="checkbox"
                  checked={targets.includes(f)}
                  onChange={(e) =>
                    setTargets(e.currentTarget.checked ? [...targets, f] : targets.filter((t) => t !== f))
                  }
                />
                {platformName(f)}
              </label>
            ))}
          </div>
          {report && (
            <div aria-live="polite">
              {report.targets.map((t) => {
                const problems = [...t.problems, ...t.files.flatMap((f) => f.problems)];
                if (problems.length === 0) return null;
                return (
                  <div key={t.key} class="problems">
                    <p class="row-title">{platformName(t.key)}</p>
                    <ul>
                      {problems.map((p) => (
                        <li key={p.message}>
                          {p.message} — {p.fixable ? `fixed automatically: ${p.fix}` : p.fix}
                        </li>
                      ))}
                    </ul>
                  </div>
                );
              })}
              {report.ok && <p class="hint">The media suits every chosen platform.</p>}
            </div>
          )}
        </fieldset>

        <fieldset>
          <legend>Text</legend>
          <div class="segmented" role="radiogroup" aria-label="How to write the text">
            <label class="check">
              <input type="radio" name="mode" checked={mode === 'write'} onChange={() => setMode('write')} />
              Write it myself
            </label>
            <label class="check">
              <input type="radio" name="mode" checked={mode === 'ai'} onChange={() => setMode('ai')} />
              Draft with AI from a brief
            </label>
          </div>
          {mode === 'write' ? (
            <>
              <label>
                Caption
                <textarea rows={5} value={caption} onInput={(e) => setCaption(e.currentTarget.value)} required />
              </label>
              <ul class="counters" aria-live="polite">
                {targets.map((t) => {
                  const limit = rules.find((r) => r.platform === t)?.text[0];
                  if (!limit) return null;
                  const used = measure(caption, limit.unit);
                  return (
                    <li key={t} class={used > limit.max ? 'over' : ''}>
                      {platformName(t)}: {used} / {limit.max} {limit.unit === 'bytes' ? 'bytes' : 'characters'} (
                      {limit.field}){used > limit.max ? ' — too long' : ''}
                    </li>
                  );
                })}
              </ul>
            </>
          ) : (
            <>
              <label>
                Brief: what is the post about?
                <textarea rows={3} value={topic} onInput={(e) => setTopic(e.currentTarget.value)} required />
              </label>
              <div class="two">
                <label>
                  Tone (optional)
                  <input value={tone} onInput={(e) => setTone(e.currentTarget.value)} />
                </label>
                <label>
                  Audience (optional)
                  <input value={audience} onInput={(e) => setAudience(e.currentTarget.value)} />
                </label>
              </div>
              <p class="hint">The AI drafts a text for each platform; you see the drafts before anything is posted.</p>
            </>
          )}
        </fieldset>

        <fieldset>
          <legend>When</legend>
          <label class="check">
            <input type="radio" name="when" checked={when === 'now'} onChange={() => setWhen('now')} />
            As soon as it is ready
          </label>
          <label class="check">
            <input type="radio" name="when" checked={when === 'later'} onChange={() => setWhen('later')} />
            At a time I choose
          </label>
          {when === 'later' && (
            <div class="two">
              <label>
                Date and time
                <input type="datetime-local" value={local} onInput={(e) => setLocal(e.currentTarget.value)} required />
              </label>
              <label>
                Time zone
                <select value={timeZone} onChange={(e) => setTimeZone(e.currentTarget.value)}>
                  {allZones.map((z) => (
                    <option key={z}>{z}</option>
                  ))}
                </select>
              </label>
            </div>
          )}
        </fieldset>

        <fieldset>
          <legend>Review</legend>
          <label class="check">
            <input type="radio" name="review" checked={review === 'auto'} onChange={() => setReview('auto')} />
            Publish without review
          </label>
          <label class="check">
            <input type="radio" name="review" checked={review === 'manual'} onChange={() => setReview('manual')} />I
            review the drafts first
          </label>
          {review === 'manual' && (
            <label>
              Review deadline (optional; the post is cancelled if nobody decides by then)
              <input type="datetime-local" value={deadline} onInput={(e) => setDeadline(e.currentTarget.value)} />
            </label>
          )}
        </fieldset>

        <Alert>{action.error}</Alert>
        <button type="submit" disabled={action.busy || targets.length === 0}>
          {mode === 'ai' ? 'Draft with AI' : when === 'later' ? 'Schedule post' : 'Create post'}
        </button>
      </form>
    </Page>
  );
}
