import { useApi } from './hooks';
import type { ConnectionList, Post } from './types';
import { platformName } from './types';

export interface Notice {
  id: string;
  text: string;
  href: string;
  action: string;
}

/** What needs the person's attention, each with the place where it is resolved (polled). */
export function useNotices(): Notice[] {
  const reviews = useApi<{ items: Post[] }>('/api/v1/reviews', 10000);
  const failed = useApi<{ items: Post[] }>('/api/v1/posts?status=failed&limit=20', 15000);
  const partial = useApi<{ items: Post[] }>('/api/v1/posts?status=partially_published&limit=20', 15000);
  const connections = useApi<ConnectionList>('/api/v1/connections', 30000);
  const notices: Notice[] = [];
  for (const p of reviews.data?.items ?? [])
    notices.push({
      id: `review-${p.id}`,
      text: `Drafts for “${p.brief?.topic ?? p.caption ?? 'a post'}” are waiting for your review.`,
      href: '/reviews',
      action: 'Review',
    });
  for (const p of [...(failed.data?.items ?? []), ...(partial.data?.items ?? [])])
    notices.push({
      id: `failed-${p.id}`,
      text: `“${p.caption ?? 'A post'}” ${p.status === 'failed' ? 'failed' : 'was only partly published'}.`,
      href: `/posts/${p.id}`,
      action: 'See what happened',
    });
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
