import { randomBytes } from 'node:crypto';
import { signMetaRequest } from '../platforms/webhook-signatures.js';
import { createFacebookPublishing } from './facebook-publishing.js';
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
  startEmulatorServer,
  type TokenRecord,
  validRedirectUri,
} from './oauth-kit.js';
import { combine, publishingHook } from './publishing-kit.js';

/**
 * Facebook Login and the Graph calls a Pages connection needs (platform-apis.md 4.1, 4.8, 3.3): the
 * dialog, code -> short-lived -> long-lived user token, `/me/accounts` with Page tokens (paged), the
 * Instagram business account behind a Page, `/me/permissions` and its DELETE, all with Graph's error
 * shape. Page tokens from a long-lived user token never expire by time; revoking the grant ends them.
 */
export interface FacebookEmulatorOptions extends EmulatorOptions {
  appId?: string;
  appSecret?: string;
  /** Short-lived user tokens "expire in hours": default 2 h. */
  shortLivedSeconds?: number;
  /** Long-lived user tokens: about 60 days. */
  longLivedSeconds?: number;
  /** Pages per `/me/accounts` answer (small by default, so clients must follow the paging). */
  pageSize?: number;
  /** Where deauthorisations are announced with a signed_request. */
  deauthorizeCallbackUrl?: string;
}

export const FACEBOOK_EMULATOR_APP = { id: '100000000000001', secret: 'emulator-facebook-secret' };
export const FACEBOOK_EMULATOR_VERSION = 'v26.0';

export interface EmulatedInstagramAccount {
  id: string;
  username: string;
  name: string;
  profilePictureUrl: string;
}

export interface EmulatedPage {
  id: string;
  name: string;
  category: string;
  tasks: string[];
  pictureUrl: string;
  instagram: EmulatedInstagramAccount | null;
}

export interface EmulatedFacebookUser {
  id: string;
  name: string;
  pictureUrl: string;
  pages: EmulatedPage[];
}

export interface FacebookEmulator {
  url: string;
  env: Record<string, string>;
  kit: Kit;
  stop(): Promise<void>;
}

interface Settings {
  shortSeconds: number;
  longSeconds: number;
  pageSize: number;
  user: EmulatedFacebookUser;
  /** Permissions the next consent grants (of those asked); null = all asked. */
  grantPermissions: string[] | null;
  deauthorizeCallbackUrl: string | undefined;
}

export function defaultFacebookUser(): EmulatedFacebookUser {
  return {
    id: '900000000000001',
    name: 'Emulated Page Admin',
    pictureUrl: 'https://scontent.example/emulated-user.jpg',
    pages: [
      {
        id: '500000000000001',
        name: 'Emulated Bakery',
        category: 'Bakery',
        tasks: ['ANALYZE', 'ADVERTISE', 'MODERATE', 'CREATE_CONTENT', 'MANAGE'],
        pictureUrl: 'https://scontent.example/bakery.jpg',
        instagram: {
          id: '17841400000000001',
          username: 'emulated.bakery',
          name: 'Emulated Bakery',
          profilePictureUrl: 'https://scontent.example/bakery-ig.jpg',
        },
      },
      {
        id: '500000000000002',
        name: 'Emulated Bookshop',
        category: 'Book Store',
        tasks: ['CREATE_CONTENT', 'MODERATE'],
        pictureUrl: 'https://scontent.example/bookshop.jpg',
        instagram: null,
      },
      {
        id: '500000000000003',
        name: 'Emulated Analytics Only',
        category: 'Company',
        tasks: ['ANALYZE'],
        pictureUrl: 'https://scontent.example/analytics.jpg',
        instagram: null,
      },
    ],
  };
}

const VERSIONED = /^\/(v\d+\.\d+)(\/.*)$/;

export async function startFacebookEmulator(options: FacebookEmulatorOptions = {}): Promise<FacebookEmulator> {
  const appId = options.appId ?? FACEBOOK_EMULATOR_APP.id;
  const appSecret = options.appSecret ?? FACEBOOK_EMULATOR_APP.secret;
  const initial = (): Settings => ({
    shortSeconds: options.shortLivedSeconds ?? 2 * 3600,
    longSeconds: options.longLivedSeconds ?? 5_183_976,
    pageSize: options.pageSize ?? 2,
    user: defaultFacebookUser(),
    grantPermissions: null,
    deauthorizeCallbackUrl: options.deauthorizeCallbackUrl,
  });
  let settings = initial();

  const server = await startEmulatorServer(options, {
    raw: publishingHook(combine(createFacebookPublishing(), createInstagramPublishing('facebook-login')), {
      kinds: ['page', 'user'],
      prefix: 'EAAP',
    }),
    reset: () => {
      settings = initial();
    },
    api(req, kit) {
      const match = VERSIONED.exec(req.path);
      const path = match?.[2] ?? req.path;
      if (req.method === 'GET' && path === '/dialog/oauth') return dialog(req, kit);
      if (path === '/oauth/access_token') return accessToken(req, kit);
      return graph(req, path, kit);
    },
    async control(method, path, body, kit) {
      const route = `${method} ${path}`;
      if (route === 'POST /__control/consent') {
        if (isRecord(body.user)) settings.user = { ...settings.user, ...(body.user as Partial<EmulatedFacebookUser>) };
        if (Array.isArray(body.permissions)) {
          settings.grantPermissions = body.permissions.filter((p) => typeof p === 'string');
        }
        if (body.permissions === null) settings.grantPermissions = null;
        return { status: 204 };
      }
      if (route === 'POST /__control/lifetimes') {
        const short = positiveSeconds(body.shortLivedSeconds, 'shortLivedSeconds');
        const long = positiveSeconds(body.longLivedSeconds, 'longLivedSeconds');
        for (const v of [short, long]) if (typeof v === 'string') return json(400, { error: v });
        if (typeof short === 'number') settings.shortSeconds = short;
        if (typeof long === 'number') settings.longSeconds = long;
        return { status: 204 };
      }
      if (route === 'POST /__control/page-size') {
        const size = body.size;
        if (typeof size !== 'number' || !Number.isInteger(size) || size < 1)
          return json(400, { error: 'size must be ≥ 1' });
        settings.pageSize = size;
        return { status: 204 };
      }
      if (route === 'POST /__control/deauthorize') return deauthorize(body, kit);
      return undefined;
    },
  });

  function dialog(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'dialog/oauth';
    const q = req.query;
    missingFields(kit, endpoint, q, ['client_id', 'redirect_uri', 'state', 'scope']);
    const scope = q.get('scope') ?? '';
    if (/\s/.test(scope.trim())) kit.violate(endpoint, 'scopes separated by spaces instead of commas');
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== appId) return page(400, 'Invalid App ID');
    if (!validRedirectUri(redirectUri))
      return page(400, 'URL blocked: this redirect failed because the redirect URI is not whitelisted');
    const state = q.get('state') ?? undefined;
    if (kit.takeFault('authorize', ['deny_consent'])) {
      return redirect(
        callbackUrl(redirectUri, {
          error_reason: 'user_denied',
          error: 'access_denied',
          error_description: 'Permissions error',
          state,
        }),
      );
    }
    const asked = scope.split(/[,\s]+/).filter((s) => s !== '');
    const granted = settings.grantPermissions ? asked.filter((p) => settings.grantPermissions?.includes(p)) : asked;
    const code = kit.issueCode({ redirectUri, asked, granted, user: structuredClone(settings.user) }, 'AQ');
    return redirect(callbackUrl(redirectUri, { code, state }, '#_=_'));
  }

  function accessToken(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'oauth/access_token';
    const params = req.form ?? req.query;
    if (missingFields(kit, endpoint, params, ['client_id', 'client_secret']).length > 0) {
      return graphError(400, 'Missing client_id or client_secret parameter.', 'OAuthException', 101);
    }
    if (params.get('client_id') !== appId || params.get('client_secret') !== appSecret) {
      return graphError(400, 'Error validating client secret.', 'OAuthException', 101);
    }
    const fault = kit.takeFault('token', ['server_error', 'rate_limit']);
    if (fault) return faultAnswer(fault.kind);
    if (params.get('grant_type') === 'fb_exchange_token') {
      const checked = kit.check(params.get('fb_exchange_token'), ['user']);
      if (!checked.ok) return tokenError(checked.why);
      const long = kit.issueToken('user', checked.record.grantId, settings.longSeconds, 'EAAL', {
        ...checked.record.data,
        longLived: true,
      });
      return json(200, { access_token: long.token, token_type: 'bearer', expires_in: settings.longSeconds });
    }
    if (missingFields(kit, endpoint, params, ['redirect_uri', 'code']).length > 0) {
      return graphError(400, 'Missing redirect_uri or code parameter.', 'OAuthException', 100);
    }
    const redeemed = kit.redeemCode(endpoint, params.get('code'));
    if (!redeemed.ok) {
      return graphError(
        400,
        redeemed.why === 'code already used'
          ? 'This authorization code has been used.'
          : 'Invalid verification code format.',
        'OAuthException',
        100,
        36009,
      );
    }
    if (redeemed.data.redirectUri !== params.get('redirect_uri')) {
      kit.violate(endpoint, 'redirect_uri differs from the one the code was issued for');
      return graphError(
        400,
        'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request',
        'OAuthException',
        100,
        36008,
      );
    }
    const grantId = `grant-${randomBytes(6).toString('hex')}`;
    const data = {
      user: redeemed.data.user,
      granted: redeemed.data.granted,
      asked: redeemed.data.asked,
      longLived: false,
    };
    const short = kit.issueToken('user', grantId, settings.shortSeconds, 'EAAS', data);
    return json(200, { access_token: short.token, token_type: 'bearer', expires_in: settings.shortSeconds });
  }

  function graph(req: EmulatorRequest, path: string, kit: Kit): Answer {
    const endpoint = path.replace(/\/\d+/g, '/{id}');
    if (req.query.get('access_token') && req.bearer) kit.violate(endpoint, 'access token sent twice');
    const token = req.bearer ?? req.query.get('access_token');
    if (!token) {
      kit.violate(endpoint, 'no access token');
      return graphError(
        400,
        'An active access token must be used to query information about the current user.',
        'OAuthException',
        2500,
      );
    }
    const fault = kit.takeFault('profile', ['server_error', 'rate_limit', 'invalid_grant']);
    const checked = kit.check(token, ['user', 'page']);
    if (fault?.kind === 'invalid_grant' && checked.ok) kit.revokeGrant(checked.record.grantId);
    else if (fault) return faultAnswer(fault.kind);
    const recheck = kit.check(token, ['user', 'page']);
    if (!recheck.ok) return tokenError(recheck.why);
    const record = recheck.record;
    const user = record.data.user as EmulatedFacebookUser;
    const fields = (req.query.get('fields') ?? '').split(',').filter((f) => f !== '');

    if (path === '/me/permissions' || new RegExp(`^/${user.id}/permissions$`).test(path)) {
      if (record.kind !== 'user') return graphError(400, '(#200) Requires a user access token', 'OAuthException', 200);
      if (req.method === 'DELETE') {
        kit.revokeGrant(record.grantId);
        return json(200, { success: true });
      }
      const granted = record.data.granted as string[];
      const asked = record.data.asked as string[];
      return json(200, {
        data: [
          ...granted.map((permission) => ({ permission, status: 'granted' })),
          ...asked.filter((p) => !granted.includes(p)).map((permission) => ({ permission, status: 'declined' })),
        ],
      });
    }
    if (req.method !== 'GET') return graphError(400, `Unsupported ${req.method} request.`, 'GraphMethodException', 100);
    if (path === '/me/accounts') {
      if (record.kind !== 'user') return graphError(400, '(#200) Requires a user access token', 'OAuthException', 200);
      if (!(record.data.granted as string[]).includes('pages_show_list')) {
        return graphError(
          403,
          '(#200) Requires pages_show_list permission to manage the object',
          'OAuthException',
          200,
        );
      }
      return accounts(req, record, kit, fields);
    }
    if (path === '/me') {
      if (record.kind === 'page') return json(200, pageObject(pageOf(user, record.data.pageId as string), fields));
      return json(
        200,
        pick({ id: user.id, name: user.name, picture: { data: { url: user.pictureUrl } } }, fields, ['id', 'name']),
      );
    }
    const id = /^\/(\d+)$/.exec(path)?.[1];
    if (id) {
      // A Page token reads its Page and the Instagram account behind it; a user token reads all of theirs.
      const pages = record.kind === 'page' ? [pageOf(user, record.data.pageId as string)] : user.pages;
      const pageHit = pages.find((p) => p.id === id);
      if (pageHit) return json(200, pageObject(pageHit, fields));
      const igHit = pages.find((p) => p.instagram?.id === id)?.instagram;
      if (igHit) {
        return json(
          200,
          pick(
            { id: igHit.id, username: igHit.username, name: igHit.name, profile_picture_url: igHit.profilePictureUrl },
            fields,
            ['id'],
          ),
        );
      }
      if (id === user.id) return json(200, pick({ id: user.id, name: user.name }, fields, ['id', 'name']));
      return graphError(
        400,
        `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
        'GraphMethodException',
        100,
        33,
      );
    }
    kit.violate(endpoint, `unknown Graph path ${path}`);
    return graphError(400, `Unknown path components: ${path}`, 'OAuthException', 2500);
  }

  function accounts(req: EmulatorRequest, record: TokenRecord, kit: Kit, fields: string[]): Answer {
    const user = record.data.user as EmulatedFacebookUser;
    const limit = Math.min(Number(req.query.get('limit') ?? 25) || 25, settings.pageSize);
    const after = req.query.get('after');
    const start = after ? Number(Buffer.from(after, 'base64url').toString()) : 0;
    const slice = user.pages.slice(start, start + limit);
    const data = slice.map((p) => {
      const full: Record<string, unknown> = {
        ...pageObject(
          p,
          fields.length > 0 ? fields.filter((f) => f !== 'access_token') : ['id', 'name', 'category', 'tasks'],
        ),
      };
      if (fields.length === 0 || fields.includes('access_token'))
        full.access_token = pageToken(kit, record, p.id).token;
      return full;
    });
    const end = start + slice.length;
    const cursor = (n: number) => Buffer.from(String(n)).toString('base64url');
    const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(end) } };
    if (end < user.pages.length) {
      const next = new URL(`${server.url}/${FACEBOOK_EMULATOR_VERSION}/me/accounts`);
      for (const [k, v] of req.query) if (k !== 'after') next.searchParams.set(k, v);
      next.searchParams.set('after', cursor(end));
      paging.next = next.toString();
    }
    return json(200, { data, paging });
  }

  /** One Page token per grant and Page; it lives as long as the user token unless that is long-lived. */
  function pageToken(kit: Kit, userRecord: TokenRecord, pageId: string): TokenRecord {
    for (const t of kit.tokens.values()) {
      if (t.kind === 'page' && t.grantId === userRecord.grantId && t.data.pageId === pageId && t.state === 'live') {
        if (!userRecord.data.longLived || t.expiresAtMs === null) return t;
      }
    }
    const lifetime =
      userRecord.data.longLived || userRecord.expiresAtMs === null
        ? null
        : Math.max(1, (userRecord.expiresAtMs - kit.now()) / 1000);
    return kit.issueToken('page', userRecord.grantId, lifetime, 'EAAP', { ...userRecord.data, pageId });
  }

  async function deauthorize(body: Record<string, unknown>, kit: Kit): Promise<Answer> {
    const userId = typeof body.userId === 'string' ? body.userId : settings.user.id;
    const grants = new Set(
      [...kit.tokens.values()]
        .filter((t) => (t.data.user as EmulatedFacebookUser | undefined)?.id === userId)
        .map((t) => t.grantId),
    );
    let revoked = 0;
    for (const grant of grants) revoked += kit.revokeGrant(grant);
    const target = typeof body.callbackUrl === 'string' ? body.callbackUrl : settings.deauthorizeCallbackUrl;
    let delivered: number | null = null;
    if (target) {
      const signed = signMetaRequest({ user_id: userId, issued_at: Math.floor(kit.now() / 1000) }, appSecret);
      const response = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ signed_request: signed }).toString(),
      });
      delivered = response.status;
    }
    return json(200, { revokedTokens: revoked, delivered });
  }

  return {
    url: server.url,
    env: {
      FACEBOOK_APP_ID: appId,
      FACEBOOK_APP_SECRET: appSecret,
      FACEBOOK_AUTH_URL: server.url,
      FACEBOOK_GRAPH_URL: server.url,
      // One emulator answers for Facebook's upload hosts too.
      FACEBOOK_GRAPH_VIDEO_URL: server.url,
      FACEBOOK_RUPLOAD_URL: server.url,
      FACEBOOK_GRAPH_VERSION: FACEBOOK_EMULATOR_VERSION,
    },
    kit: server.kit,
    stop: server.stop,
  };
}

function pageOf(user: EmulatedFacebookUser, pageId: string): EmulatedPage {
  const found = user.pages.find((p) => p.id === pageId);
  if (!found) throw new Error(`emulated page ${pageId} vanished`);
  return found;
}

function pageObject(p: EmulatedPage, fields: string[]): Record<string, unknown> {
  return pick(
    {
      id: p.id,
      name: p.name,
      category: p.category,
      tasks: p.tasks,
      picture: { data: { url: p.pictureUrl, is_silhouette: false } },
      ...(p.instagram ? { instagram_business_account: { id: p.instagram.id } } : {}),
    },
    fields,
    ['id', 'name'],
  );
}

/** Graph answers only the fields asked for (`id` always), or a default set when none are. */
function pick(object: Record<string, unknown>, fields: string[], defaults: string[]): Record<string, unknown> {
  const wanted = new Set(['id', ...(fields.length > 0 ? fields.map((f) => f.replace(/\..*$/, '')) : defaults)]);
  return Object.fromEntries(Object.entries(object).filter(([key]) => wanted.has(key)));
}

export function graphError(
  status: number,
  message: string,
  type: string,
  code: number,
  subcode?: number,
  isTransient?: boolean,
): Answer {
  return json(status, {
    error: {
      message,
      type,
      code,
      ...(subcode === undefined ? {} : { error_subcode: subcode }),
      ...(isTransient === undefined ? {} : { is_transient: isTransient }),
      fbtrace_id: randomBytes(8).toString('base64url'),
    },
  });
}

export function tokenError(why: 'unknown' | 'expired' | 'revoked' | 'rotated'): Answer {
  if (why === 'expired') {
    return graphError(400, 'Error validating access token: Session has expired.', 'OAuthException', 190, 463);
  }
  if (why === 'revoked' || why === 'rotated') {
    return graphError(
      400,
      'Error validating access token: The user has not authorized application.',
      'OAuthException',
      190,
      458,
    );
  }
  return graphError(400, 'Invalid OAuth access token - Cannot parse access token', 'OAuthException', 190);
}

export function faultAnswer(kind: string): Answer {
  if (kind === 'rate_limit') {
    return {
      ...graphError(403, '(#4) Application request limit reached', 'OAuthException', 4, undefined, true),
      headers: {},
    };
  }
  return graphError(
    500,
    'An unexpected error has occurred. Please retry your request later.',
    'OAuthException',
    2,
    undefined,
    true,
  );
}

function page(status: number, message: string): Answer {
  return { status, body: `<!doctype html><title>Facebook (emulator)</title><p>${message}</p>` };
}
