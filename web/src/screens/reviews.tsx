import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { type PlatformRules, type Post, platformName, type TextLimit } from '../types';
import { Alert, Empty, Loading, Page, when } from '../ui';

/** A decision the reviewer made here: it stays on screen until a new round of that post replaces it. */
type Decided = { post: Post; message: string };

export function ReviewsScreen() {
  const queue = useApi<{ items: Post[] }>('/api/v1/reviews', 3000);
  const platforms = useApi<{ platforms: PlatformRules[] }>('/api/v1/platforms');
  const [decided, setDecided] = useState<Record<string, Decided>>({});
  const items = queue.data?.items ?? [];
  // The queue's next poll drops a decided post (or shows it again while its new round is written);
  // the reviewer still sees what they decided, with a link to follow the post.
  const stillDecided = (id: string) => {
    const d = decided[id];
    const live = items.find((p) => p.id === id);
    return d && (!live || live.review.round <= d.post.review.round) ? d : undefined;
  };
  // A decision a later round has replaced is forgotten, so it never comes back once that round leaves.
  useEffect(() => {
    const replaced = Object.values(decided).filter((d) =>
      items.some((p) => p.id === d.post.id && p.review.round > d.post.review.round),
    );
    if (replaced.length === 0) return;
    setDecided((all) =>
      Object.fromEntries(Object.entries(all).filter(([id]) => !replaced.some((d) => d.post.id === id))),
    );
  }, [items, decided]);
  const gone = Object.values(decided).filter((d) => !items.some((p) => p.id === d.post.id));
  return (
    <Page title="Review queue">
      <Alert>{queue.error}</Alert>
      {!queue.data && queue.loading && <Loading />}
      {gone.map((d) => (
        <DecidedCard key={d.post.id} {...d} />
      ))}
      {queue.data && items.length === 0 && gone.length === 0 && (
        <Empty title="Nothing to review">
          <p>Drafts the AI writes for posts with review appear here.</p>
        </Empty>
      )}
      {items.map((post) => {
        const d = stillDecided(post.id);
        return d ? (
          <DecidedCard key={`${post.id}-${d.post.review.round}`} {...d} />
        ) : (
          <ReviewCard
            key={`${post.id}-${post.review.round}`}
            post={post}
            rules={platforms.data?.platforms ?? []}
            onDecided={(message) => {
              setDecided((all) => ({ ...all, [post.id]: { post, message } }));
              void queue.reload();
            }}
          />
        );
      })}
    </Page>
  );
}

const titleOf = (post: Post) => post.brief?.topic ?? post.caption ?? 'Untitled post';

function DecidedCard({ post, message }: Decided) {
  return (
    <article class="card review" aria-label={`Review: ${titleOf(post)}`}>
      <header class="review-head">
        <h2>
          <a href={`/posts/${post.id}`}>{titleOf(post)}</a>
        </h2>
        <p class="muted">Round {post.review.round + 1} · decided</p>
      </header>
      <Alert kind="success">
        {message} <a href={`/posts/${post.id}`}>Follow the post</a>
      </Alert>
    </article>
  );
}

const targetName = (t: Post['targets'][number]) => platformName(t.type === 'local_export' ? t.key : t.type);

function fieldsOf(draft: Record<string, unknown> | null): [string, string][] {
  return Object.entries(draft ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]);
}

function measure(text: string, unit: TextLimit['unit']): number {
  if (unit === 'bytes') return new TextEncoder().encode(text).length;
  if (unit === 'utf16_units') return text.length;
  return [...text].length;
}

/** The platform's limit for one draft field, counted live as the reviewer edits. */
function Counter({ text, limit }: { text: string; limit: TextLimit | undefined }) {
  if (!limit) return null;
  const used = measure(text, limit.unit);
  return (
    <span class={`hint${used > limit.max ? ' over' : ''}`}>
      {used} / {limit.max} {limit.unit === 'bytes' ? 'bytes' : 'characters'}
      {used > limit.max ? ' — too long' : ''}
    </span>
  );
}

export function ReviewCard({
  post,
  rules,
  onDecided,
}: {
  post: Post;
  rules: PlatformRules[];
  onDecided: (message: string) => void;
}) {
  const [edits, setEdits] = useState<Record<string, Record<string, string>>>({});
  const [feedback, setFeedback] = useState('');
  const [rejecting, setRejecting] = useState(false);
  const action = useAction();

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

  const title = titleOf(post);
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
          <section key={t.key} class="draft" aria-label={`Draft for ${targetName(t)}`}>
            <h3>{targetName(t)}</h3>
            {fieldsOf(t.draft).map(([field, value]) => (
              <label key={field}>
                {field}
                <textarea
                  rows={field === 'title' ? 2 : 5}
                  value={edits[t.key]?.[field] ?? value}
                  onInput={(e) => setEdits({ ...edits, [t.key]: { ...edits[t.key], [field]: e.currentTarget.value } })}
                />
                <Counter
                  text={edits[t.key]?.[field] ?? value}
                  limit={rules.find((r) => r.platform === t.platform)?.text.find((l) => l.field === field)}
                />
              </label>
            ))}
          </section>
        ))}
      </div>
      <div class="actions">
        <button
          type="button"
          disabled={action.busy}
          onClick={() =>
            void action.run(async () => {
              const e = changed();
              await api('POST', `/api/v1/posts/${post.id}/review/approve`, Object.keys(e).length ? { edits: e } : {});
              onDecided('Approved. It will be published as planned.');
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
      {rejecting && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              await api('POST', `/api/v1/posts/${post.id}/review/reject`, { feedback });
              onDecided('Sent back with your feedback. A new round of drafts is being written.');
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
