import { randomBytes } from 'node:crypto';
import { faultAnswer, graphError, tokenError } from './facebook.js';
import { createInstagramPublishing } from './instagram-publishing.js';
import {
  type Answer,
  callbackUrl,
  type EmulatorOptions,
  type EmulatorRequest,
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

/**
 * Instagram API with Instagram Login (platform-apis.md 3.2): the authorize page whose callback code
 * ends in `#_`, the short-lived token in either documented shape (`{data:[...]}` or flat; a switch),
 * the long-lived exchange, `ig_refresh_token` (refused for tokens under 24 h old, measured on the
 * emulator's clock, which tests can move), and `/me`. No revocation endpoint exists.
 */
export interface InstagramEmulatorOptions extends EmulatorOptions {
  appId?: string;
  appSecret?: string;
  shortLivedSeconds?: number;
  longLivedSeconds?: number;
  /** Tokens younger than this cannot be refreshed (24 h). */
  minRefreshAgeSeconds?: number;
  /** The code exchange answer: `data` as documented, or `flat` as clients observe. */
  tokenShape?: TokenShape;
}

export type TokenShape = 'data' | 'flat';

export const INSTAGRAM_EMULATOR_APP = { id: '990000000000001', secret: 'emulator-instagram-secret' };

export interface InstagramUser {
  id: string;
  username: string;
  name: string;
  profilePictureUrl: string;
  accountType: 'BUSINESS' | 'MEDIA_CREATOR';
}

export interface InstagramEmulator {
  url: string;
  env: Record<string, string>;
  kit: Kit;
  stop(): Promise<void>;
}

interface Settings {
  shortSeconds: number;
  longSeconds: number;
  minRefreshAgeSeconds: number;
  shape: TokenShape;
  user: InstagramUser;
  grantScopes: string[] | null;
}

const defaultUser = (): InstagramUser => ({
  id: '17841400000000099',
  username: 'emulated.creator',
  name: 'Emulated Creator',
  profilePictureUrl: 'https://scontent.cdninstagram.example/emulated.jpg',
  accountType: 'MEDIA_CREATOR',
});

export async function startInstagramEmulator(options: InstagramEmulatorOptions = {}): Promise<InstagramEmulator> {
  const appId = options.appId ?? INSTAGRAM_EMULATOR_APP.id;
  const appSecret = options.appSecret ?? INSTAGRAM_EMULATOR_APP.secret;
  const initial = (): Settings => ({
    shortSeconds: options.shortLivedSeconds ?? 3600,
    longSeconds: options.longLivedSeconds ?? 5_184_000,
    minRefreshAgeSeconds: options.minRefreshAgeSeconds ?? 24 * 3600,
    shape: options.tokenShape ?? 'data',
    user: defaultUser(),
    grantScopes: null,
  });
  let settings = initial();

  const server = await startEmulatorServer(options, {
    raw: publishingHook(createInstagramPublishing('instagram-login'), { kinds: ['long'], prefix: 'IGQVJlong' }),
    reset: () => {
      settings = initial();
    },
    api(req, kit) {
      const path = req.path.replace(/^\/v\d+\.\d+(?=\/)/, '');
      if (req.method === 'GET' && req.path === '/oauth/authorize') return authorize(req, kit);
      if (req.path === '/oauth/access_token') return shortLived(req, kit);
      if (req.method === 'GET' && path === '/access_token') return longLived(req, kit);
      if (req.method === 'GET' && path === '/refresh_access_token') return refresh(req, kit);
      if (req.method === 'GET' && path === '/me') return me(req, kit);
      kit.violate(req.path, 'unknown endpoint');
      return graphError(400, `Unknown path components: ${req.path}`, 'IGApiException', 100);
    },
    control(method, path, body) {
      const route = `${method} ${path}`;
      if (route === 'POST /__control/consent') {
        if (isRecord(body.user)) settings.user = { ...settings.user, ...(body.user as Partial<InstagramUser>) };
        if (Array.isArray(body.scopes)) settings.grantScopes = body.scopes.filter((s) => typeof s === 'string');
        if (body.scopes === null) settings.grantScopes = null;
        return { status: 204 };
      }
      if (route === 'POST /__control/token-shape') {
        if (body.shape !== 'data' && body.shape !== 'flat')
          return json(400, { error: 'shape must be "data" or "flat"' });
        settings.shape = body.shape;
        return { status: 204 };
      }
      if (route === 'POST /__control/lifetimes') {
        const values = {
          shortLivedSeconds: positiveSeconds(body.shortLivedSeconds, 'shortLivedSeconds'),
          longLivedSeconds: positiveSeconds(body.longLivedSeconds, 'longLivedSeconds'),
          minRefreshAgeSeconds: positiveSeconds(body.minRefreshAgeSeconds, 'minRefreshAgeSeconds'),
        };
        for (const v of Object.values(values)) if (typeof v === 'string') return json(400, { error: v });
        if (typeof values.shortLivedSeconds === 'number') settings.shortSeconds = values.shortLivedSeconds;
        if (typeof values.longLivedSeconds === 'number') settings.longSeconds = values.longLivedSeconds;
        if (typeof values.minRefreshAgeSeconds === 'number')
          settings.minRefreshAgeSeconds = values.minRefreshAgeSeconds;
        return { status: 204 };
      }
      if (route === 'POST /__control/deauthorize') {
        return json(200, { revokedTokens: revokeUser(server.kit, settings.user.id) });
      }
      return undefined;
    },
  });

  function authorize(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'oauth/authorize';
    const q = req.query;
    missingFields(kit, endpoint, q, ['client_id', 'redirect_uri', 'response_type', 'scope', 'state']);
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== appId) return page(400, 'Invalid app ID');
    if (!validRedirectUri(redirectUri)) return page(400, 'Invalid redirect_uri');
    if (q.get('response_type') !== 'code') return page(400, 'Invalid response_type');
    const state = q.get('state') ?? undefined;
    if (kit.takeFault('authorize', ['deny_consent'])) {
      return redirect(
        callbackUrl(redirectUri, {
          error: 'access_denied',
          error_reason: 'user_denied',
          error_description: 'The user denied your request',
          state,
        }),
      );
    }
    const asked = (q.get('scope') ?? '').split(/[,\s]+/).filter((s) => s !== '');
    const granted = settings.grantScopes ? asked.filter((s) => settings.grantScopes?.includes(s)) : asked;
    const code = kit.issueCode({ redirectUri, granted, user: { ...settings.user } }, 'AQB');
    // Instagram appends `#_` to the callback (3.2).
    return redirect(callbackUrl(redirectUri, { code, state }, '#_'));
  }

  function shortLived(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'oauth/access_token';
    const flatError = (message: string, status = 400) =>
      json(status, { error_type: 'OAuthException', code: status, error_message: message });
    if (!requireForm(kit, endpoint, req)) return flatError('Invalid content type');
    const form = req.form as URLSearchParams;
    const required = ['client_id', 'client_secret', 'grant_type', 'redirect_uri', 'code'];
    if (missingFields(kit, endpoint, form, required).length > 0) return flatError('Missing required parameter');
    if (form.get('client_id') !== appId || form.get('client_secret') !== appSecret) {
      return flatError('Invalid platform app');
    }
    if (form.get('grant_type') !== 'authorization_code') return flatError('Invalid grant_type');
    const fault = kit.takeFault('token', ['server_error', 'rate_limit']);
    if (fault)
      return flatError(
        fault.kind === 'rate_limit' ? 'Too many requests' : 'Internal error',
        fault.kind === 'rate_limit' ? 429 : 500,
      );
    const code = form.get('code') ?? '';
    if (code.endsWith('#_')) kit.violate(endpoint, 'code sent with the trailing #_');
    const redeemed = kit.redeemCode(endpoint, code);
    if (!redeemed.ok) return flatError('Matching code was not found or was already used');
    if (redeemed.data.redirectUri !== form.get('redirect_uri')) {
      kit.violate(endpoint, 'redirect_uri differs from the one the code was issued for');
      return flatError('Error validating verification code. Please make sure your redirect_uri is identical');
    }
    const user = redeemed.data.user as InstagramUser;
    const granted = redeemed.data.granted as string[];
    const grantId = `grant-${randomBytes(6).toString('hex')}`;
    const token = kit.issueToken('short', grantId, settings.shortSeconds, 'IGQVJshort', { user, granted });
    const entry = { access_token: token.token, user_id: user.id, permissions: granted.join(',') };
    return json(200, settings.shape === 'data' ? { data: [entry] } : entry);
  }

  function longLived(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'access_token';
    const q = req.query;
    if (missingFields(kit, endpoint, q, ['grant_type', 'client_secret', 'access_token']).length > 0) {
      return graphError(400, 'Missing required parameter', 'OAuthException', 100);
    }
    if (q.get('grant_type') !== 'ig_exchange_token')
      return graphError(400, 'Unsupported grant_type', 'OAuthException', 100);
    if (q.get('client_secret') !== appSecret)
      return graphError(400, 'Error validating client secret.', 'OAuthException', 101);
    const fault = kit.takeFault('token', ['server_error', 'rate_limit']);
    if (fault) return faultAnswer(fault.kind);
    const checked = kit.check(q.get('access_token'), ['short']);
    if (!checked.ok) return tokenError(checked.why);
    const long = kit.issueToken('long', checked.record.grantId, settings.longSeconds, 'IGQVJlong', checked.record.data);
    return json(200, { access_token: long.token, token_type: 'bearer', expires_in: settings.longSeconds });
  }

  function refresh(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'refresh_access_token';
    const q = req.query;
    if (missingFields(kit, endpoint, q, ['grant_type', 'access_token']).length > 0) {
      return graphError(400, 'Missing required parameter', 'OAuthException', 100);
    }
    if (q.get('grant_type') !== 'ig_refresh_token')
      return graphError(400, 'Unsupported grant_type', 'OAuthException', 100);
    const fault = kit.takeFault('refresh', ['server_error', 'rate_limit', 'invalid_grant']);
    const checked = kit.check(q.get('access_token'), ['long']);
    if (fault?.kind === 'invalid_grant' && checked.ok) {
      kit.revokeGrant(checked.record.grantId);
      return tokenError('revoked');
    }
    if (fault) return faultAnswer(fault.kind);
    if (!checked.ok) return tokenError(checked.why);
    const ageSeconds = (kit.now() - checked.record.issuedAtMs) / 1000;
    if (ageSeconds < settings.minRefreshAgeSeconds) {
      kit.violate(endpoint, 'refresh of a token under 24 hours old');
      return graphError(400, 'The access token must be at least 24 hours old to be refreshed.', 'IGApiException', 100);
    }
    const fresh = kit.issueToken(
      'long',
      checked.record.grantId,
      settings.longSeconds,
      'IGQVJlong',
      checked.record.data,
    );
    return json(200, { access_token: fresh.token, token_type: 'bearer', expires_in: settings.longSeconds });
  }

  function me(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'me';
    if (req.query.get('access_token') && req.bearer) kit.violate(endpoint, 'access token sent twice');
    const token = req.bearer ?? req.query.get('access_token');
    if (!token) {
      kit.violate(endpoint, 'no access token');
      return graphError(400, 'An active access token must be used.', 'OAuthException', 2500);
    }
    const fault = kit.takeFault('profile', ['server_error', 'rate_limit', 'invalid_grant']);
    const checked = kit.check(token, ['short', 'long']);
    if (fault?.kind === 'invalid_grant' && checked.ok) {
      kit.revokeGrant(checked.record.grantId);
      return tokenError('revoked');
    }
    if (fault) return faultAnswer(fault.kind);
    if (!checked.ok) return tokenError(checked.why);
    const user = checked.record.data.user as InstagramUser;
    const all: Record<string, unknown> = {
      id: user.id,
      user_id: user.id,
      username: user.username,
      name: user.name,
      profile_picture_url: user.profilePictureUrl,
      account_type: user.accountType,
      followers_count: 0,
      media_count: 0,
    };
    const fields = (req.query.get('fields') ?? 'id,username').split(',').filter((f) => f in all);
    return json(200, Object.fromEntries([['id', user.id], ...fields.map((f) => [f, all[f]])]));
  }

  return {
    url: server.url,
    env: {
      INSTAGRAM_APP_ID: appId,
      INSTAGRAM_APP_SECRET: appSecret,
      INSTAGRAM_AUTH_URL: server.url,
      INSTAGRAM_API_URL: server.url,
      INSTAGRAM_GRAPH_URL: server.url,
    },
    kit: server.kit,
    stop: server.stop,
  };
}

function revokeUser(kit: Kit, userId: string): number {
  const grants = new Set(
    [...kit.tokens.values()]
      .filter((t) => (t.data.user as InstagramUser | undefined)?.id === userId)
      .map((t) => t.grantId),
  );
  let revoked = 0;
  for (const grant of grants) revoked += kit.revokeGrant(grant);
  return revoked;
}

function page(status: number, message: string): Answer {
  return { status, body: `<!doctype html><title>Instagram (emulator)</title><p>${message}</p>` };
}
