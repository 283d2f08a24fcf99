import express, { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { signOutcome, verifiedOutcome } from '../../auth/secrets.js';
import { PLATFORM_NAMES, PLATFORMS, type Platform } from '../../platforms/connector.js';
import { PRIVACY_LEVELS } from '../../platforms/tiktok/publisher.js';
import { startAuthorization } from '../../use-cases/connections/authorize.js';
import { ConnectionAttemptError, completeAuthorization } from '../../use-cases/connections/callback.js';
import {
  disconnectOwnConnection,
  listConnections,
  toConnectionView,
  viewConnection,
} from '../../use-cases/connections/list-connections.js';
import {
  dataDeletionStatus,
  handleMetaNotice,
  handleTikTokWebhook,
  NoticeRefusedError,
} from '../../use-cases/connections/notices.js';
import { requestRenewal } from '../../use-cases/connections/owner.js';
import { confirmPendingChoice, viewPendingChoice } from '../../use-cases/connections/pending-choice.js';
import { ownConnection } from '../../use-cases/connections/rows.js';
import { tiktokCreatorInfo } from '../../use-cases/connections/tiktok-creator-info.js';
import { callerOf, requireCaller } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';

// ---------------------------------------------------------------------------------------------
// Schemas: requests as validated, responses as sent (documented from the same definitions)

const platformParam = z.enum(PLATFORMS, { error: `expected one of ${PLATFORMS.join(', ')}` });
const metaAppParam = z.enum(['facebook', 'instagram'], { error: 'expected facebook or instagram' });
const authorizeBody = z.strictObject({
  via: z
    .literal('facebook', { error: 'expected "facebook" (Instagram through a Facebook Page), or leave it out' })
    .optional()
    .describe('Instagram only: connect the Instagram account behind a Facebook Page, with Facebook Login'),
});
const confirmBody = z.strictObject({
  accountIds: z
    .array(z.string().min(1).max(200), { error: 'expected a list of the offered account ids' })
    .min(1, 'choose at least one account')
    .max(100)
    .describe('Ids of the offered accounts to connect (`accounts[].id` of the pending choice)'),
});

const statusEnum = z.enum(['active', 'expiring', 'needs_reconnect']);
const connectionView = z.object({
  id: z.uuid(),
  platform: platformParam,
  via: z.literal('facebook').nullable(),
  platformAccountId: z.string(),
  displayName: z.string(),
  avatarUrl: z.string().nullable(),
  status: statusEnum.describe(
    '`expiring`: stops working within 7 days unless renewed; `needs_reconnect`: the platform refused, connect again',
  ),
  statusReason: z.string().nullable(),
  scopes: z.array(z.string()),
  accessTokenExpiresAt: z.iso.datetime().nullable(),
  lastRenewedAt: z.iso.datetime().nullable(),
  connectedAt: z.iso.datetime(),
});
const pendingChoiceView = z.object({
  id: z.uuid(),
  platform: platformParam,
  via: z.literal('facebook').nullable(),
  expiresAt: z.iso.datetime(),
  accounts: z.array(z.object({ id: z.string(), displayName: z.string(), avatarUrl: z.string().nullable() })),
});
const platformView = z.object({
  platform: platformParam,
  configured: z.boolean(),
  missing: z.array(z.string()).describe('Variables still to set (names only)'),
  via: z.array(z.enum(['instagram', 'facebook'])).optional(),
  redirectUri: z.string().describe("Register this redirect URI in the platform's developer app"),
});
const listView = z.object({
  items: z.array(connectionView),
  pendingChoices: z.array(pendingChoiceView),
  platforms: z.array(platformView),
});
const authorizeView = z.object({
  authorizeUrl: z.string().describe("Send the person's browser here; the platform redirects back to the callback"),
  expiresAt: z.iso.datetime().describe('The attempt must come back before this'),
});
const disconnectView = z.object({
  id: z.uuid(),
  platform: platformParam,
  deleted: z.boolean(),
  revocation: z.enum(['revoked', 'already_invalid', 'not_offered', 'kept_for_other_connections', 'skipped', 'failed']),
  affectedPostIds: z
    .array(z.uuid())
    .describe(
      'Posts that lose this target until the same account is connected again: unfinished ones, and failed ones that may still be retried',
    ),
});
const creatorInfoView = z.object({
  connectionId: z.uuid(),
  username: z
    .string()
    .describe(
      'The creator’s @handle (empty when TikTok says the creator cannot post now, or directPostAllowed is false)',
    ),
  nickname: z.string().describe('Show this on the posting screen, so the person knows which account receives the post'),
  avatarUrl: z.string().nullable(),
  privacyLevelOptions: z
    .array(z.enum(PRIVACY_LEVELS))
    .describe('The only privacy levels a post to this account may name; offer them with no default'),
  commentDisabled: z.boolean().describe('Comments are off in the creator’s settings: show the switch off and disabled'),
  duetDisabled: z.boolean(),
  stitchDisabled: z.boolean(),
  maxVideoPostDurationSec: z.number().int().describe('Longer videos are refused for this creator'),
  directPostAllowed: z
    .boolean()
    .describe(
      'False: the account was connected without direct posting (video.publish); only mode "inbox" (a draft the creator finishes in the TikTok app) is possible, TikTok was not asked, and there are no privacy levels or interactions to choose. Connecting the account again with direct posting allowed enables it',
    ),
  inboxAllowed: z
    .boolean()
    .describe(
      'False: the account was connected without uploads (video.upload); mode "inbox" is refused, only direct posting is possible',
    ),
  canPost: z.boolean().describe('False: TikTok says this creator cannot post now; do not offer publishing'),
  cannotPostReason: z.string().nullable().describe('Why not, in words'),
});
const noticeAck = z.object({ received: z.literal(true), removed: z.number().int() });
const deletionView = z.object({ url: z.string(), confirmation_code: z.string() });
const deletionStatusView = z.object({
  confirmationCode: z.string(),
  status: z.literal('completed'),
  completedAt: z.iso.datetime(),
});

const resultQuery = z.object({
  platform: platformParam,
  status: z.enum(['connected', 'choose', 'error']),
  reason: z.string().max(1000).optional().describe('Why connecting did not work, in words'),
  sig: z
    .string()
    .max(100)
    .optional()
    .describe("The installation's MAC of `reason`: without a valid one the reason is not shown"),
  connections: z.string().max(2000).optional(),
  pendingChoice: z.string().max(100).optional(),
});

const outcomeQuery = resultQuery.pick({ platform: true, reason: true, sig: true });
const outcomeView = z.object({
  reason: z
    .string()
    .nullable()
    .describe('The reason, when this installation wrote it for the caller (the link carries its MAC); null otherwise'),
});

const PARAMS = {
  platform: platformParam,
  app: metaAppParam,
  code: z.string().describe('The confirmation code Meta showed the person'),
};
const UNAVAILABLE = {
  description:
    'Temporal, the database or the platform did not answer in time; the connection is still there. Repeat after Retry-After seconds',
};

export const connectionDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/connections',
    tag: 'Connections',
    summary: 'Your connected accounts, choices waiting for you, and which platforms this server can connect',
    responses: { 200: { description: 'Connections (never tokens)', schema: listView } },
  },
  {
    method: 'post',
    path: '/api/v1/connections/:platform/authorize',
    tag: 'Connections',
    summary: "Start connecting an account: the platform's authorization URL, with a single-use state bound to you",
    params: PARAMS,
    body: authorizeBody,
    bodyOptional: true,
    responses: {
      200: { description: 'Send the browser to `authorizeUrl` within 10 minutes', schema: authorizeView },
      409: { description: 'The platform is not configured on this server; `detail` names the variables to set' },
    },
  },
  {
    method: 'get',
    path: '/api/v1/connections/:platform/callback',
    tag: 'Connections',
    summary:
      'Where the platform sends the browser back (register it as the redirect URI). Always redirects to the result page, with the outcome or the reason in words',
    auth: false,
    params: PARAMS,
    responses: {
      302: {
        description:
          'To /connections/result?platform=…&status=connected|choose|error with `connections`, `pendingChoice` or `reason`',
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/connections/pending/:id',
    tag: 'Connections',
    summary: 'Accounts to pick from (Facebook Pages, Instagram accounts behind them) after consent',
    responses: { 200: { description: 'The offered accounts (never tokens)', schema: pendingChoiceView } },
  },
  {
    method: 'post',
    path: '/api/v1/connections/pending/:id/confirm',
    tag: 'Connections',
    summary: 'Connect the picked accounts by their offered ids; the others are dropped with the choice',
    body: confirmBody,
    responses: {
      201: { description: 'Connected', schema: z.object({ items: z.array(connectionView) }) },
      409: { description: 'The choice was confirmed already' },
    },
  },
  {
    method: 'get',
    path: '/api/v1/connections/:id',
    tag: 'Connections',
    summary: 'One connection',
    responses: { 200: { description: 'The connection (never tokens)', schema: connectionView } },
  },
  {
    method: 'get',
    path: '/api/v1/connections/:id/tiktok/creator-info',
    tag: 'Connections',
    summary:
      "What TikTok's posting screen needs, asked from TikTok now: the creator's nickname, allowed privacy levels, disabled interactions, longest video, and whether the creator can post at all",
    responses: {
      200: {
        description:
          'The creator as TikTok describes them now; for a connection without direct posting, the stored name and directPostAllowed false (TikTok is not asked)',
        schema: creatorInfoView,
      },
      409: { description: 'Not a TikTok connection, or TikTok no longer accepts it (connect the account again)' },
      503: { description: 'TikTok did not answer or asks to slow down; repeat after Retry-After seconds' },
    },
  },
  {
    method: 'delete',
    path: '/api/v1/connections/:id',
    tag: 'Connections',
    summary:
      'Disconnect: revoke at the platform where it offers revocation (a shared Facebook grant with its last Page), then delete the tokens and the stored profile',
    responses: { 200: { description: 'Disconnected', schema: disconnectView }, 503: UNAVAILABLE },
  },
  {
    method: 'post',
    path: '/api/v1/connections/tiktok/webhook',
    tag: 'Platform notices',
    summary:
      "TikTok's webhook (`authorization.removed` disconnects the account here too); the raw JSON body is verified against `TikTok-Signature`",
    auth: false,
    responses: {
      200: { description: 'Received', schema: noticeAck },
      401: { description: 'The signature does not verify (or TikTok is not configured)' },
    },
  },
  {
    method: 'post',
    path: '/api/v1/connections/:app/deauthorize',
    tag: 'Platform notices',
    summary: "Meta's deauthorize callback (form field `signed_request`): the person removed the app",
    auth: false,
    params: PARAMS,
    responses: {
      200: { description: 'Received; the connections of that grant are gone', schema: noticeAck },
      401: { description: 'signed_request does not verify (or the app is not configured)' },
    },
  },
  {
    method: 'post',
    path: '/api/v1/connections/:app/data-deletion',
    tag: 'Platform notices',
    summary:
      "Meta's data deletion callback (form field `signed_request`): deletes at once and answers Meta's status link",
    auth: false,
    params: PARAMS,
    responses: {
      200: { description: 'Deleted; Meta shows the person the code and the link', schema: deletionView },
      401: { description: 'signed_request does not verify (or the app is not configured)' },
    },
  },
  {
    method: 'get',
    path: '/connections/result',
    tag: 'Connections',
    summary: 'The page the callback lands on: the outcome of connecting, in words',
    auth: false,
    query: resultQuery,
    responses: { 200: { description: 'A short HTML page', contentType: 'text/html' } },
  },
  {
    method: 'get',
    path: '/api/v1/connections/outcome',
    tag: 'Connections',
    summary:
      "The reason on a result page's link, checked: the panel shows only words this installation wrote, never a link's made-up ones",
    auth: false,
    query: outcomeQuery,
    responses: { 200: { description: 'The reason, or null', schema: outcomeView } },
  },
  {
    method: 'get',
    path: '/api/v1/connections/data-deletion/:code',
    tag: 'Platform notices',
    summary: 'Status of a data deletion request made through Meta',
    auth: false,
    params: PARAMS,
    responses: { 200: { description: 'Completed', schema: deletionStatusView } },
  },
];

// ---------------------------------------------------------------------------------------------

export function connectionRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db } = deps;
  // Read per request: building the router (the OpenAPI test does) needs none of it.
  const owner = () => ({
    temporal: deps.temporal,
    callTimeoutMs: deps.temporalCallTimeoutMs,
    taskQueue: deps.taskQueue,
  });
  const noticeDeps = () => ({ db, owner: owner(), secrets: deps.connections.noticeSecrets });
  const json = express.json({ limit: '16kb' });
  const form = express.urlencoded({ extended: false, limit: '64kb' });
  const raw = express.raw({ type: () => true, limit: '64kb' });
  const platformOf = (req: Request): Platform => parseOrThrow(platformParam, req.params.platform, 'platform');

  router.get('/api/v1/connections', requireCaller, async (req, res) => {
    res.json(await listConnections(deps.connections, callerOf(req).userId));
  });

  router.post('/api/v1/connections/:platform/authorize', requireCaller, json, async (req, res) => {
    const platform = platformOf(req);
    const body = parseOrThrow(authorizeBody, req.body ?? {});
    const started = await startAuthorization(deps.connections, {
      ownerId: callerOf(req).userId,
      platform,
      via: body.via,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ authorizeUrl: started.authorizeUrl, expiresAt: started.expiresAt.toISOString() });
  });

  router.get('/api/v1/connections/pending/:id', requireCaller, async (req, res) => {
    res.json(await viewPendingChoice(deps.connections, callerOf(req).userId, req.params.id as string));
  });

  router.post('/api/v1/connections/pending/:id/confirm', requireCaller, json, async (req, res) => {
    const ownerId = callerOf(req).userId;
    const body = parseOrThrow(confirmBody, req.body ?? undefined);
    const confirmed = await confirmPendingChoice(
      { ...deps.connections, owner: owner() },
      { ownerId, choiceId: req.params.id as string, accountIds: body.accountIds, ip: req.ip },
    );
    const now = new Date();
    const items = [];
    for (const id of confirmed.connectionIds) items.push(toConnectionView(await ownConnection(db, ownerId, id), now));
    res.status(201).json({ items });
  });

  router.get('/api/v1/connections/outcome', (req, res) => {
    const q = parseOrThrow(outcomeQuery, req.query);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ reason: verifiedOutcome(deps.authKeys, req.caller?.userId ?? '', q) });
  });

  router.get('/api/v1/connections/data-deletion/:code', async (req, res) => {
    const status = await dataDeletionStatus(db, req.params.code as string);
    if (!status) throw Problem.notFound(`Data deletion request ${req.params.code}`);
    res.json(status);
  });

  router.get('/api/v1/connections/:platform/callback', async (req, res) => {
    const query = { ...(req.query as Record<string, unknown>) };
    const result = (params: Record<string, string>) => {
      const url = new URL('/connections/result', deps.connections.publicUrl());
      for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(302, url.toString());
    };
    const platform = platformParam.safeParse(req.params.platform);
    if (!platform.success) throw Problem.notFound(`GET ${req.path}`);
    try {
      const outcome = await completeAuthorization(
        { ...deps.connections, owner: owner() },
        { callerId: req.caller?.userId ?? null, platform: platform.data, query, ip: req.ip },
      );
      if (outcome.kind === 'choose') {
        result({ platform: outcome.platform, status: 'choose', pendingChoice: outcome.pendingChoiceId });
      } else {
        result({ platform: outcome.platform, status: 'connected', connections: outcome.connectionIds.join(',') });
      }
    } catch (err) {
      if (!(err instanceof ConnectionAttemptError)) throw err;
      req.log?.info({ platform: err.platform, reason: err.message }, 'connection attempt refused');
      result({
        platform: err.platform,
        status: 'error',
        reason: err.message,
        sig: signOutcome(deps.authKeys, req.caller?.userId ?? '', err.platform, err.message),
      });
    }
  });

  router.get('/api/v1/connections/:id', requireCaller, async (req, res) => {
    res.json(await viewConnection(db, callerOf(req).userId, req.params.id as string));
  });

  router.get('/api/v1/connections/:id/tiktok/creator-info', requireCaller, async (req, res) => {
    const access = owner();
    const view = await tiktokCreatorInfo(
      {
        ...deps.connections,
        tiktokApiUrl: deps.connections.tiktokApiUrl,
        requestRenewal: (connectionId, request) => requestRenewal(access, connectionId, request),
      },
      callerOf(req).userId,
      req.params.id as string,
    );
    res.setHeader('Cache-Control', 'no-store');
    res.json(view);
  });

  router.delete('/api/v1/connections/:id', requireCaller, async (req, res) => {
    res.json(await disconnectOwnConnection({ db, owner: owner() }, callerOf(req).userId, req.params.id as string));
  });

  const refused = (err: unknown) => {
    if (err instanceof NoticeRefusedError) {
      return new Problem(401, 'Signature not verified', `The notice was refused: ${err.message}`, [
        { field: 'signature', message: err.message },
      ]);
    }
    return err;
  };

  router.post('/api/v1/connections/tiktok/webhook', raw, async (req, res) => {
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { removed } = await handleTikTokWebhook(noticeDeps(), {
        rawBody: body,
        signature: req.header('TikTok-Signature'),
      });
      res.json({ received: true, removed });
    } catch (err) {
      throw refused(err);
    }
  });

  const metaNotice = (kind: 'deauthorize' | 'data_deletion') => async (req: Request, res: Response) => {
    const app = parseOrThrow(metaAppParam, req.params.app, 'app');
    const signedRequest = typeof req.body?.signed_request === 'string' ? req.body.signed_request : undefined;
    try {
      const outcome = await handleMetaNotice(noticeDeps(), { app, kind, signedRequest });
      if (kind === 'deauthorize') return res.json({ received: true, removed: outcome.removed });
      const code = outcome.confirmationCode as string;
      res.json({
        url: new URL(`/api/v1/connections/data-deletion/${code}`, deps.connections.publicUrl()).toString(),
        confirmation_code: code,
      });
    } catch (err) {
      throw refused(err);
    }
  };
  router.post('/api/v1/connections/:app/deauthorize', form, metaNotice('deauthorize'));
  router.post('/api/v1/connections/:app/data-deletion', form, metaNotice('data_deletion'));

  // The page the callback lands on until the panel exists: the outcome in words, nothing else.
  router.get('/connections/result', (req, res) => {
    const q = parseOrThrow(resultQuery, req.query);
    const name = PLATFORM_NAMES[q.platform];
    const message =
      q.status === 'connected'
        ? `${name} is connected.`
        : q.status === 'choose'
          ? `Pick which ${name} accounts to connect: GET /api/v1/connections/pending/${q.pendingChoice ?? ''}, then POST …/confirm with their ids.`
          : `Connecting ${name} did not work${outcomeReason(verifiedOutcome(deps.authKeys, req.caller?.userId ?? '', q))}`;
    res.setHeader('Cache-Control', 'no-store');
    res
      .type('html')
      .send(`<!doctype html><meta charset="utf-8"><title>AutoPostPanel</title><p>${escapeHtml(message)}</p>`);
  });

  return router;
}

/** The reason after the page's first words, or where to go from there when the link's is not ours. */
function outcomeReason(reason: string | null): string {
  return reason === null ? '. Start connecting again from the accounts page.' : `: ${reason}`;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
