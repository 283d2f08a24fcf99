import express, { Router } from 'express';
import type { CampaignSettings } from '../../domain/campaign-schedule.js';
import {
  type CampaignDeps,
  cancelCampaign,
  createCampaign,
  editCampaign,
  listCampaigns,
  moveSlot,
  pauseCampaign,
  previewSlots,
  resumeCampaign,
  skipSlot,
  viewCampaign,
  viewOf,
} from '../../use-cases/campaigns/campaigns.js';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { parseOrThrow } from '../problem.js';
import {
  campaignListView,
  campaignView,
  createCampaignSchema,
  editCampaignSchema,
  moveSlotSchema,
  previewSchema,
  previewView,
  reasonSchema,
  skipSlotSchema,
} from '../schemas/campaigns.js';
import { idempotencyKeyOf } from './posts.js';

export function campaignDepsOf(deps: ApiDeps): CampaignDeps {
  return {
    db: deps.db,
    temporal: deps.temporal,
    callTimeoutMs: deps.temporalCallTimeoutMs,
    taskQueue: deps.taskQueue,
    tiktokAudited: deps.tiktokAudited ?? false,
    aiImages: deps.aiImages ?? true,
    postDefaults: {
      reviewMaxRounds: deps.reviewMaxRounds,
      retryWindowDays: deps.retryWindowDays,
      searchAttributes: deps.searchAttributes,
      ...(deps.uploadTaskQueue ? { uploadTaskQueue: deps.uploadTaskQueue } : {}),
    },
  };
}

export function campaignRoutes(deps: ApiDeps): Router {
  const router = Router();
  const campaignDeps = campaignDepsOf(deps);
  const json = express.json({ limit: '256kb' });

  // Before the id routes: "preview" is not a campaign id.
  router.post('/api/v1/campaigns/preview', json, (req, res) => {
    res.json(previewSlots(parseOrThrow(previewSchema, req.body ?? undefined)));
  });

  router.post('/api/v1/campaigns', json, async (req, res) => {
    const { userId } = callerOf(req);
    const idempotencyKey = idempotencyKeyOf(req);
    const settings = parseOrThrow(createCampaignSchema, req.body ?? undefined) as CampaignSettings;
    const result = await createCampaign(campaignDeps, { ownerId: userId, settings, idempotencyKey });
    const view = await viewOf(campaignDeps, result.campaign);
    if (result.created) res.status(201).location(`/api/v1/campaigns/${result.campaign.id}`);
    res.json(view);
  });

  router.get('/api/v1/campaigns', async (req, res) => {
    res.json({ items: await listCampaigns(deps.db, callerOf(req).userId) });
  });

  router.get('/api/v1/campaigns/:id', async (req, res) => {
    res.json(await viewCampaign(campaignDeps, callerOf(req).userId, req.params.id));
  });

  router.patch('/api/v1/campaigns/:id', json, async (req, res) => {
    const { userId } = callerOf(req);
    const edit = parseOrThrow(editCampaignSchema, req.body ?? undefined) as Partial<CampaignSettings>;
    const target = { ownerId: userId, campaignId: req.params.id };
    await editCampaign(campaignDeps, target, edit);
    res.json(await viewCampaign(campaignDeps, userId, target.campaignId));
  });

  const action = (
    name: string,
    run: (body: unknown, target: { ownerId: string; campaignId: string }) => Promise<unknown>,
  ) =>
    router.post(`/api/v1/campaigns/:id/${name}`, json, async (req, res) => {
      const { userId } = callerOf(req);
      const target = { ownerId: userId, campaignId: req.params.id as string };
      await run(req.body ?? {}, target);
      res.json(await viewCampaign(campaignDeps, userId, target.campaignId));
    });
  action('pause', (body, target) => pauseCampaign(campaignDeps, target, parseOrThrow(reasonSchema, body)));
  action('resume', (body, target) => {
    parseOrThrow(reasonSchema.pick({}), body);
    return resumeCampaign(campaignDeps, target);
  });
  action('cancel', (body, target) => cancelCampaign(campaignDeps, target, parseOrThrow(reasonSchema, body)));
  action('skip', (body, target) => skipSlot(campaignDeps, target, parseOrThrow(skipSlotSchema, body)));
  action('move', (body, target) => moveSlot(campaignDeps, target, parseOrThrow(moveSlotSchema, body)));
  return router;
}

const unavailable = { description: 'Temporal did not answer in time; repeat after Retry-After seconds' };
const refused = { description: 'Not possible in the campaign’s present state (ended, cancelled), in words' };

export const campaignDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/campaigns/preview',
    tag: 'Campaigns',
    summary: 'The next slots of a cadence not yet saved, in local time',
    body: previewSchema,
    responses: { 200: { description: 'The slots, local and as instants', schema: previewView } },
  },
  {
    method: 'post',
    path: '/api/v1/campaigns',
    tag: 'Campaigns',
    summary: 'Create a campaign and start it',
    body: createCampaignSchema,
    headers: [
      {
        name: 'Idempotency-Key',
        description: 'A repeat with the same key answers the same campaign (200); with a different body, 422',
      },
    ],
    responses: {
      201: { description: 'Created; its workflow has started', schema: campaignView },
      200: { description: 'A repeat of an earlier request with the same Idempotency-Key', schema: campaignView },
      503: unavailable,
    },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns',
    tag: 'Campaigns',
    summary: 'Your campaigns, newest first',
    responses: { 200: { description: 'The campaigns', schema: campaignListView } },
  },
  {
    method: 'get',
    path: '/api/v1/campaigns/:id',
    tag: 'Campaigns',
    summary: 'A campaign: settings, next slots, and what became of the slots reached',
    responses: { 200: { description: 'The campaign', schema: campaignView } },
  },
  {
    method: 'patch',
    path: '/api/v1/campaigns/:id',
    tag: 'Campaigns',
    summary: 'Edit the brief, targets, cadence or policies; applies to slots not yet reached',
    body: editCampaignSchema,
    responses: { 200: { description: 'Edited', schema: campaignView }, 409: refused, 503: unavailable },
  },
  ...(
    [
      ['pause', 'Pause: no slot is reached until resumed', reasonSchema],
      ['resume', 'Resume a paused campaign', reasonSchema.pick({})],
      ['cancel', 'Cancel: future slots are dropped, posts already made keep going', reasonSchema],
      ['skip', 'Skip one future slot', skipSlotSchema],
      ['move', 'Move one future slot to another local time', moveSlotSchema],
    ] as const
  ).map(
    ([name, summary, body]): RouteDoc => ({
      method: 'post',
      path: `/api/v1/campaigns/:id/${name}`,
      tag: 'Campaigns',
      summary,
      body,
      bodyOptional: name !== 'skip' && name !== 'move',
      responses: {
        200: { description: 'Done; the campaign as it is now', schema: campaignView },
        409: refused,
        503: unavailable,
      },
    }),
  ),
];
