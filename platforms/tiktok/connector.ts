import {
  type AccountRef,
  type Connector,
  ConnectorError,
  type Credentials,
  expiryFrom,
  MINUTE_MS,
  type Profile,
  parseStandardCallback,
  refreshTime,
  splitScopes,
} from '../connector.js';
import {
  type ConnectorDeps,
  createHttp,
  isRecord,
  oauthError,
  type PlatformResponse,
  statusError,
  text,
} from '../http.js';

export interface TikTokSettings {
  clientKey: string;
  clientSecret: string;
  /** https://www.tiktok.com */
  authUrl: string;
  /** https://open.tiktokapis.com */
  apiUrl: string;
}

const SCOPES = ['user.info.basic', 'video.publish', 'video.upload'];
/** Either posting scope will do: video.upload sends to the creator's inbox, video.publish posts directly. */
const POSTING_SCOPES = ['video.publish', 'video.upload'];
const COMMA = /,/;

/**
 * TikTok Login Kit v2, web flow (platform-apis.md 1.1): no PKCE, comma-separated scopes, flat token
 * JSON, OAuth errors possibly with HTTP 200, and rotating refresh tokens (the old one dies on use).
 */
export function createTikTokConnector(settings: TikTokSettings, deps: ConnectorDeps = {}): Connector {
  const send = createHttp(deps);
  const now = deps.now ?? (() => new Date());
  const tokenUrl = `${settings.apiUrl}/v2/oauth/token/`;

  async function tokenRequest(
    what: string,
    form: Record<string, string>,
    secrets: string[],
    phase: 'exchange' | 'refresh',
  ) {
    const response = await send({
      platform: 'tiktok',
      what,
      method: 'POST',
      url: tokenUrl,
      form: { client_key: settings.clientKey, client_secret: settings.clientSecret, ...form },
      secrets: [settings.clientSecret, ...secrets],
    });
    const error = oauthError('tiktok', what, response, phase);
    if (error) throw error;
    return readTokens(response, now());
  }

  return {
    platform: 'tiktok',
    scopes: () => [...SCOPES],
    buildAuthorizeUrl({ state, redirectUri }) {
      const url = new URL(`${settings.authUrl}/v2/auth/authorize/`);
      url.searchParams.set('client_key', settings.clientKey);
      url.searchParams.set('scope', SCOPES.join(','));
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      url.searchParams.set('response_type', 'code');
      return { url: url.toString(), codeVerifier: null };
    },
    parseCallback: (query) => parseStandardCallback('tiktok', query, COMMA, 'scopes'),
    async exchangeCode({ code, redirectUri }) {
      const credentials = await tokenRequest(
        'token exchange',
        { code, grant_type: 'authorization_code', redirect_uri: redirectUri },
        [code],
        'exchange',
      );
      requireScopes(credentials.scopes);
      const profile = await readProfile(credentials);
      return {
        accounts: [{ profile, credentials, via: null, grantKey: `tiktok:${profile.platformAccountId}` }],
        mustChoose: false,
      };
    },
    async refresh(_account, credentials) {
      if (!credentials.refreshToken) {
        throw new ConnectorError(
          'tiktok',
          'needs_reconnect',
          'This TikTok connection has no refresh token; connect again.',
        );
      }
      const fresh = await tokenRequest(
        'token refresh',
        { grant_type: 'refresh_token', refresh_token: credentials.refreshToken },
        [credentials.refreshToken],
        'refresh',
      );
      return { ...fresh, scopes: fresh.scopes.length > 0 ? fresh.scopes : credentials.scopes };
    },
    readProfile: (_account, credentials) => readProfile(credentials),
    async revoke(_account, credentials) {
      const response = await send({
        platform: 'tiktok',
        what: 'revocation',
        method: 'POST',
        url: `${settings.apiUrl}/v2/oauth/revoke/`,
        form: { client_key: settings.clientKey, client_secret: settings.clientSecret, token: credentials.accessToken },
        secrets: [settings.clientSecret, credentials.accessToken, credentials.refreshToken],
      });
      const error = oauthError('tiktok', 'revocation', response, 'revoke');
      if (error?.kind === 'needs_reconnect') return 'already_invalid';
      if (error) throw error;
      return 'revoked';
    },
    renewalPlan(_account: AccountRef, credentials: Credentials, at: Date) {
      const expiresAt = credentials.accessTokenExpiresAt ?? new Date(at.getTime());
      return { action: 'refresh', at: refreshTime(at, credentials.issuedAt, expiresAt, 10 * MINUTE_MS) };
    },
  };

  async function readProfile(credentials: Credentials): Promise<Profile> {
    const response = await send({
      platform: 'tiktok',
      what: 'profile request',
      method: 'GET',
      url: `${settings.apiUrl}/v2/user/info/`,
      query: { fields: 'open_id,union_id,avatar_url,display_name' },
      bearer: credentials.accessToken,
      secrets: [credentials.accessToken, settings.clientSecret],
    });
    const envelope = isRecord(response.body) ? response.body : {};
    const error = isRecord(envelope.error) ? envelope.error : {};
    if (text(error.code) !== 'ok' || response.status !== 200) throw apiError(response, error);
    const user = isRecord(envelope.data) && isRecord(envelope.data.user) ? envelope.data.user : {};
    const openId = text(user.open_id);
    if (!openId)
      throw new ConnectorError('tiktok', 'transient', 'TikTok answered the profile request without an open_id.');
    return {
      platformAccountId: openId,
      displayName: text(user.display_name) ?? openId,
      avatarUrl: text(user.avatar_url) ?? null,
    };
  }
}

function readTokens(response: PlatformResponse, issuedAt: Date): Credentials {
  const body = isRecord(response.body) ? response.body : {};
  const accessToken = text(body.access_token);
  const refreshToken = text(body.refresh_token);
  if (!accessToken || !refreshToken) {
    throw new ConnectorError('tiktok', 'transient', 'TikTok answered without an access and refresh token.', {
      status: response.status,
    });
  }
  return {
    accessToken,
    accessTokenExpiresAt: expiryFrom(issuedAt, body.expires_in),
    refreshToken,
    refreshTokenExpiresAt: expiryFrom(issuedAt, body.refresh_expires_in),
    userToken: null,
    userTokenExpiresAt: null,
    scopes: splitScopes(text(body.scope) ?? '', COMMA),
    issuedAt,
  };
}

function requireScopes(granted: string[]): void {
  const missing = granted.includes('user.info.basic') ? [] : ['user.info.basic'];
  if (!POSTING_SCOPES.some((s) => granted.includes(s))) missing.push(POSTING_SCOPES.join(' or '));
  if (missing.length > 0) {
    throw new ConnectorError(
      'tiktok',
      'denied',
      `TikTok access was granted without ${missing.join(' and ')}; connect again and leave those permissions switched on.`,
    );
  }
}

/** The /v2 envelope's `error.code` (1.2): access_token_invalid means the grant is gone. */
function apiError(response: PlatformResponse, error: Record<string, unknown>): ConnectorError {
  const code = text(error.code);
  const message = text(error.message);
  // "Refresh the token and retry" (1.2): the grant may still be alive.
  if (code === 'access_token_invalid') {
    return new ConnectorError(
      'tiktok',
      'access_expired',
      'TikTok no longer accepts the access token (access_token_invalid).',
      {
        status: response.status,
        code,
      },
    );
  }
  if (code === 'scope_not_authorized' || code === 'scope_permission_missed') {
    return new ConnectorError(
      'tiktok',
      'needs_reconnect',
      `TikTok says a permission was withdrawn (${code}); connect again.`,
      {
        status: response.status,
        code,
      },
    );
  }
  if (code === 'rate_limit_exceeded' || code === 'internal_error') {
    return new ConnectorError('tiktok', 'transient', `TikTok is not answering for now (${code}).`, {
      status: response.status,
      code,
    });
  }
  if (code) {
    return new ConnectorError(
      'tiktok',
      'rejected',
      `TikTok refused the profile request: ${message ?? code} (${code}).`,
      {
        status: response.status,
        code,
      },
    );
  }
  return statusError('tiktok', 'profile request', response);
}
