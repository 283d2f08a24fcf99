import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { zonedTimeToInstant } from '../../../domain/zoned-time.js';
import { api, errorText, upload } from '../api';
import { useAction, useApi } from '../hooks';
import { useKeyPerBody } from '../idempotency';
import { navigate } from '../router';
import {
  type Connection,
  type ConnectionList,
  type CreatorInfo,
  type Me,
  type MediaItem,
  NO_AI_IMAGES,
  type PlatformRules,
  platformName,
  type TextLimit,
} from '../types';
import { Alert, Empty, Page, Progress } from '../ui';
import { Previews, type PreviewTarget } from './previews';
import {
  NEW_TIKTOK_CHOICES,
  type TikTokChoices,
  TikTokConsent,
  TikTokSettings,
  tiktokBlockers,
  tiktokTarget,
} from './tiktok-settings';

const FORMATS = ['generic', 'youtube', 'tiktok', 'instagram', 'facebook'] as const;

/** Per-account options of the other platforms, in the API's target shape. */
interface AccountOptions {
  privacy?: 'public' | 'private' | 'unlisted';
  madeForKids?: boolean;
  notifySubscribers?: boolean;
  containsSyntheticMedia?: boolean;
  placement?: string;
  link?: string;
}

const PLACEMENT_CHOICES: Record<string, [string, string][]> = {
  youtube: [
    ['video', 'Video'],
    ['short', 'Short'],
  ],
  instagram: [
    ['feed_image', 'Feed image'],
    ['carousel_item', 'Carousel'],
    ['reel', 'Reel'],
    ['story', 'Story'],
  ],
  facebook: [
    ['feed_image', 'Photo'],
    ['video', 'Page video'],
    ['reel', 'Reel'],
    ['story', 'Story'],
  ],
};

const accountKey = (c: Connection) => `${c.platform}-${c.id.slice(0, 8)}`;

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

/**
 * The instant a wall-clock time means in the post's zone, as the publish time is read. A time the
 * product cannot take (a year out of range) is sent as typed, so the server says what is wrong.
 */
function instantIn(local: string, timeZone: string): string {
  try {
    return zonedTimeToInstant(local, timeZone).toISOString();
  } catch {
    return local;
  }
}

const zones = (): string[] => {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  return intl.supportedValuesOf?.('timeZone') ?? [Intl.DateTimeFormat().resolvedOptions().timeZone];
};

export function ComposeScreen() {
  const platforms = useApi<{ platforms: PlatformRules[] }>('/api/v1/platforms');
  const library = useApi<{ items: MediaItem[] }>('/api/v1/media?limit=24');
  const [media, setMedia] = useState<MediaItem[]>([]);
  const [uploads, setUploads] = useState<{ id: number; name: string; fraction: number; error?: string }[]>([]);
  // Each upload's own id: files of one drop share a render, and two files may share a name.
  const nextUpload = useRef(0);
  const [dragging, setDragging] = useState(false);
  const [showLibrary, setShowLibrary] = useState(false);
  const connections = useApi<ConnectionList>('/api/v1/connections');
  const [targets, setTargets] = useState<string[]>(['generic']);
  const [accounts, setAccounts] = useState<string[]>([]);
  const [tiktok, setTikTok] = useState<Record<string, TikTokChoices>>({});
  const [creators, setCreators] = useState<Record<string, CreatorInfo | undefined>>({});
  const [options, setOptions] = useState<Record<string, AccountOptions>>({});
  const [mode, setMode] = useState<'write' | 'ai'>('write');
  const [caption, setCaption] = useState('');
  const [topic, setTopic] = useState('');
  const [tone, setTone] = useState('');
  const [audience, setAudience] = useState('');
  const [aiImage, setAiImage] = useState(false);
  const me = useApi<Me>('/api/v1/me');
  const [when, setWhen] = useState<'now' | 'later'>('now');
  const [local, setLocal] = useState('');
  const [timeZone, setTimeZone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [review, setReview] = useState<'auto' | 'manual'>('auto');
  const [deadline, setDeadline] = useState('');
  const [report, setReport] = useState<Report | null>(null);
  const [reportError, setReportError] = useState<string | null>(null);
  const action = useAction();
  const createKeys = useKeyPerBody();
  // Set at once, before the button redraws as disabled: a second submit meanwhile sends nothing.
  const creating = useRef(false);
  const allZones = useMemo(zones, []);

  useEffect(() => setReview(mode === 'ai' ? 'manual' : 'auto'), [mode]);

  // The brief's picture: only where an AI endpoint can make it, and only for a post without media
  // of its own (the pipeline makes none for one with media).
  const imagesPossible = me.data?.ai.images;
  const imageOffered = imagesPossible === true && media.length === 0;
  const wantsImage = mode === 'ai' && aiImage && imageOffered;
  const imageWhy =
    imagesPossible === false
      ? NO_AI_IMAGES
      : imagesPossible && media.length > 0
        ? 'The AI makes a picture only for a post without media of its own; remove the chosen media to ask for one.'
        : null;
  const isVideo = media.some((m) => m.mimeType.startsWith('video/'));
  const durations = media.flatMap((m) => (m.mimeType.startsWith('video/') && m.durationSec ? [m.durationSec] : []));
  const longestVideoSec = durations.length ? Math.max(...durations) : null;
  const chosen = (connections.data?.items ?? []).filter((c) => accounts.includes(c.id));
  const accountTarget = (c: Connection) => {
    const key = accountKey(c);
    if (c.platform === 'tiktok') return tiktokTarget(key, c.id, tiktok[c.id] ?? NEW_TIKTOK_CHOICES, isVideo);
    const o = options[c.id] ?? {};
    const placement = o.placement ? { placement: o.placement } : {};
    if (c.platform === 'youtube')
      return {
        type: 'youtube',
        key,
        connectionId: c.id,
        privacy: o.privacy ?? 'public',
        madeForKids: o.madeForKids ?? false,
        notifySubscribers: o.notifySubscribers ?? true,
        containsSyntheticMedia: o.containsSyntheticMedia ?? false,
        ...placement,
      };
    if (c.platform === 'facebook')
      return { type: 'facebook', key, connectionId: c.id, ...(o.link ? { link: o.link } : {}), ...placement };
    return { type: c.platform, key, connectionId: c.id, ...placement };
  };

  const body = () => ({
    ...(mode === 'write'
      ? { caption }
      : {
          brief: {
            topic,
            ...(tone ? { tone } : {}),
            ...(audience ? { audience } : {}),
            ...(wantsImage ? { generateImage: true } : {}),
          },
        }),
    mediaIds: media.map((m) => m.id),
    targets: [
      ...chosen.map(accountTarget),
      ...targets.map((platform) => ({ type: 'local_export', key: platform, platform })),
    ],
    ...(when === 'later' && local ? { publishAt: { local, timeZone } } : {}),
    review:
      review === 'auto'
        ? { mode: 'auto' }
        : { mode: 'manual', ...(deadline ? { deadline: instantIn(deadline, timeZone) } : {}) },
  });

  // Media problems as you go: the server checks the chosen media against every chosen target, with
  // each target's options (a placement changes the rules), again whenever either changes. A post
  // drafted by AI is checked without media too: the picture asked of the AI counts as creation
  // counts it, and without one the targets that need a picture say so before anything is sent.
  const checked = body();
  const checkKey = JSON.stringify([checked.mediaIds, checked.targets, mode, wantsImage]);
  useEffect(() => {
    if ((media.length === 0 && mode !== 'ai') || targets.length + accounts.length === 0) {
      setReport(null);
      setReportError(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      // The brief's words do not change the media: only whether it asks for a picture is sent.
      // A caption or a brief, never both (the API refuses both).
      const { mediaIds, targets } = body();
      const text = wantsImage ? { brief: { topic: 'check', generateImage: true } } : { caption: caption || 'check' };
      api<Report>('POST', '/api/v1/posts/validate', { mediaIds, targets, ...text })
        .then((r) => {
          if (!live) return;
          setReport(r);
          setReportError(null);
        })
        .catch((err) => {
          if (!live) return;
          setReport(null);
          setReportError(`The media could not be checked: ${errorText(err)}`);
        });
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [checkKey]);

  const addFiles = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      const id = ++nextUpload.current;
      setUploads((u) => [...u, { id, name: file.name, fraction: 0 }]);
      const set = (patch: Partial<{ fraction: number; error: string }>) =>
        setUploads((u) => u.map((x) => (x.id === id ? { ...x, ...patch } : x)));
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
    if (creating.current) return;
    const payload = body();
    const headers = { 'Idempotency-Key': createKeys.keyFor(payload) };
    creating.current = true;
    void action
      .run(async () => {
        const post = await api<{ id: string }>('POST', '/api/v1/posts', payload, { headers });
        navigate(`/posts/${post.id}`);
      })
      .finally(() => {
        creating.current = false;
      });
  };

  const rules = platforms.data?.platforms ?? [];
  const chosenTikTok = chosen.filter((c) => c.platform === 'tiktok');
  const blockers = chosenTikTok.flatMap((c) =>
    tiktokBlockers(c.displayName, creators[c.id], tiktok[c.id] ?? NEW_TIKTOK_CHOICES, isVideo ? longestVideoSec : null),
  );
  const branded = chosenTikTok.some((c) => {
    const t = tiktok[c.id];
    return !!t && t.mode === 'direct' && t.disclose && t.brandedContent;
  });
  const platformsChosen = [...new Set([...chosen.map((c) => c.platform), ...targets])];
  const previewTargets: PreviewTarget[] = [
    ...chosen.map((c) => ({
      key: accountKey(c),
      platform: c.platform,
      account: c.displayName,
      placement: options[c.id]?.placement,
    })),
    ...targets.map((t) => ({ key: t, platform: t })),
  ];
  const labelOf = (key: string) => {
    const t = previewTargets.find((x) => x.key === key);
    return t ? `${platformName(t.platform)}${t.account ? ` (${t.account})` : ''}` : key;
  };
  const setOption = (id: string, patch: AccountOptions) =>
    setOptions((o) => ({ ...o, [id]: { ...(o[id] ?? {}), ...patch } }));
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
            <div key={u.id} class="upload">
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
          <h2 class="sub">Your accounts</h2>
          {connections.data && connections.data.items.length === 0 && (
            <p class="hint">
              No accounts connected yet. <a href="/accounts">Connect one</a> to post directly.
            </p>
          )}
          <div class="chips">
            {(connections.data?.items ?? []).map((c) => (
              <label key={c.id} class="check">
                <input
                  type="checkbox"
                  checked={accounts.includes(c.id)}
                  disabled={c.status === 'needs_reconnect'}
                  onChange={(e) =>
                    setAccounts(e.currentTarget.checked ? [...accounts, c.id] : accounts.filter((a) => a !== c.id))
                  }
                />
                {c.displayName} on {platformName(c.platform)}
                {c.status === 'needs_reconnect' && <span class="muted"> (reconnect it first)</span>}
              </label>
            ))}
          </div>
          {chosen.map((c) =>
            c.platform === 'tiktok' ? (
              <TikTokSettings
                key={c.id}
                connection={c}
                isVideo={isVideo}
                choices={tiktok[c.id] ?? NEW_TIKTOK_CHOICES}
                onChange={(v) => setTikTok((t) => ({ ...t, [c.id]: v }))}
                onInfo={(info) => setCreators((x) => (x[c.id] === info ? x : { ...x, [c.id]: info }))}
              />
            ) : (
              <fieldset key={c.id} class="account-options">
                <legend>
                  {platformName(c.platform)}: {c.displayName}
                </legend>
                {c.platform === 'youtube' && (
                  <div class="two">
                    <label>
                      Visibility on YouTube
                      <select
                        value={options[c.id]?.privacy ?? 'public'}
                        onChange={(e) =>
                          setOption(c.id, { privacy: e.currentTarget.value as AccountOptions['privacy'] })
                        }
                      >
                        <option value="public">Public</option>
                        <option value="unlisted">Unlisted</option>
                        <option value="private">Private</option>
                      </select>
                    </label>
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={options[c.id]?.madeForKids ?? false}
                        onChange={(e) => setOption(c.id, { madeForKids: e.currentTarget.checked })}
                      />
                      Made for kids
                    </label>
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={options[c.id]?.notifySubscribers ?? true}
                        onChange={(e) => setOption(c.id, { notifySubscribers: e.currentTarget.checked })}
                      />
                      Notify subscribers
                    </label>
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={options[c.id]?.containsSyntheticMedia ?? false}
                        onChange={(e) => setOption(c.id, { containsSyntheticMedia: e.currentTarget.checked })}
                      />
                      Contains realistic altered or synthetic media
                    </label>
                  </div>
                )}
                {c.platform === 'facebook' && (
                  <label>
                    Link to share (optional)
                    <input
                      type="url"
                      value={options[c.id]?.link ?? ''}
                      onInput={(e) => setOption(c.id, { link: e.currentTarget.value })}
                    />
                  </label>
                )}
                {PLACEMENT_CHOICES[c.platform] && (
                  <label>
                    Post as
                    <select
                      value={options[c.id]?.placement ?? ''}
                      onChange={(e) => setOption(c.id, { placement: e.currentTarget.value || undefined })}
                    >
                      <option value="">Chosen from the media</option>
                      {PLACEMENT_CHOICES[c.platform]!.map(([value, label]) => (
                        <option key={value} value={value}>
                          {label}
                        </option>
                      ))}
                    </select>
                  </label>
                )}
              </fieldset>
            ),
          )}
          <h2 class="sub">Export for posting by hand</h2>
          <p class="hint">Each export is a ready-to-post folder shaped for that platform.</p>
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
          <Alert>{reportError}</Alert>
          {report && (
            <div aria-live="polite">
              {report.targets.map((t) => {
                const problems = [...t.problems, ...t.files.flatMap((f) => f.problems)];
                if (problems.length === 0) return null;
                return (
                  <div key={t.key} class="problems">
                    <p class="row-title">{labelOf(t.key)}</p>
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
              {report.ok && (
                <p class="hint">
                  {media.length > 0
                    ? 'The media suits every chosen platform.'
                    : wantsImage
                      ? 'The picture the AI will make suits every chosen platform.'
                      : 'Every chosen platform takes a post without media.'}
                </p>
              )}
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
                {platformsChosen.flatMap((t) => {
                  const limits = rules.find((r) => r.platform === t)?.text ?? [];
                  // YouTube takes the first line as the title and the rest as the description (as the API splits it).
                  const parts: [TextLimit | undefined, string][] =
                    t === 'youtube'
                      ? [
                          [limits.find((l) => l.field === 'title'), caption.split('\n')[0] ?? ''],
                          [
                            limits.find((l) => l.field === 'description'),
                            caption.split('\n').slice(1).join('\n').trim() || caption,
                          ],
                        ]
                      : [[limits[0], caption]];
                  return parts.map(([limit, text]) => {
                    if (!limit) return null;
                    const used = measure(text, limit.unit);
                    return (
                      <li key={`${t}-${limit.field}`} class={used > limit.max ? 'over' : ''}>
                        {platformName(t)}: {used} / {limit.max} {limit.unit === 'bytes' ? 'bytes' : 'characters'} (
                        {limit.field}){used > limit.max ? ' — too long' : ''}
                      </li>
                    );
                  });
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
              <label class="check">
                <input
                  type="checkbox"
                  checked={aiImage && imageOffered}
                  disabled={!imageOffered}
                  aria-describedby={imageWhy ? 'ai-image-why' : undefined}
                  onChange={(e) => setAiImage(e.currentTarget.checked)}
                />
                Also make a picture with AI
              </label>
              {imageWhy && (
                <p class="hint" id="ai-image-why">
                  {imageWhy}
                </p>
              )}
              <p class="hint">
                The AI drafts a text for each platform;{' '}
                {review === 'manual'
                  ? 'you see the drafts before anything is posted.'
                  : 'with "Publish without review" below they are published as the AI writes them.'}
              </p>
            </>
          )}
        </fieldset>

        {previewTargets.length > 0 && (
          <fieldset>
            <legend>Preview</legend>
            <Previews
              targets={previewTargets}
              text={mode === 'write' ? caption : null}
              media={media}
              rules={rules}
              ai={{ picture: wantsImage, reviewed: review === 'manual' }}
            />
          </fieldset>
        )}

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
              Review deadline in {timeZone} (optional; the post is cancelled if nobody decides by then)
              <input type="datetime-local" value={deadline} onInput={(e) => setDeadline(e.currentTarget.value)} />
            </label>
          )}
        </fieldset>

        <Alert>{action.error}</Alert>
        {blockers.length > 0 && (
          <div class="blockers" aria-live="polite">
            <p class="row-title">Before you can post:</p>
            <ul>
              {blockers.map((b) => (
                <li key={b}>{b}</li>
              ))}
            </ul>
          </div>
        )}
        {chosenTikTok.length > 0 && <TikTokConsent branded={branded} />}
        <button type="submit" disabled={action.busy || targets.length + accounts.length === 0 || blockers.length > 0}>
          {mode === 'ai' ? 'Draft with AI' : when === 'later' ? 'Schedule post' : 'Create post'}
        </button>
      </form>
    </Page>
  );
}
