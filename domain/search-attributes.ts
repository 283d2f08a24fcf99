import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered on the dev server at start and ensured on any other cluster, so the Temporal UI
// can filter pipelines by post and status.
export const PostIdAttribute = defineSearchAttributeKey('PostId', SearchAttributeType.KEYWORD);
export const PostStatusAttribute = defineSearchAttributeKey('PostStatus', SearchAttributeType.KEYWORD);

export const OwnerIdAttribute = defineSearchAttributeKey('OwnerId', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [PostIdAttribute, PostStatusAttribute, OwnerIdAttribute] as const;
