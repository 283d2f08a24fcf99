import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered on the dev server at start and ensured on any other cluster, so the Temporal UI
// can filter pipelines by post, status and publish time.
export const PostIdAttribute = defineSearchAttributeKey('PostId', SearchAttributeType.KEYWORD);
/** The pipeline's status; once it ends, its final value (published, failed, cancelled, ...). */
export const PostStatusAttribute = defineSearchAttributeKey('PostStatus', SearchAttributeType.KEYWORD);
/** When the post is to be published; set when it is scheduled and on every reschedule. */
export const PublishAtAttribute = defineSearchAttributeKey('PublishAt', SearchAttributeType.DATETIME);

export const OwnerIdAttribute = defineSearchAttributeKey('OwnerId', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [PostIdAttribute, PostStatusAttribute, OwnerIdAttribute, PublishAtAttribute] as const;

/** The name each type has in `temporal server start-dev --search-attribute NAME=TYPE`. */
export const DEV_SERVER_TYPE_NAMES: Record<(typeof SEARCH_ATTRIBUTES)[number]['type'], string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.DATETIME]: 'Datetime',
};
