import { useEffect } from 'preact/hooks';
import { useApi } from '../hooks';
import type { Connection, CreatorInfo, TikTokPrivacy } from '../types';
import { Alert, Loading } from '../ui';

// TikTok's required posting screen (platform-apis.md 1.9, TikTok's Content Sharing Guidelines):
// the creator's nickname, a privacy choice with no default, interaction switches off by default and
// greyed when the creator turned them off, the commercial content disclosure, and the consent text.

export interface TikTokChoices {
  mode: 'direct' | 'inbox';
  /** '' until the person chooses: TikTok forbids a default. */
  privacyLevel: TikTokPrivacy | '';
  allowComment: boolean;
  allowDuet: boolean;
  allowStitch: boolean;
  disclose: boolean;
  yourBrand: boolean;
  brandedContent: boolean;
  aigc: boolean;
}

export const NEW_TIKTOK_CHOICES: TikTokChoices = {
  mode: 'direct',
  privacyLevel: '',
  allowComment: false,
  allowDuet: false,
  allowStitch: false,
  disclose: false,
  yourBrand: false,
  brandedContent: false,
  aigc: false,
};

export const PRIVACY_WORDS: Record<TikTokPrivacy, string> = {
  PUBLIC_TO_EVERYONE: 'Everyone',
  MUTUAL_FOLLOW_FRIENDS: 'Friends (followers you follow back)',
  FOLLOWER_OF_CREATOR: 'Followers',
  SELF_ONLY: 'Only me',
};

export const MUSIC_USAGE_URL = 'https://www.tiktok.com/legal/page/global/music-usage-confirmation/en';
export const BRANDED_CONTENT_POLICY_URL = 'https://www.tiktok.com/legal/page/global/bc-policy/en';

/** The target object the API takes for this account. */
export function tiktokTarget(key: string, connectionId: string, c: TikTokChoices, isVideo: boolean) {
  // A draft takes none of Direct Post's settings (1.4): the creator chooses them in the TikTok app.
  if (c.mode === 'inbox') return { type: 'tiktok', key, connectionId, mode: c.mode };
  return {
    type: 'tiktok',
    key,
    connectionId,
    mode: c.mode,
    ...(c.mode === 'direct' && c.privacyLevel ? { privacyLevel: c.privacyLevel } : {}),
    disableComment: !c.allowComment,
    ...(isVideo ? { disableDuet: !c.allowDuet, disableStitch: !c.allowStitch } : {}),
    brandContent: c.disclose && c.brandedContent,
    brandOrganic: c.disclose && c.yourBrand,
    aigc: c.aigc,
  };
}

/** Why this account cannot be posted to yet, in words; empty when it can. */
export function tiktokBlockers(
  name: string,
  info: CreatorInfo | undefined,
  c: TikTokChoices,
  longestVideoSec: number | null,
): string[] {
  if (!info) return [`${name}: waiting for TikTok to describe the account.`];
  if (!info.canPost)
    return [`${name}: TikTok does not allow this account to post right now. ${info.cannotPostReason ?? ''}`];
  const out: string[] = [];
  if (c.mode === 'inbox' && !info.inboxAllowed)
    out.push(`${name}: this account was connected without uploads to the TikTok inbox; post it directly.`);
  if (c.mode === 'direct') {
    if (!info.directPostAllowed)
      out.push(`${name}: this account was connected without direct posting; send it to the TikTok inbox as a draft.`);
    else if (!c.privacyLevel) out.push(`${name}: choose who can see the TikTok post.`);
    if (c.disclose && !c.yourBrand && !c.brandedContent)
      out.push(`${name}: you need to indicate if your content promotes yourself, a third party, or both.`);
    if (c.brandedContent && c.disclose && c.privacyLevel === 'SELF_ONLY')
      out.push(`${name}: branded content visibility cannot be set to private (Only me).`);
  }
  if (longestVideoSec !== null && longestVideoSec > info.maxVideoPostDurationSec)
    out.push(
      `${name}: the video is ${Math.ceil(longestVideoSec)} s long; this account may post videos up to ${info.maxVideoPostDurationSec} s.`,
    );
  return out;
}

/** "By posting, you agree to …", worded as TikTok requires for the choices made. */
export function TikTokConsent({ branded }: { branded: boolean }) {
  return (
    <p class="consent">
      By posting, you agree to TikTok's{' '}
      {branded && (
        <>
          <a href={BRANDED_CONTENT_POLICY_URL} target="_blank" rel="noreferrer">
            Branded Content Policy
          </a>{' '}
          and{' '}
        </>
      )}
      <a href={MUSIC_USAGE_URL} target="_blank" rel="noreferrer">
        Music Usage Confirmation
      </a>
      .
    </p>
  );
}

export function TikTokSettings({
  connection,
  choices,
  onChange,
  onInfo,
  isVideo,
}: {
  connection: Connection;
  choices: TikTokChoices;
  onChange: (c: TikTokChoices) => void;
  onInfo: (info: CreatorInfo | undefined) => void;
  isVideo: boolean;
}) {
  const info = useApi<CreatorInfo>(`/api/v1/connections/${connection.id}/tiktok/creator-info`);
  // The parent decides whether posting is possible; it needs the same answer this screen shows.
  useEffect(() => onInfo(info.data), [info.data]);
  const c = choices;
  const set = (patch: Partial<TikTokChoices>) => onChange({ ...c, ...patch });
  // Connected without video.publish: the inbox is the only way, so it is the choice, not a default.
  const inboxOnly = info.data?.directPostAllowed === false;
  // Connected without video.upload: only Direct Post remains.
  const directOnly = info.data?.inboxAllowed === false && !inboxOnly;
  useEffect(() => {
    if (inboxOnly && c.mode !== 'inbox') set({ mode: 'inbox' });
    if (directOnly && c.mode !== 'direct') set({ mode: 'direct' });
  }, [inboxOnly, directOnly, c.mode]);
  const id = `tt-${connection.id.slice(0, 8)}`;
  const what = isVideo ? 'video' : 'photo';
  const d = info.data;
  return (
    <fieldset class="tiktok" aria-labelledby={`${id}-title`}>
      <legend id={`${id}-title`}>TikTok: {d?.nickname || connection.displayName}</legend>
      {info.error && (
        <Alert>
          Could not ask TikTok about {connection.displayName}: {info.error}{' '}
          <button type="button" class="button-secondary small" onClick={() => void info.reload()}>
            Try again
          </button>
        </Alert>
      )}
      {!d && !info.error && <Loading />}
      {d && !d.canPost && (
        <Alert>
          TikTok does not allow {d.nickname} to post right now{d.cannotPostReason ? `: ${d.cannotPostReason}` : '.'} Try
          again later or post from the TikTok app.
        </Alert>
      )}
      {d?.canPost && (
        <>
          <p class="creator">
            {d.avatarUrl && <img class="avatar" src={d.avatarUrl} alt="" />}
            <span>
              Posting to <strong>{d.nickname}</strong>
              {d.username && <span class="muted"> @{d.username}</span>}
            </span>
          </p>
          <div class="segmented" role="radiogroup" aria-label={`How to send to ${d.nickname}`}>
            {!inboxOnly && (
              <label class="check">
                <input
                  type="radio"
                  name={`${id}-mode`}
                  checked={c.mode === 'direct'}
                  onChange={() => set({ mode: 'direct' })}
                />
                Post directly
              </label>
            )}
            {!directOnly && (
              <label class="check">
                <input
                  type="radio"
                  name={`${id}-mode`}
                  checked={c.mode === 'inbox'}
                  onChange={() => set({ mode: 'inbox' })}
                />
                Send to my TikTok inbox as a draft (finish it in the TikTok app)
              </label>
            )}
          </div>
          {inboxOnly && (
            <p class="hint">
              {d.nickname} was connected without permission to post directly, so TikTok takes this {what} only as a
              draft: it waits in the TikTok app's inbox, where you choose who can see it and post it. To post directly
              from here, <a href="/accounts">connect the account again</a> and allow direct posting.
            </p>
          )}
          {c.mode === 'direct' && (
            <>
              <label>
                Who can see this {what}
                <select
                  value={c.privacyLevel}
                  required
                  onChange={(e) => set({ privacyLevel: e.currentTarget.value as TikTokPrivacy | '' })}
                >
                  <option value="" disabled>
                    Choose who can see it
                  </option>
                  {d.privacyLevelOptions.map((p) => (
                    <option key={p} value={p} disabled={p === 'SELF_ONLY' && c.disclose && c.brandedContent}>
                      {PRIVACY_WORDS[p]}
                      {p === 'SELF_ONLY' && c.disclose && c.brandedContent ? ' (not for branded content)' : ''}
                    </option>
                  ))}
                </select>
              </label>
              <fieldset class="plain">
                <legend>Allow others to</legend>
                <div class="chips">
                  <Switch
                    label="Comment"
                    checked={c.allowComment}
                    disabledBy={d.commentDisabled}
                    onChange={(v) => set({ allowComment: v })}
                  />
                  {isVideo && (
                    <>
                      <Switch
                        label="Duet"
                        checked={c.allowDuet}
                        disabledBy={d.duetDisabled}
                        onChange={(v) => set({ allowDuet: v })}
                      />
                      <Switch
                        label="Stitch"
                        checked={c.allowStitch}
                        disabledBy={d.stitchDisabled}
                        onChange={(v) => set({ allowStitch: v })}
                      />
                    </>
                  )}
                </div>
                {(d.commentDisabled || (isVideo && (d.duetDisabled || d.stitchDisabled))) && (
                  <p class="hint">Greyed out: turned off in this account's TikTok settings.</p>
                )}
              </fieldset>
              <fieldset class="plain">
                <legend>Content disclosure</legend>
                <label class="check">
                  <input
                    type="checkbox"
                    checked={c.disclose}
                    onChange={(e) =>
                      set({ disclose: e.currentTarget.checked, yourBrand: false, brandedContent: false })
                    }
                  />
                  This {what} promotes a brand, product or service
                </label>
                {c.disclose && (
                  <div class="indent">
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={c.yourBrand}
                        onChange={(e) => set({ yourBrand: e.currentTarget.checked })}
                      />
                      Your brand: you are promoting yourself or your own business
                    </label>
                    <label class="check">
                      <input
                        type="checkbox"
                        checked={c.brandedContent}
                        onChange={(e) => set({ brandedContent: e.currentTarget.checked })}
                      />
                      Branded content: you are promoting another brand or a third party
                    </label>
                    <p class="hint" aria-live="polite">
                      {c.brandedContent
                        ? `Your ${what} will be labeled as “Paid partnership”.`
                        : c.yourBrand
                          ? `Your ${what} will be labeled as “Promotional content”.`
                          : 'You need to indicate if your content promotes yourself, a third party, or both.'}
                    </p>
                    {c.brandedContent && c.privacyLevel === 'SELF_ONLY' && (
                      <p class="error-text">Branded content visibility cannot be set to private (Only me).</p>
                    )}
                  </div>
                )}
              </fieldset>
              <label class="check">
                <input type="checkbox" checked={c.aigc} onChange={(e) => set({ aigc: e.currentTarget.checked })} />
                Label as AI-generated content
              </label>
            </>
          )}
          <p class="hint">
            {isVideo
              ? `Videos up to ${formatDuration(d.maxVideoPostDurationSec)}${inboxOnly ? '' : ' on this account'}. `
              : 'Photo posts: up to 35 photos. '}
            {c.mode === 'direct'
              ? 'After you post, TikTok takes a few minutes to process it before it appears on the profile.'
              : 'After you send it, TikTok takes a few minutes to process it before the draft reaches the inbox.'}
          </p>
        </>
      )}
    </fieldset>
  );
}

function Switch({
  label,
  checked,
  disabledBy,
  onChange,
}: {
  label: string;
  checked: boolean;
  disabledBy: boolean;
  onChange: (v: boolean) => void;
}) {
  return (
    <label class={`check${disabledBy ? ' greyed' : ''}`}>
      <input
        type="checkbox"
        checked={checked && !disabledBy}
        disabled={disabledBy}
        onChange={(e) => onChange(e.currentTarget.checked)}
      />
      {label}
    </label>
  );
}

function formatDuration(sec: number): string {
  if (sec % 60 === 0) return `${sec / 60} min`;
  return `${Math.floor(sec / 60)} min ${sec % 60} s`;
}
