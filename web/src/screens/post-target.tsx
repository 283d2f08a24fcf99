import { useState } from 'preact/hooks';
import { api } from '../api';
import { useAction } from '../hooks';
import { platformName, type Target } from '../types';
import { Alert, Progress, Status, when } from '../ui';

/** A local export is named by the platform it is shaped for, an account target by its platform. */
export const targetLabel = (t: Target) => platformName(t.type === 'local_export' ? t.key : t.type);

// Only while a target is on its way does its upload bar mean anything; afterwards the link says it all.
const UNDER_WAY = new Set(['pending', 'publishing', 'retrying']);

const megabytes = (n: number) => `${(n / 1_000_000).toFixed(1)} MB`;

/** One target of a post: its status, live upload, where it was published, and the way out of "outcome unknown". */
export function TargetRow({
  postId,
  target: t,
  account,
  onChanged,
}: {
  postId: string;
  target: Target;
  /** The connected account's name, when the target publishes to one. */
  account: string | undefined;
  onChanged: () => Promise<void>;
}) {
  const action = useAction();
  const retry = useAction();
  const [address, setAddress] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const label = targetLabel(t);
  const platform = platformName(t.type === 'local_export' ? t.platform : t.type);
  const upload = t.uploadProgress;
  const uploading = upload && upload.total > 0 && UNDER_WAY.has(t.status) ? upload : null;
  const note = typeof t.result?.note === 'string' ? t.result.note : null;
  const confirmedByPerson = t.result?.confirmedByPerson === true;
  const unknown = t.status === 'unknown' ? t.outcomeUnknown : undefined;
  const busy = action.busy || retry.busy;

  const confirm = (e: Event) => {
    e.preventDefault();
    const url = address.trim();
    void action
      .run(async () => {
        await api('POST', unknown?.confirm ?? `/api/v1/posts/${postId}/targets/${t.key}/confirm`, url ? { url } : {});
        await onChanged();
      })
      .then((ok) => ok && setDone(`Recorded as published on ${platform}; it will not be sent again.`));
  };
  const sendAgain = () =>
    void retry
      .run(async () => {
        await api('POST', unknown?.retry ?? `/api/v1/posts/${postId}/targets/${t.key}/retry`);
        await onChanged();
      })
      .then((ok) => ok && setDone(`Sending it to ${platform} again.`));

  return (
    <li class="row target">
      <div class="grow">
        <p class="row-title">{label}</p>
        {account && <p class="muted">{account}</p>}
        {t.status === 'unknown' && (
          <p class="error-text">
            Outcome unknown: check the account. {platform} may or may not have published it (its answer was lost and it
            cannot be asked); look on the account before retrying, so it is not posted twice.
          </p>
        )}
        {t.renderProgress && !t.renderProgress.done && typeof t.renderProgress.fraction === 'number' && (
          <Progress value={t.renderProgress.fraction} label={`Preparing media for ${label}`} />
        )}
        {uploading && (
          <div class="upload-progress">
            <Progress value={uploading.sent / uploading.total} label={`Uploading to ${label}`} />
            <p class="muted">
              {uploading.sent >= uploading.total
                ? `Uploaded ${megabytes(uploading.total)}; ${platform} is processing it.`
                : `${megabytes(uploading.sent)} of ${megabytes(uploading.total)} sent to ${platform}.`}
            </p>
          </div>
        )}
        {t.error && !unknown && <p class="error-text">{t.error}</p>}
        {t.publishedAt && t.status === 'published' && (
          <p class="muted">
            Published {when(t.publishedAt)}
            {confirmedByPerson ? ' (confirmed by you)' : ''}
          </p>
        )}
        {t.type === 'local_export' && typeof t.result?.location === 'string' && t.result.location && (
          <p class="muted">
            Exported to <code>{t.result.location}</code>
          </p>
        )}
        {t.url && (
          <p class="published-link">
            {/* Only a web address becomes a link: a javascript: URL in a record must never run. */}
            <a href={/^https?:\/\//i.test(t.url) ? t.url : undefined} target="_blank" rel="noreferrer">
              Open on {platform}
            </a>{' '}
            <span class="muted url">{t.url}</span>
          </p>
        )}
        {t.status === 'published' && t.type !== 'local_export' && !t.url && (
          <p class="muted">
            {confirmedByPerson ? 'No address was given when it was confirmed.' : `${platform} gave no public link.`}
          </p>
        )}
        {note && <p class="hint">{note}</p>}
        {unknown && (
          <div class="unknown-outcome">
            {unknown.reason && (
              <p>
                <strong>What happened:</strong> {unknown.reason}
              </p>
            )}
            <form class="unknown-actions" onSubmit={confirm} noValidate>
              <label>
                Address of the post on {platform}, if you found it (optional)
                <input
                  type="url"
                  inputMode="url"
                  placeholder="https://"
                  value={address}
                  onInput={(e) => setAddress(e.currentTarget.value)}
                />
              </label>
              <div class="actions">
                <button type="submit" disabled={busy}>
                  It is there — confirm
                </button>
                <button type="button" class="button-secondary" disabled={busy} onClick={sendAgain}>
                  Send again
                </button>
              </div>
            </form>
          </div>
        )}
        <Alert>{action.error ?? retry.error}</Alert>
        {done && !action.error && !retry.error && <Alert kind="success">{done}</Alert>}
      </div>
      <Status value={t.status} />
      {t.status === 'failed' && (
        <button type="button" disabled={busy} onClick={sendAgain}>
          Retry {label}
        </button>
      )}
    </li>
  );
}
