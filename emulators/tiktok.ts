import { randomBytes } from 'node:crypto';
import { signTikTokWebhook } from '../platforms/webhook-signatures.js';
import {
  type Answer,
  callbackUrl,
  type EmulatorOptions,
  type EmulatorRequest,
  type Identity,
  identity,
  isRecord,
  json,
  type Kit,
  missingFields,
  positiveSeconds,
  redirect,
  requireForm,
  startEmulatorServer,
  validRedirectUri,
} from './oauth-kit.js';
import { publishingHook } from './publishing-kit.js';
import { createTikTokPublishing } from './tiktok-publishing.js';

/**
 * TikTok Login Kit v2 and the basic profile, as platform-apis.md 1.1 describes them: comma scopes,
 * no PKCE on the web flow, flat token JSON, OAuth errors with HTTP 200 by default (the sandbox
 * behaviour a client must survive), refresh tokens that rotate (the old one dies on use), revoke,
 * and the signed `authorization.removed` webhook.
 */
export interface TikTokEmulatorOptions extends EmulatorOptions {
  clientKey?: string;
  clientSecret?: string;
  /** Defaults follow the newer docs: 2 h access, 180 d refresh. */
  accessTokenSeconds?: number;
  refreshTokenSeconds?: number;
  /** HTTP status of OAuth error answers: 200 (seen in the sandbox) or 400. */
  oauthErrorStatus?: 200 | 400;
  /** Where `authorization.removed` is delivered on a deauthorisation. */
  webhookUrl?: string;
}

export const TIKTOK_EMULATOR_CLIENT = { key: 'emulator-tiktok-key', secret: 'emulator-tiktok-secret' };
const ALL_SCOPES = [
  'user.info.basic',
  'user.info.profile',
  'user.info.stats',
  'video.list',
  'video.upload',
  'video.publish',
];
const PROFILE_FIELDS = ['open_id', 'union_id', 'avatar_url', 'avatar_url_100', 'avatar_large_url', 'display_name'];

export interface TikTokEmulator {
  url: string;
  /** The variables that point the app at this emulator. */
  env: Record<string, string>;
  kit: Kit;
  stop(): Promise<void>;
}

interface Settings {
  accessSeconds: number;
  refreshSeconds: number;
  errorStatus: 200 | 400;
  user: Identity;
  /** Scopes the next consent grants (intersected with those asked); null = all asked. */
  grantScopes: string[] | null;
  webhookUrl: string | undefined;
  /** The newer docs' rotation (section 5); off, a refresh hands back the refresh token it was sent (1.1: "may be different"). */
  rotateRefresh: boolean;
}

const defaultUser = (): Identity => ({
  id: 'tt-open-0001',
  displayName: 'Emulated Creator',
  avatarUrl: 'https://p16.tiktokcdn.example/emulated-avatar.jpeg',
});

export async function startTikTokEmulator(options: TikTokEmulatorOptions = {}): Promise<TikTokEmulator> {
  const clientKey = options.clientKey ?? TIKTOK_EMULATOR_CLIENT.key;
  const clientSecret = options.clientSecret ?? TIKTOK_EMULATOR_CLIENT.secret;
  const initial = (): Settings => ({
    accessSeconds: options.accessTokenSeconds ?? 2 * 3600,
    refreshSeconds: options.refreshTokenSeconds ?? 180 * 86400,
    errorStatus: options.oauthErrorStatus ?? 200,
    user: defaultUser(),
    grantScopes: null,
    webhookUrl: options.webhookUrl,
    rotateRefresh: true,
  });
  let settings = initial();

  const oauthError = (error: string, description: string, status?: number): Answer =>
    json(status ?? settings.errorStatus, { error, error_description: description, log_id: logId() });

  const server = await startEmulatorServer(options, {
    raw: publishingHook(createTikTokPublishing(), { kinds: ['access'], prefix: 'act.' }),
    reset: () => {
      settings = initial();
    },
    api(req, kit) {
      const route = `${req.method} ${req.path}`;
      if (route === 'GET /v2/auth/authorize/') return authorize(req, kit);
      if (req.path === '/v2/oauth/token/') return token(req, kit);
      if (req.path === '/v2/oauth/revoke/') return revoke(req, kit);
      if (route === 'GET /v2/user/info/') return userInfo(req, kit);
      return envelopeError(404, 'invalid_params', `Unknown endpoint ${route}`);
    },
    async control(method, path, body, kit) {
      const route = `${method} ${path}`;
      if (route === 'POST /__control/consent') {
        if (isRecord(body.user)) settings.user = identity(body.user, settings.user);
        if (Array.isArray(body.scopes)) settings.grantScopes = body.scopes.filter((s) => typeof s === 'string');
        if (body.scopes === null) settings.grantScopes = null;
        return { status: 204 };
      }
      if (route === 'POST /__control/lifetimes') {
        const access = positiveSeconds(body.accessSeconds, 'accessSeconds');
        const refresh = positiveSeconds(body.refreshSeconds, 'refreshSeconds');
        for (const v of [access, refresh]) if (typeof v === 'string') return json(400, { error: v });
        if (typeof access === 'number') settings.accessSeconds = access;
        if (typeof refresh === 'number') settings.refreshSeconds = refresh;
        return { status: 204 };
      }
      if (route === 'POST /__control/refresh-rotation') {
        if (typeof body.rotate !== 'boolean') return json(400, { error: 'rotate must be true or false' });
        settings.rotateRefresh = body.rotate;
        return { status: 204 };
      }
      if (route === 'POST /__control/oauth-error-status') {
        if (body.status !== 200 && body.status !== 400) return json(400, { error: 'status must be 200 or 400' });
        settings.errorStatus = body.status;
        return { status: 204 };
      }
      if (route === 'POST /__control/deauthorize') return deauthorize(body, kit);
      return undefined;
    },
  });

  function authorize(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'authorize';
    const q = req.query;
    missingFields(kit, endpoint, q, ['client_key', 'scope', 'redirect_uri', 'state', 'response_type']);
    if (q.get('code_challenge') || q.get('code_challenge_method')) {
      kit.violate(endpoint, 'PKCE sent on the web flow, which takes none');
    }
    const scope = q.get('scope') ?? '';
    if (/\s/.test(scope)) kit.violate(endpoint, 'scopes separated by spaces instead of commas');
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_key') !== clientKey) return page(400, 'client_key is not registered (error: invalid_client)');
    if (!validRedirectUri(redirectUri))
      return page(400, 'redirect_uri is not an absolute URL (error: invalid_request)');
    if (q.get('response_type') !== 'code')
      return page(400, 'response_type must be code (error: unsupported_response_type)');
    const state = q.get('state') ?? undefined;
    const fault = kit.takeFault('authorize', ['deny_consent', 'server_error']);
    if (fault) {
      return redirect(
        callbackUrl(redirectUri, {
          error: fault.kind === 'deny_consent' ? 'access_denied' : 'server_error',
          error_description:
            fault.kind === 'deny_consent' ? 'The user denied the request' : 'Internal error (injected)',
          state,
        }),
      );
    }
    const asked = scope.split(/[,\s]+/).filter((s) => ALL_SCOPES.includes(s));
    const granted = settings.grantScopes ? asked.filter((s) => settings.grantScopes?.includes(s)) : asked;
    const code = kit.issueCode({ redirectUri, scopes: granted, user: { ...settings.user } });
    return redirect(callbackUrl(redirectUri, { code, scopes: granted.join(','), state }));
  }

  function token(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'token';
    if (!requireForm(kit, endpoint, req)) {
      return oauthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = req.form as URLSearchParams;
    if (missingFields(kit, endpoint, form, ['client_key', 'client_secret', 'grant_type']).length > 0) {
      return oauthError('invalid_request', 'Missing required parameters');
    }
    if (form.get('client_key') !== clientKey || form.get('client_secret') !== clientSecret) {
      return oauthError('invalid_client', 'Client key or secret is invalid');
    }
    const grantType = form.get('grant_type');
    const target = grantType === 'refresh_token' ? 'refresh' : 'token';
    const fault = kit.takeFault(target, ['server_error', 'rate_limit', 'invalid_grant']);
    if (fault?.kind === 'server_error') return oauthError('server_error', 'Internal error (injected fault)', 500);
    if (fault?.kind === 'rate_limit') {
      return {
        ...oauthError('temporarily_unavailable', 'Too many requests (injected fault)', 429),
        headers: { 'retry-after': String(fault.retryAfterSeconds ?? 1) },
      };
    }
    if (grantType === 'authorization_code') {
      if (missingFields(kit, endpoint, form, ['code', 'redirect_uri']).length > 0) {
        return oauthError('invalid_request', 'code and redirect_uri are required');
      }
      if (form.get('code_verifier')) kit.violate(endpoint, 'code_verifier sent on the web flow');
      const redeemed = kit.redeemCode(endpoint, form.get('code'));
      if (!redeemed.ok) return oauthError('invalid_grant', `Authorization code is invalid: ${redeemed.why}`);
      if (redeemed.data.redirectUri !== form.get('redirect_uri')) {
        kit.violate(endpoint, 'redirect_uri differs from the one the code was issued for');
        return oauthError('invalid_grant', 'redirect_uri does not match');
      }
      if (fault?.kind === 'invalid_grant')
        return oauthError('invalid_grant', 'Authorization code is expired (injected fault)');
      const user = redeemed.data.user as Identity;
      const grantId = `grant-${randomBytes(6).toString('hex')}`;
      return json(200, issuePair(kit, grantId, user, redeemed.data.scopes as string[]));
    }
    if (grantType === 'refresh_token') {
      if (missingFields(kit, endpoint, form, ['refresh_token']).length > 0) {
        return oauthError('invalid_request', 'refresh_token is required');
      }
      const checked = kit.check(form.get('refresh_token'), ['refresh']);
      if (!checked.ok) {
        if (checked.why === 'rotated') kit.violate(endpoint, 'rotated refresh token used again');
        return oauthError('invalid_grant', `Refresh token is invalid or expired (${checked.why})`);
      }
      const old = checked.record;
      if (fault?.kind === 'invalid_grant') {
        kit.revokeGrant(old.grantId);
        return oauthError('invalid_grant', 'Refresh token is invalid or expired (injected fault)');
      }
      const pair = issuePair(kit, old.grantId, old.data.user as Identity, old.data.scopes as string[]);
      if (!settings.rotateRefresh) return json(200, { ...pair, refresh_token: form.get('refresh_token') });
      // Rotation: the previous refresh token stops working once a new one is issued.
      old.state = 'rotated';
      return json(200, pair);
    }
    kit.violate(endpoint, `unsupported grant_type ${grantType}`);
    return oauthError('unsupported_grant_type', 'grant_type is not supported');
  }

  function issuePair(kit: Kit, grantId: string, user: Identity, scopes: string[]) {
    const openId = user.id;
    const data = { openId, scopes, user };
    const access = kit.issueToken('access', grantId, settings.accessSeconds, 'act.', data);
    const refresh = kit.issueToken('refresh', grantId, settings.refreshSeconds, 'rft.', data);
    return {
      access_token: access.token,
      expires_in: settings.accessSeconds,
      open_id: openId,
      refresh_expires_in: settings.refreshSeconds,
      refresh_token: refresh.token,
      scope: scopes.join(','),
      token_type: 'Bearer',
    };
  }

  function revoke(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'revoke';
    if (!requireForm(kit, endpoint, req)) {
      return oauthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = req.form as URLSearchParams;
    if (missingFields(kit, endpoint, form, ['client_key', 'client_secret', 'token']).length > 0) {
      return oauthError('invalid_request', 'Missing required parameters');
    }
    if (form.get('client_key') !== clientKey || form.get('client_secret') !== clientSecret) {
      return oauthError('invalid_client', 'Client key or secret is invalid');
    }
    const fault = kit.takeFault('revoke', ['server_error']);
    if (fault) return oauthError('server_error', 'Internal error (injected fault)', 500);
    const checked = kit.check(form.get('token'), ['access']);
    if (!checked.ok) return oauthError('invalid_grant', `The access token is invalid (${checked.why})`);
    kit.revokeGrant(checked.record.grantId);
    return json(200, {});
  }

  function userInfo(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'user/info';
    if (!req.bearer) {
      kit.violate(endpoint, 'access token not sent as Authorization: Bearer');
      return envelopeError(401, 'access_token_invalid', 'The access token is invalid or not found in the request.');
    }
    const fields = (req.query.get('fields') ?? '').split(',').filter((f) => f !== '');
    if (fields.length === 0) {
      kit.violate(endpoint, 'missing fields');
      return envelopeError(400, 'invalid_params', 'fields is required');
    }
    const fault = kit.takeFault('profile', ['server_error', 'rate_limit']);
    if (fault?.kind === 'server_error') return envelopeError(500, 'internal_error', 'Internal error (injected fault)');
    if (fault?.kind === 'rate_limit') {
      return { ...envelopeError(429, 'rate_limit_exceeded', 'Rate limit exceeded'), headers: { 'retry-after': '1' } };
    }
    const checked = kit.check(req.bearer, ['access']);
    if (!checked.ok)
      return envelopeError(401, 'access_token_invalid', 'The access token is invalid or not found in the request.');
    const scopes = checked.record.data.scopes as string[];
    if (!scopes.includes('user.info.basic'))
      return envelopeError(401, 'scope_not_authorized', 'user.info.basic not granted');
    const unknown = fields.filter((f) => !PROFILE_FIELDS.includes(f));
    if (unknown.length > 0)
      return envelopeError(401, 'scope_not_authorized', `fields need scopes not granted: ${unknown.join(',')}`);
    const user = checked.record.data.user as Identity;
    const openId = user.id;
    const all: Record<string, string> = {
      open_id: openId,
      union_id: `union-${openId}`,
      avatar_url: user.avatarUrl,
      avatar_url_100: user.avatarUrl,
      avatar_large_url: user.avatarUrl,
      display_name: user.displayName,
    };
    return json(200, {
      data: { user: Object.fromEntries(fields.map((f) => [f, all[f]])) },
      error: { code: 'ok', message: '', log_id: logId() },
    });
  }

  async function deauthorize(body: Record<string, unknown>, kit: Kit): Promise<Answer> {
    const openId = typeof body.openId === 'string' ? body.openId : settings.user.id;
    const reason = typeof body.reason === 'number' ? body.reason : 1;
    const grants = new Set([...kit.tokens.values()].filter((t) => t.data.openId === openId).map((t) => t.grantId));
    let revoked = 0;
    for (const grant of grants) revoked += kit.revokeGrant(grant);
    const webhookUrl = typeof body.webhookUrl === 'string' ? body.webhookUrl : settings.webhookUrl;
    let delivered: number | null = null;
    if (webhookUrl) {
      const event = JSON.stringify({
        client_key: clientKey,
        event: 'authorization.removed',
        create_time: Math.floor(kit.now() / 1000),
        user_openid: openId,
        content: JSON.stringify({ reason }),
      });
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'TikTok-Signature': signTikTokWebhook(event, clientSecret, Math.floor(kit.now() / 1000)),
        },
        body: event,
      });
      delivered = response.status;
    }
    return json(200, { revokedTokens: revoked, delivered });
  }

  return {
    url: server.url,
    env: {
      TIKTOK_CLIENT_KEY: clientKey,
      TIKTOK_CLIENT_SECRET: clientSecret,
      TIKTOK_AUTH_URL: server.url,
      TIKTOK_API_URL: server.url,
    },
    kit: server.kit,
    stop: server.stop,
  };
}

function envelopeError(status: number, code: string, message: string): Answer {
  return json(status, { data: {}, error: { code, message, log_id: logId() } });
}

function page(status: number, message: string): Answer {
  return { status, body: `<!doctype html><title>TikTok (emulator)</title><p>${message}</p>` };
}

function logId(): string {
  return randomBytes(12).toString('hex').toUpperCase();
}
