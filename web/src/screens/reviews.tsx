import { useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { type Post, platformName } from '../types';
import { Alert, Empty, Loading, Page, when } from '../ui';

export function ReviewsScreen() {
  const queue = useApi<{ items: Post[] }>('/api/v1/reviews', 3000);
  return (
    <Page title="Review queue">
      <Alert>{queue.error}</Alert>
      {!queue.data && queue.loading && <Loading />}
      {queue.data?.items.length === 0 && (
        <Empty title="Nothing to review">
          <p>Drafts the AI writes for posts with review appear here.</p>
        </Empty>
      )}
      {queue.data?.items.map((post) => (
        <ReviewCard key={`${post.id}-${post.review.round}`} post={post} onDone={() => void queue.reload()} />
      ))}
    </Page>
  );
}

function fieldsOf(draft: Record<string, unknown> | null): [string, string][] {
  return Object.entries(draft ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]);
}

export function ReviewCard({ post, onDone }: { post: Post; onDone: () => void }) {
  const [edits, setEdits] = useState<Record<string, Record<string, string>>>({});
  const [feedback, setFeedback] = useState('');
  const [rejecting, setRejecting] = useState(false);
  const action = useAction();
  const [done, setDone] = useState<string | null>(null);

  const changed = () => {
    const out: Record<string, Record<string, unknown>> = {};
    for (const t of post.targets) {
      const e = edits[t.key];
      if (!e) continue;
      const draft = { ...(t.draft ?? {}) } as Record<string, unknown>;
      for (const [k, v] of Object.entries(e))
        draft[k] = Array.isArray(draft[k])
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : v;
      out[t.key] = draft;
    }
    return out;
  };

  const title = post.brief?.topic ?? post.caption ?? 'Untitled post';
  return (
    <article class="card review" aria-label={`Review: ${title}`}>
      <header class="review-head">
        <h2>
          <a href={`/posts/${post.id}`}>{title}</a>
        </h2>
        <p class="muted">
          Round {post.review.round + 1}
          {post.review.deadline ? ` · decide by ${when(post.review.deadline)}` : ' · no deadline'}
        </p>
      </header>
      {post.generation?.rounds
        .filter((r) => r.feedback)
        .map((r) => (
          <p key={r.round} class="hint">
            You asked for changes: “{r.feedback}”
          </p>
        ))}
      <div class="drafts">
        {post.targets.map((t) => (
          <section key={t.key} class="draft" aria-label={`Draft for ${platformName(t.key)}`}>
            <h3>{platformName(t.key)}</h3>
            {fieldsOf(t.draft).map(([field, value]) => (
              <label key={field}>
                {field}
                <textarea
                  rows={field === 'title' ? 2 : 5}
                  value={edits[t.key]?.[field] ?? value}
                  onInput={(e) => setEdits({ ...edits, [t.key]: { ...edits[t.key], [field]: e.currentTarget.value } })}
                />
              </label>
            ))}
          </section>
        ))}
      </div>
      {done ? (
        <Alert kind="success">{done}</Alert>
      ) : (
        <div class="actions">
          <button
            type="button"
            disabled={action.busy}
            onClick={() =>
              void action.run(async () => {
                const e = changed();
                await api('POST', `/api/v1/posts/${post.id}/review/approve`, Object.keys(e).length ? { edits: e } : {});
                setDone('Approved. It will be published as planned.');
                setTimeout(onDone, 1500);
              })
            }
          >
            Approve
          </button>
          <button
            type="button"
            class="button-secondary"
            onClick={() => setRejecting(!rejecting)}
            aria-expanded={rejecting}
          >
            Reject with feedback
          </button>
        </div>
      )}
      {rejecting && !done && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              await api('POST', `/api/v1/posts/${post.id}/review/reject`, { feedback });
              setDone('Sent back with your feedback. A new round of drafts is being written.');
              setTimeout(onDone, 1500);
            });
          }}
        >
          <label>
            What should change?
            <textarea rows={3} value={feedback} onInput={(e) => setFeedback(e.currentTarget.value)} required />
          </label>
          <button type="submit" disabled={action.busy}>
            Send feedback
          </button>
        </form>
      )}
      <Alert>{action.error}</Alert>
    </article>
  );
}
