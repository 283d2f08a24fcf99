import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api';
import { useApi } from './hooks';
import type { ConnectionList, Post } from './types';
import { platformName, postTitle } from './types';

export interface Notice {
  id: string;
  text: string;
  href: string;
  action: string;
}

const UNKNOWN = 'unknown';

/**
 * The full views of the posts that did not end cleanly, re-read only when a post changed
 * (`updatedAt`), so the targets whose outcome is unknown can be named without a request per poll.
 */
function useTargetsOf(posts: Post[]): Map<string, Post> {
  const cache = useRef(new Map<string, Post>());
  const [, setTick] = useState(0);
  const wanted = posts.map((p) => `${p.id}@${p.updatedAt}`).join(',');
  useEffect(() => {
    let live = true;
    for (const p of posts) {
      const key = `${p.id}@${p.updatedAt}`;
      if (cache.current.has(key)) continue;
      api<Post>('GET', `/api/v1/posts/${p.id}`)
        .then((full) => {
          if (!live) return;
          cache.current.set(key, full);
          setTick((n) => n + 1);
        })
        .catch(() => {
          // The failed notice still shows; the detail is tried again on the post's next change.
        });
    }
    return () => {
      live = false;
    };
  }, [wanted]);
  const out = new Map<string, Post>();
  for (const p of posts) {
    const full = cache.current.get(`${p.id}@${p.updatedAt}`);
    if (full) out.set(p.id, full);
  }
  return out;
}

const targetName = (t: Post['targets'][number]) => platformName(t.type === 'local_export' ? t.platform : t.type);

/** What needs the person's attention, each with the place where it is resolved (polled). */
export function useNotices(): Notice[] {
  const reviews = useApi<{ items: Post[] }>('/api/v1/reviews', 10000);
  const failed = useApi<{ items: Post[] }>('/api/v1/posts?status=failed&limit=20', 15000);
  const partial = useApi<{ items: Post[] }>('/api/v1/posts?status=partially_published&limit=20', 15000);
  const connections = useApi<ConnectionList>('/api/v1/connections', 30000);
  const troubled = [...(failed.data?.items ?? []), ...(partial.data?.items ?? [])];
  const full = useTargetsOf(troubled);
  const notices: Notice[] = [];
  for (const p of reviews.data?.items ?? [])
    notices.push({
      id: `review-${p.id}`,
      text: `Drafts for “${p.brief?.topic ?? p.caption ?? 'a post'}” are waiting for your review.`,
      href: '/reviews',
      action: 'Review',
    });
  for (const p of troubled) {
    const targets = full.get(p.id)?.targets;
    const unknown = targets?.filter((t) => t.status === UNKNOWN) ?? [];
    for (const t of unknown)
      notices.push({
        id: `unknown-${p.id}-${t.key}`,
        text: `Outcome unknown: check the account. “${postTitle(p)}” may or may not be on ${targetName(t)}; nothing will post it again by itself.`,
        href: `/posts/${p.id}`,
        action: 'Open the post',
      });
    // A post whose only trouble is an unknown outcome is not called failed.
    if (targets && unknown.length > 0 && !targets.some((t) => t.status === 'failed')) continue;
    notices.push({
      id: `failed-${p.id}`,
      text: `“${postTitle(p)}” ${p.status === 'failed' ? 'failed' : 'was only partly published'}.`,
      href: `/posts/${p.id}`,
      action: 'See what happened',
    });
  }
  for (const c of connections.data?.items ?? [])
    if (c.status !== 'active')
      notices.push({
        id: `conn-${c.id}`,
        text: `${c.displayName} on ${platformName(c.platform)} ${c.status === 'expiring' ? 'stops working soon' : 'needs to be reconnected'}.`,
        href: '/accounts',
        action: 'Reconnect',
      });
  return notices;
}
