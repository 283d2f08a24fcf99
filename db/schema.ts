import { sql } from 'drizzle-orm';
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { PostStatus, StepName, StepStatus, TargetStatus, TargetType } from '../domain/pipeline.js';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const media = pgTable('media', {
  id: uuid('id').primaryKey(),
  originalName: text('original_name'),
  mimeType: text('mime_type').notNull(),
  sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
  sha256: text('sha256').notNull(),
  width: integer('width'),
  height: integer('height'),
  storageKey: text('storage_key').notNull(),
  createdAt: createdAt(),
});

export const posts = pgTable(
  'posts',
  {
    id: uuid('id').primaryKey(),
    caption: text('caption').notNull(),
    status: text('status').$type<PostStatus>().notNull(),
    publishAt: timestamp('publish_at', { withTimezone: true }),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash').notNull(),
    workflowId: text('workflow_id').notNull(),
    error: text('error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('posts_idempotency_key_unique').on(t.idempotencyKey).where(sql`${t.idempotencyKey} is not null`),
    index('posts_created_at_id_idx').on(t.createdAt, t.id),
  ],
);

export const postMedia = pgTable(
  'post_media',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    mediaId: uuid('media_id')
      .notNull()
      .references(() => media.id, { onDelete: 'restrict' }),
    position: integer('position').notNull(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.position] })],
);

export const postSteps = pgTable(
  'post_steps',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    step: text('step').$type<StepName>().notNull(),
    status: text('status').$type<StepStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.postId, t.step] })],
);

/** One row per (post, target): the record that makes publishing exactly-once. */
export const publications = pgTable(
  'publications',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    targetKey: text('target_key').notNull(),
    targetType: text('target_type').$type<TargetType>().notNull(),
    status: text('status').$type<TargetStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** What the destination acknowledged (folder, platform post id, URL). */
    result: jsonb('result').$type<Record<string, unknown>>(),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.targetKey] })],
);

export const renditions = pgTable(
  'renditions',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    targetKey: text('target_key').notNull(),
    position: integer('position').notNull(),
    mediaId: uuid('media_id')
      .notNull()
      .references(() => media.id, { onDelete: 'restrict' }),
    storageKey: text('storage_key').notNull(),
    mimeType: text('mime_type').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.targetKey, t.position] })],
);

/** Every try of every step, kept so a person can read what happened and why. */
export const attempts = pgTable(
  'attempts',
  {
    id: uuid('id').primaryKey(),
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    step: text('step').$type<StepName>().notNull(),
    targetKey: text('target_key'),
    attempt: integer('attempt').notNull(),
    outcome: text('outcome').$type<'running' | 'succeeded' | 'failed'>().notNull(),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('attempts_post_idx').on(t.postId, t.startedAt)],
);
