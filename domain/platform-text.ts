// How the platforms count what their text limits speak of (platform-apis.md 2.3, 3.x), in one
// place: the drafts a reviewer approves are checked exactly as the publishers check them before
// sending, so an approved draft is never refused at publish time for its text.

/**
 * YouTube's tag budget (500 in all) as platform-apis.md 2.3 counts it: each tag's characters, a
 * tag with a space counted with its quotes. Nothing more: the contract names no separators, and a
 * stricter count would refuse drafts the platform takes.
 */
export function youtubeTagsLength(tags: readonly string[]): number {
  return tags.reduce((n, t) => n + t.length + (t.includes(' ') ? 2 : 0), 0);
}

/** Instagram's hashtags: every "#", wherever it stands (at most 30). */
export function instagramHashtags(caption: string): number {
  return caption.match(/#/g)?.length ?? 0;
}

/** Instagram's @tags: every "@" (at most 20). */
export function instagramMentions(caption: string): number {
  return caption.match(/@/g)?.length ?? 0;
}
