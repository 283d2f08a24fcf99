import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { type Attempt, type ConnectionList, type Post, platformName, postTitle } from '../types';
import { Alert, Confirm, Empty, Loading, Page, Status, when, whenIn } from '../ui';
import { TargetRow, targetLabel } from './post-target';

// Cancel is taken only before publishing starts; past that the API answers 409 with the reason.
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
                  {postTitle(p)}
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

export function PostScreen({ id }: { id: string }) {
  const post = useApi<Post>(`/api/v1/posts/${id}`, 2000);
  const attempts = useApi<{ items: Attempt[]; workflowUrl: string | null }>(`/api/v1/posts/${id}/attempts`, 4000);
  const connections = useApi<ConnectionList>('/api/v1/connections');
  const action = useAction();
  const p = post.data;
  const accountName = (connectionId: string | null) =>
    connectionId ? connections.data?.items.find((c) => c.id === connectionId)?.displayName : undefined;
  const stepTarget = (key: string) => {
    const t = p?.targets.find((x) => x.key === key);
    return t ? targetLabel(t) : platformName(key);
  };
  return (
    <Page title={p ? (p.caption ?? p.brief?.topic ?? 'Post') : 'Post'}>
      <Alert>{post.error ?? action.error}</Alert>
      {!p && post.loading && <Loading />}
      {p && (
        <>
          <p class="summary" aria-live="polite">
            <Status value={p.status} /> {p.publishAt ? `Planned for ${whenIn(p.publishAt, p.timeZone)}` : ''}
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
              <TargetRow
                key={t.key}
                postId={id}
                target={t}
                account={accountName(t.connectionId)}
                onChanged={post.reload}
              />
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
                      {a.targetKey ? ` (${stepTarget(a.targetKey)})` : ''}
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
          {!FINAL.has(p.status) && p.status !== 'publishing' && (
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
