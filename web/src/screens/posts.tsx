import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { type Attempt, type Post, platformName, type Target } from '../types';
import { Alert, Confirm, Empty, Loading, Page, Progress, Status, when } from '../ui';

/** A local export is named by the platform it is shaped for, an account target by its platform. */
const targetLabel = (t: Target) => platformName(t.type === 'local_export' ? t.key : t.type);

const FINAL = new Set(['published', 'partially_published', 'failed', 'cancelled']);

export function PostsScreen() {
  const posts = useApi<{ items: Post[] }>('/api/v1/posts?limit=50', 5000);
  return (
    <Page
      title="Posts"
      actions={
        <a class="button" href="/compose">
          New post
        </a>
      }
    >
      <Alert>{posts.error}</Alert>
      {!posts.data && posts.loading && <Loading />}
      {posts.data?.items.length === 0 && (
        <Empty title="No posts yet">
          <p>
            <a href="/compose">Compose your first post</a>.
          </p>
        </Empty>
      )}
      {posts.data && posts.data.items.length > 0 && (
        <ul class="list">
          {posts.data.items.map((p) => (
            <li key={p.id} class="row">
              <div class="grow">
                <a class="row-title" href={`/posts/${p.id}`}>
                  {p.caption ?? 'Drafting…'}
                </a>
                <p class="muted">{p.publishAt ? `Planned for ${when(p.publishAt)}` : `Created ${when(p.createdAt)}`}</p>
              </div>
              <Status value={p.status} />
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}

function resultLinks(result: Record<string, unknown> | null): [string, string][] {
  if (!result) return [];
  return Object.entries(result).filter(
    (e): e is [string, string] => typeof e[1] === 'string' && /^https?:\/\//.test(e[1]),
  );
}

export function PostScreen({ id }: { id: string }) {
  const post = useApi<Post>(`/api/v1/posts/${id}`, 2000);
  const attempts = useApi<{ items: Attempt[]; workflowUrl: string | null }>(`/api/v1/posts/${id}/attempts`, 4000);
  const action = useAction();
  const p = post.data;
  return (
    <Page title={p ? (p.caption ?? p.brief?.topic ?? 'Post') : 'Post'}>
      <Alert>{post.error ?? action.error}</Alert>
      {!p && post.loading && <Loading />}
      {p && (
        <>
          <p class="summary" aria-live="polite">
            <Status value={p.status} />{' '}
            {p.publishAt ? `Planned for ${when(p.publishAt)}${p.timeZone ? ` (${p.timeZone})` : ''}` : ''}
          </p>
          {p.error && <Alert>{p.error}</Alert>}
          {p.status === 'awaiting_review' && (
            <Alert kind="info">
              Drafts are waiting for you. <a href="/reviews">Review them</a>.
            </Alert>
          )}
          {p.generation?.note && <p class="hint">{p.generation.note}</p>}
          <h2>Targets</h2>
          <ul class="list">
            {p.targets.map((t) => (
              <li key={t.key} class="row target">
                <div class="grow">
                  <p class="row-title">{targetLabel(t)}</p>
                  {t.status === 'unknown' && (
                    <p class="error-text">
                      Outcome unknown: check the account. {platformName(t.type)} may or may not have published it (its
                      answer was lost and it cannot be asked); look on the account before retrying, so it is not posted
                      twice.
                    </p>
                  )}
                  {t.renderProgress && !t.renderProgress.done && typeof t.renderProgress.fraction === 'number' && (
                    <Progress value={t.renderProgress.fraction} label={`Preparing media for ${targetLabel(t)}`} />
                  )}
                  {t.error && <p class="error-text">{t.error}</p>}
                  {t.publishedAt && <p class="muted">Published {when(t.publishedAt)}</p>}
                  {typeof t.result?.location === 'string' && (
                    <p class="muted">
                      Exported to <code>{t.result.location}</code>
                    </p>
                  )}
                  {resultLinks(t.result).map(([k, url]) => (
                    <a key={k} href={url} target="_blank" rel="noreferrer">
                      Open on {platformName(t.platform)}
                    </a>
                  ))}
                </div>
                <Status value={t.status} />
                {t.status === 'failed' && (
                  <button
                    type="button"
                    disabled={action.busy}
                    onClick={() =>
                      void action.run(async () => {
                        await api('POST', `/api/v1/posts/${id}/targets/${t.key}/retry`);
                        await post.reload();
                      })
                    }
                  >
                    Retry {targetLabel(t)}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {p.media.length > 0 && (
            <>
              <h2>Media</h2>
              <ul class="media-strip">
                {p.media.map((m) => (
                  <li key={m.id}>
                    <a href={`/api/v1/media/${m.id}/content`} target="_blank" rel="noreferrer">
                      <img src={`/api/v1/media/${m.id}/thumbnail`} alt={m.originalName ?? 'post media'} />
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )}
          <h2>History</h2>
          {attempts.data?.items.length ? (
            <table>
              <caption class="visually-hidden">Every attempt of every step</caption>
              <thead>
                <tr>
                  <th scope="col">Step</th>
                  <th scope="col">Try</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">When</th>
                </tr>
              </thead>
              <tbody>
                {attempts.data.items.map((a) => (
                  <tr key={`${a.step}-${a.targetKey}-${a.attempt}`}>
                    <td>
                      {a.step.replace(/_/g, ' ')}
                      {a.targetKey ? ` (${platformName(a.targetKey)})` : ''}
                    </td>
                    <td>{a.attempt}</td>
                    <td>
                      {a.outcome}
                      {a.error && <span class="error-text"> — {a.error}</span>}
                    </td>
                    <td>{when(a.startedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No steps have run yet.</p>
          )}
          <p class="links">
            {p.workflow.url && (
              <a href={p.workflow.url} target="_blank" rel="noreferrer">
                Open the workflow in Temporal
              </a>
            )}
          </p>
          {!FINAL.has(p.status) && (
            <Confirm
              label="Cancel this post"
              question="Cancel this post? Nothing more will be published; targets already published stay published."
              confirmLabel="Cancel post"
              busy={action.busy}
              onConfirm={() =>
                void action.run(async () => {
                  await api('POST', `/api/v1/posts/${id}/cancel`, {});
                  await post.reload();
                })
              }
            />
          )}
        </>
      )}
    </Page>
  );
}
