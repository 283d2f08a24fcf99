import {
  type AccountRef,
  type ConnectedAccount,
  type Connector,
  ConnectorError,
  type Credentials,
  DAY_MS,
  expiryFrom,
  HOUR_MS,
  type Profile,
  parseStandardCallback,
  refreshTime,
  splitScopes,
} from '../connector.js';
import { createMetaLogin, graphError, type MetaAppSettings, missingPermissions } from '../facebook/graph.js';
import { type ConnectorDeps, createHttp, isRecord, type PlatformResponse, text } from '../http.js';

export interface InstagramSettings {
  appId: string;
  appSecret: string;
  /** https://www.instagram.com */
  authUrl: string;
  /** https://api.instagram.com */
  apiUrl: string;
  /** https://graph.instagram.com */
  graphUrl: string;
  /** Graph API version for graph.instagram.com paths, e.g. v26.0. */
  version: string;
}

const LOGIN_SCOPES = ['instagram_business_basic', 'instagram_business_content_publish'];
const FACEBOOK_SCOPES = [
  'instagram_basic',
  'instagram_content_publish',
  'pages_show_list',
  'pages_read_engagement',
  'business_management',
];
// 3.1: publishing through a Page needs pages_read_engagement too.
const FACEBOOK_REQUIRED = ['instagram_basic', 'instagram_content_publish', 'pages_show_list', 'pages_read_engagement'];
const COMMA_OR_SPACE = /[,\s]+/;
/** Instagram refuses to refresh a token under 24 hours old (3.2). */
const MIN_REFRESH_AGE_MS = 24 * HOUR_MS;
const CHECK_EVERY_MS = DAY_MS;

/**
 * Instagram professional accounts, two ways (platform-apis.md 3.1-3.3): Instagram Login (short-lived
 * -> long-lived token, refreshed by `ig_refresh_token`), or `{ via: 'facebook' }`: Facebook Login
 * and the `instagram_business_account` of a Page, with that Page's token (no refresh).
 */
export function createInstagramConnector(
  settings: InstagramSettings,
  facebook: MetaAppSettings | null,
  deps: ConnectorDeps = {},
): Connector {
  const send = createHttp(deps);
  const now = deps.now ?? (() => new Date());
  const meta = facebook ? createMetaLogin('instagram', facebook, deps) : null;

  function requireMeta() {
    if (!meta) {
      throw new ConnectorError(
        'instagram',
        'rejected',
        'Instagram through a Facebook Page needs the Facebook app (FACEBOOK_APP_ID and FACEBOOK_APP_SECRET); it is not configured.',
      );
    }
    return meta;
  }

  async function graphGet(
    what: string,
    path: string,
    query: Record<string, string>,
    secrets: string[],
    phase: 'exchange' | 'use',
  ) {
    const response = await send({
      platform: 'instagram',
      what,
      method: 'GET',
      url: `${settings.graphUrl}/${path}`,
      query,
      secrets: [settings.appSecret, ...secrets],
    });
    if (response.status !== 200 || !isRecord(response.body) || isRecord(response.body.error)) {
      throw graphError('instagram', what, response, phase);
    }
    return response.body;
  }

  async function readLoginProfile(accessToken: string, phase: 'exchange' | 'use'): Promise<Profile> {
    const response = await send({
      platform: 'instagram',
      what: 'profile request',
      method: 'GET',
      url: `${settings.graphUrl}/${settings.version}/me`,
      query: { fields: 'user_id,username,name,profile_picture_url', access_token: accessToken },
      secrets: [accessToken, settings.appSecret],
    });
    if (response.status !== 200 || !isRecord(response.body) || isRecord(response.body.error)) {
      throw graphError('instagram', 'profile request', response, phase);
    }
    return profileFrom(response.body);
  }

  async function longLivedToken(body: Record<string, unknown>, issuedAt: Date) {
    const accessToken = text(body.access_token);
    if (!accessToken) throw new ConnectorError('instagram', 'transient', 'Instagram answered without an access token.');
    return {
      accessToken,
      expiresAt: expiryFrom(issuedAt, body.expires_in) ?? new Date(issuedAt.getTime() + 60 * DAY_MS),
    };
  }

  async function exchangeLogin(code: string, redirectUri: string) {
    const response = await send({
      platform: 'instagram',
      what: 'token exchange',
      method: 'POST',
      url: `${settings.apiUrl}/oauth/access_token`,
      form: {
        client_id: settings.appId,
        client_secret: settings.appSecret,
        grant_type: 'authorization_code',
        redirect_uri: redirectUri,
        code,
      },
      secrets: [settings.appSecret, code],
    });
    const short = shortLivedToken(response);
    const permissions = splitScopes(short.permissions, COMMA_OR_SPACE);
    // An answer without `permissions` says nothing either way; the publish step will find out.
    const refused = permissions.length > 0 ? missingPermissions('instagram', permissions, LOGIN_SCOPES) : null;
    if (refused) throw refused;
    const issuedAt = now();
    const long = await longLivedToken(
      await graphGet(
        'long-lived token exchange',
        'access_token',
        { grant_type: 'ig_exchange_token', client_secret: settings.appSecret, access_token: short.accessToken },
        [short.accessToken],
        'exchange',
      ),
      issuedAt,
    );
    const profile = await readLoginProfile(long.accessToken, 'exchange');
    const account: ConnectedAccount = {
      profile,
      credentials: {
        accessToken: long.accessToken,
        accessTokenExpiresAt: long.expiresAt,
        refreshToken: null,
        refreshTokenExpiresAt: null,
        userToken: null,
        userTokenExpiresAt: null,
        scopes: permissions,
        issuedAt,
      },
      via: null,
      grantKey: `instagram:${profile.platformAccountId}`,
    };
    return { accounts: [account], mustChoose: false };
  }

  async function exchangeFacebook(code: string, redirectUri: string) {
    const login = requireMeta();
    const grant = await login.userGrant(code, redirectUri);
    const refused = missingPermissions('instagram', grant.permissions, FACEBOOK_REQUIRED);
    if (refused) {
      await login.revokeGrant(grant.userToken).catch(() => undefined);
      throw refused;
    }
    const pages = (await login.pages(grant.userToken, ['instagram_business_account'])).filter(
      (page) => page.instagramAccountId !== null,
    );
    const accounts: ConnectedAccount[] = [];
    for (const page of pages) {
      const profile = await readBusinessAccount(page.instagramAccountId as string, page.accessToken, 'exchange');
      accounts.push({
        profile,
        credentials: {
          accessToken: page.accessToken,
          accessTokenExpiresAt: null,
          refreshToken: null,
          refreshTokenExpiresAt: null,
          userToken: grant.userToken,
          userTokenExpiresAt: grant.userTokenExpiresAt,
          scopes: grant.permissions,
          issuedAt: grant.issuedAt,
        },
        via: 'facebook',
        grantKey: `facebook:${grant.userId}`,
      });
    }
    if (accounts.length === 0) {
      await login.revokeGrant(grant.userToken).catch(() => undefined);
      throw new ConnectorError(
        'instagram',
        'denied',
        'None of the shared Facebook Pages has an Instagram professional account linked. Link one in the Page settings (or use Instagram Login), then connect again.',
      );
    }
    return { accounts, mustChoose: true };
  }

  async function readBusinessAccount(igUserId: string, pageToken: string, phase: 'exchange' | 'use'): Promise<Profile> {
    const body = await requireMeta().graphGet(
      'Instagram account request',
      igUserId,
      { fields: 'id,username,name,profile_picture_url' },
      [],
      phase,
      pageToken,
    );
    return profileFrom({ ...body, user_id: body.id ?? igUserId });
  }

  return {
    platform: 'instagram',
    scopes: (via) => (via === 'facebook' ? [...FACEBOOK_SCOPES] : [...LOGIN_SCOPES]),
    buildAuthorizeUrl({ state, redirectUri, via }) {
      if (via === 'facebook') {
        return { url: requireMeta().authorizeUrl(FACEBOOK_SCOPES, state, redirectUri), codeVerifier: null };
      }
      const url = new URL(`${settings.authUrl}/oauth/authorize`);
      url.searchParams.set('client_id', settings.appId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('scope', LOGIN_SCOPES.join(','));
      url.searchParams.set('state', state);
      return { url: url.toString(), codeVerifier: null };
    },
    parseCallback: (query) => parseStandardCallback('instagram', query, COMMA_OR_SPACE),
    exchangeCode: ({ code, redirectUri, via }) =>
      via === 'facebook' ? exchangeFacebook(code, redirectUri) : exchangeLogin(code, redirectUri),
    async refresh(account, credentials) {
      if (account.via === 'facebook') {
        throw new ConnectorError(
          'instagram',
          'rejected',
          'Instagram accounts connected through a Facebook Page use the Page token, which cannot be refreshed.',
        );
      }
      const at = now();
      // Too young to refresh, and valid for weeks: nothing to do.
      if (at.getTime() - credentials.issuedAt.getTime() < MIN_REFRESH_AGE_MS) return credentials;
      const long = await longLivedToken(
        await graphGet(
          'token refresh',
          'refresh_access_token',
          { grant_type: 'ig_refresh_token', access_token: credentials.accessToken },
          [credentials.accessToken],
          'use',
        ),
        at,
      );
      return { ...credentials, accessToken: long.accessToken, accessTokenExpiresAt: long.expiresAt, issuedAt: at };
    },
    readProfile: (account, credentials) =>
      account.via === 'facebook'
        ? readBusinessAccount(account.platformAccountId, credentials.accessToken, 'use')
        : readLoginProfile(credentials.accessToken, 'use'),
    async revoke(account, credentials) {
      // Instagram Login offers no revocation endpoint (3.2): the person removes the app in Instagram.
      if (account.via !== 'facebook') return 'not_offered';
      return requireMeta().revokeGrant(credentials.userToken);
    },
    renewalPlan(account: AccountRef, credentials: Credentials, at: Date) {
      if (account.via === 'facebook' || !credentials.accessTokenExpiresAt) {
        return { action: 'check', at: new Date(at.getTime() + CHECK_EVERY_MS) };
      }
      const notBefore = new Date(credentials.issuedAt.getTime() + MIN_REFRESH_AGE_MS + HOUR_MS);
      return {
        action: 'refresh',
        at: refreshTime(at, credentials.issuedAt, credentials.accessTokenExpiresAt, 7 * DAY_MS, notBefore),
      };
    },
  };
}

/**
 * The code exchange answer, documented as `{data: [{access_token, user_id, permissions}]}` and seen
 * flat in practice (platform-apis.md section 5): both are accepted.
 */
function shortLivedToken(response: PlatformResponse): {
  accessToken: string;
  userId: string | null;
  permissions: string;
} {
  const body = isRecord(response.body) ? response.body : {};
  const entry = Array.isArray(body.data) ? body.data.find(isRecord) : body;
  const accessToken = text(entry?.access_token);
  if (response.status !== 200 || !entry || !accessToken) {
    if (response.status === 200 && !text(body.error_message) && !isRecord(body.error)) {
      throw new ConnectorError(
        'instagram',
        'transient',
        'Instagram answered the token exchange without an access token.',
      );
    }
    throw graphError('instagram', 'token exchange', response, 'exchange');
  }
  const permissions = Array.isArray(entry.permissions)
    ? entry.permissions.filter((p): p is string => typeof p === 'string').join(',')
    : (text(entry.permissions) ?? '');
  return { accessToken, userId: text(entry.user_id) ?? null, permissions };
}

function profileFrom(body: Record<string, unknown>): Profile {
  const id = text(body.user_id) ?? text(body.id);
  if (!id) throw new ConnectorError('instagram', 'transient', 'Instagram answered the profile request without an id.');
  const username = text(body.username);
  return {
    platformAccountId: id,
    displayName: username ? `@${username}` : (text(body.name) ?? id),
    avatarUrl: text(body.profile_picture_url) ?? null,
  };
}
