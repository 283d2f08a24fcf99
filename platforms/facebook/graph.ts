import { ConnectorError, DAY_MS, expiryFrom, PLATFORM_NAMES, type Platform, type RevokeOutcome } from '../connector.js';
import {
  type ConnectorDeps,
  createHttp,
  isRecord,
  type PlatformResponse,
  retryAfter,
  statusError,
  text,
} from '../http.js';

/** Graph error codes that mean "try again later" (platform-apis.md 4.8, 3.6). */
const TRANSIENT_CODES = new Set([1, 2, 4, 17, 32, 341, 368, 613, 80001, 80002]);
/** Token expired, revoked or invalid, or a permission withdrawn: only a new login helps. */
const GRANT_CODES = new Set([102, 190, 10]);

export type GraphPhase = 'exchange' | 'use';

/**
 * Classifies a Graph (or Instagram Graph) error answer. `exchange`: a refused code is a failed
 * attempt to connect (`rejected`), not a lost connection.
 */
export function graphError(
  platform: Platform,
  what: string,
  response: PlatformResponse,
  phase: GraphPhase,
): ConnectorError {
  const body = isRecord(response.body) ? response.body : {};
  const error = isRecord(body.error) ? body.error : undefined;
  const name = PLATFORM_NAMES[platform];
  if (!error) {
    // Instagram Login's token endpoint uses its own flat shape: {error_type, code, error_message}.
    const flatMessage = text(body.error_message);
    if (flatMessage) {
      return new ConnectorError(
        platform,
        phase === 'exchange' ? 'rejected' : 'needs_reconnect',
        `${name} refused the ${what}: ${short(flatMessage)}.`,
        {
          status: response.status,
          code: text(body.error_type),
        },
      );
    }
    return statusError(platform, what, response);
  }
  const code = typeof error.code === 'number' ? error.code : Number(error.code);
  const subcode = typeof error.error_subcode === 'number' ? error.error_subcode : undefined;
  const message = short(text(error.error_user_msg) ?? text(error.message) ?? 'no reason given');
  const details = {
    status: response.status,
    code: subcode === undefined ? String(code) : `${code}/${subcode}`,
    retryAfterSeconds: retryAfter(response.headers),
  };
  if (TRANSIENT_CODES.has(code) || error.is_transient === true || response.status >= 500) {
    return new ConnectorError(platform, 'transient', `${name} ${what} failed for now: ${message}`, details);
  }
  if (phase === 'exchange') {
    return new ConnectorError(platform, 'rejected', `${name} refused the ${what}: ${message} Connect again.`, details);
  }
  if (
    GRANT_CODES.has(code) ||
    (code >= 200 && code <= 299) ||
    (Number.isNaN(code) && error.type === 'OAuthException')
  ) {
    return new ConnectorError(
      platform,
      'needs_reconnect',
      `${name} no longer accepts this connection: ${message}`,
      details,
    );
  }
  return new ConnectorError(platform, 'rejected', `${name} refused the ${what}: ${message}`, details);
}

function short(message: string): string {
  const clean = message.replace(/\s+/g, ' ').trim().slice(0, 300);
  return /[.!?]$/.test(clean) ? clean : `${clean}.`;
}

export interface MetaAppSettings {
  appId: string;
  appSecret: string;
  /** https://www.facebook.com */
  authUrl: string;
  /** https://graph.facebook.com */
  graphUrl: string;
  /** v26.0 */
  version: string;
}

export interface UserGrant {
  userId: string;
  userToken: string;
  userTokenExpiresAt: Date | null;
  issuedAt: Date;
  /** Permissions with status "granted". */
  permissions: string[];
}

export interface PageEntry {
  id: string;
  name: string;
  accessToken: string;
  tasks: string[] | null;
  pictureUrl: string | null;
  instagramAccountId: string | null;
}

const PAGE_SIZE = '25';
/** A runaway `paging` loop stops here: nobody manages this many Pages through one login. */
const MAX_PAGES = 40;

/**
 * Facebook Login (platform-apis.md 4.1 and 3.3), shared by Facebook Pages and Instagram through a
 * Page: dialog, code -> short-lived user token -> long-lived user token -> Page tokens.
 */
export function createMetaLogin(platform: Platform, settings: MetaAppSettings, deps: ConnectorDeps = {}) {
  const send = createHttp(deps);
  const now = deps.now ?? (() => new Date());
  const base = `${settings.graphUrl}/${settings.version}`;

  async function get(
    what: string,
    path: string,
    query: Record<string, string | undefined>,
    secrets: (string | null)[],
    phase: GraphPhase = 'use',
    token?: string,
  ): Promise<Record<string, unknown>> {
    const response = await send({
      platform,
      what,
      method: 'GET',
      url: `${base}/${path}`,
      // The documented form (platform-apis.md 4.1); the URL never reaches a log or an error message.
      query: token ? { ...query, access_token: token } : query,
      secrets: [settings.appSecret, token, ...secrets],
    });
    if (response.status !== 200 || !isRecord(response.body) || isRecord(response.body.error)) {
      throw graphError(platform, what, response, phase);
    }
    return response.body;
  }

  return {
    graphGet: get,

    authorizeUrl(scopes: string[], state: string, redirectUri: string): string {
      const url = new URL(`${settings.authUrl}/${settings.version}/dialog/oauth`);
      url.searchParams.set('client_id', settings.appId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      url.searchParams.set('scope', scopes.join(','));
      url.searchParams.set('response_type', 'code');
      return url.toString();
    },

    /** Code -> short-lived -> long-lived user token, the user's id and granted permissions. */
    async userGrant(code: string, redirectUri: string): Promise<UserGrant> {
      const short = await get(
        'token exchange',
        'oauth/access_token',
        { client_id: settings.appId, redirect_uri: redirectUri, client_secret: settings.appSecret, code },
        [code],
        'exchange',
      );
      const shortToken = requireToken(platform, short);
      const issuedAt = now();
      const long = await get(
        'long-lived token exchange',
        'oauth/access_token',
        {
          grant_type: 'fb_exchange_token',
          client_id: settings.appId,
          client_secret: settings.appSecret,
          fb_exchange_token: shortToken,
        },
        [shortToken],
        'exchange',
      );
      const userToken = requireToken(platform, long);
      const me = await get('profile request', 'me', { fields: 'id,name' }, [shortToken], 'exchange', userToken);
      const userId = text(me.id);
      if (!userId)
        throw new ConnectorError(platform, 'transient', `${PLATFORM_NAMES[platform]} answered /me without an id.`);
      const granted = await get('permission check', 'me/permissions', {}, [shortToken], 'exchange', userToken);
      const permissions = (Array.isArray(granted.data) ? granted.data : [])
        .filter(isRecord)
        .filter((p) => p.status === 'granted')
        .map((p) => text(p.permission))
        .filter((p): p is string => p !== undefined);
      // "generally lasts about 60 days" when the answer leaves expires_in out.
      const userTokenExpiresAt = expiryFrom(issuedAt, long.expires_in) ?? new Date(issuedAt.getTime() + 60 * DAY_MS);
      return { userId, userToken, userTokenExpiresAt, issuedAt, permissions };
    },

    /** Every Page the user manages, following `paging.cursors.after` while `paging.next` is given. */
    async pages(userToken: string, extraFields: string[] = []): Promise<PageEntry[]> {
      const fields = ['id', 'name', 'access_token', 'category', 'tasks', 'picture', ...extraFields].join(',');
      const entries: PageEntry[] = [];
      let after: string | undefined;
      for (let round = 0; round < MAX_PAGES; round++) {
        const body = await get(
          'Page list request',
          'me/accounts',
          { fields, limit: PAGE_SIZE, after },
          [],
          'exchange',
          userToken,
        );
        for (const page of (Array.isArray(body.data) ? body.data : []).filter(isRecord)) {
          const entry = pageEntry(page);
          if (entry) entries.push(entry);
        }
        const paging = isRecord(body.paging) ? body.paging : {};
        const cursors = isRecord(paging.cursors) ? paging.cursors : {};
        after = text(cursors.after);
        if (!text(paging.next) || !after) break;
      }
      return entries;
    },

    /** DELETE /me/permissions with the user token: ends the whole grant, every Page token included. */
    async revokeGrant(userToken: string | null): Promise<RevokeOutcome> {
      if (!userToken) return 'already_invalid';
      const response = await send({
        platform,
        what: 'revocation',
        method: 'DELETE',
        url: `${base}/me/permissions`,
        query: { access_token: userToken },
        secrets: [userToken, settings.appSecret],
      });
      if (response.status === 200 && isRecord(response.body) && response.body.success === true) return 'revoked';
      const error = graphError(platform, 'revocation', response, 'use');
      if (error.kind === 'needs_reconnect') return 'already_invalid';
      throw error;
    },
  };
}

export type MetaLogin = ReturnType<typeof createMetaLogin>;

function requireToken(platform: Platform, body: Record<string, unknown>): string {
  const token = text(body.access_token);
  if (!token)
    throw new ConnectorError(platform, 'transient', `${PLATFORM_NAMES[platform]} answered without an access token.`);
  return token;
}

function pageEntry(page: Record<string, unknown>): PageEntry | null {
  const id = text(page.id);
  const accessToken = text(page.access_token);
  if (!id || !accessToken) return null;
  const picture = isRecord(page.picture) && isRecord(page.picture.data) ? text(page.picture.data.url) : undefined;
  const instagram = isRecord(page.instagram_business_account) ? text(page.instagram_business_account.id) : undefined;
  return {
    id,
    name: text(page.name) ?? id,
    accessToken,
    tasks: Array.isArray(page.tasks) ? page.tasks.filter((t): t is string => typeof t === 'string') : null,
    pictureUrl: picture ?? null,
    instagramAccountId: instagram ?? null,
  };
}

/** Permissions the person switched off on the consent screen, in words. */
export function missingPermissions(platform: Platform, granted: string[], needed: string[]): ConnectorError | null {
  const missing = needed.filter((p) => !granted.includes(p));
  if (missing.length === 0) return null;
  return new ConnectorError(
    platform,
    'denied',
    `${PLATFORM_NAMES[platform]} access was granted without ${missing.join(', ')}; connect again and allow ${missing.length === 1 ? 'it' : 'them'}.`,
  );
}
