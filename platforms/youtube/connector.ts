import { createHash, randomBytes } from 'node:crypto';
import {
  type Connector,
  ConnectorError,
  type Credentials,
  DAY_MS,
  expiryFrom,
  type Profile,
  parseStandardCallback,
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

export interface YouTubeSettings {
  clientId: string;
  clientSecret: string;
  /** https://accounts.google.com */
  authUrl: string;
  /** https://oauth2.googleapis.com */
  tokenUrl: string;
  /** https://www.googleapis.com */
  apiUrl: string;
}

const UPLOAD_SCOPE = 'https://www.googleapis.com/auth/youtube.upload';
const SCOPES = [UPLOAD_SCOPE, 'https://www.googleapis.com/auth/youtube.readonly'];
const SPACE = /\s+/;
/**
 * Google refresh tokens die after six months unused: a refresh at least this often keeps an idle
 * connection alive (and finds a revoked one early) without a refresh every hour.
 */
const IDLE_REFRESH_MS = 7 * DAY_MS;

/**
 * Google's web-server flow with PKCE (S256), `access_type=offline` and `prompt=consent` so every
 * consent yields a refresh token (platform-apis.md 2.1). Profile: the YouTube channel of the grant.
 */
export function createYouTubeConnector(settings: YouTubeSettings, deps: ConnectorDeps = {}): Connector {
  const send = createHttp(deps);
  const now = deps.now ?? (() => new Date());

  async function tokenRequest(
    what: string,
    form: Record<string, string | undefined>,
    secrets: (string | null)[],
    phase: 'exchange' | 'refresh',
  ): Promise<Record<string, unknown>> {
    const response = await send({
      platform: 'youtube',
      what,
      method: 'POST',
      url: `${settings.tokenUrl}/token`,
      form: { client_id: settings.clientId, client_secret: settings.clientSecret, ...form },
      secrets: [settings.clientSecret, ...secrets],
    });
    const error = oauthError('youtube', what, response, phase);
    if (error) throw error;
    const body = isRecord(response.body) ? response.body : {};
    if (!text(body.access_token)) {
      throw new ConnectorError('youtube', 'transient', `Google answered the ${what} without an access token.`);
    }
    return body;
  }

  async function readProfile(credentials: Credentials): Promise<Profile> {
    const response = await send({
      platform: 'youtube',
      what: 'channel request',
      method: 'GET',
      url: `${settings.apiUrl}/youtube/v3/channels`,
      query: { part: 'snippet', mine: 'true' },
      bearer: credentials.accessToken,
      secrets: [credentials.accessToken, credentials.refreshToken, settings.clientSecret],
    });
    if (response.status !== 200) throw apiError(response);
    const body = isRecord(response.body) ? response.body : {};
    const channel = Array.isArray(body.items) ? body.items.find(isRecord) : undefined;
    const id = text(channel?.id);
    if (!channel || !id) {
      throw new ConnectorError(
        'youtube',
        'denied',
        'This Google account has no YouTube channel. Create one at youtube.com (or pick the brand account that owns it), then connect again.',
      );
    }
    const snippet = isRecord(channel.snippet) ? channel.snippet : {};
    const thumbnails = isRecord(snippet.thumbnails) ? snippet.thumbnails : {};
    const thumbnail = [thumbnails.high, thumbnails.medium, thumbnails.default].find(isRecord);
    return { platformAccountId: id, displayName: text(snippet.title) ?? id, avatarUrl: text(thumbnail?.url) ?? null };
  }

  return {
    platform: 'youtube',
    scopes: () => [...SCOPES],
    buildAuthorizeUrl({ state, redirectUri }) {
      const codeVerifier = randomBytes(48).toString('base64url');
      const url = new URL(`${settings.authUrl}/o/oauth2/v2/auth`);
      url.searchParams.set('client_id', settings.clientId);
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('scope', SCOPES.join(' '));
      url.searchParams.set('access_type', 'offline');
      url.searchParams.set('prompt', 'consent');
      url.searchParams.set('include_granted_scopes', 'true');
      url.searchParams.set('state', state);
      url.searchParams.set('code_challenge', pkceChallenge(codeVerifier));
      url.searchParams.set('code_challenge_method', 'S256');
      return { url: url.toString(), codeVerifier };
    },
    parseCallback: (query) => parseStandardCallback('youtube', query, SPACE),
    async exchangeCode({ code, redirectUri, codeVerifier }) {
      const issuedAt = now();
      const body = await tokenRequest(
        'token exchange',
        {
          code,
          grant_type: 'authorization_code',
          redirect_uri: redirectUri,
          code_verifier: codeVerifier ?? undefined,
        },
        [code, codeVerifier],
        'exchange',
      );
      const refreshToken = text(body.refresh_token);
      const accessToken = text(body.access_token) as string;
      if (!refreshToken) {
        // Without it the connection would die within the hour; do not store a half connection.
        await revokeToken(accessToken).catch(() => undefined);
        throw new ConnectorError(
          'youtube',
          'rejected',
          'Google did not return a refresh token, so the connection could not stay signed in. Remove AutoPostPanel under "Third-party apps" at myaccount.google.com/connections, then connect again.',
        );
      }
      const scopes = splitScopes(text(body.scope) ?? '', SPACE);
      if (!scopes.includes(UPLOAD_SCOPE)) {
        await revokeToken(refreshToken).catch(() => undefined);
        throw new ConnectorError(
          'youtube',
          'denied',
          'Google access was granted without permission to upload YouTube videos; connect again and tick that permission.',
        );
      }
      const credentials: Credentials = {
        accessToken,
        accessTokenExpiresAt: expiryFrom(issuedAt, body.expires_in),
        refreshToken,
        refreshTokenExpiresAt: null,
        userToken: null,
        userTokenExpiresAt: null,
        scopes,
        issuedAt,
      };
      const profile = await readProfile(credentials);
      return {
        accounts: [{ profile, credentials, via: null, grantKey: `youtube:${profile.platformAccountId}` }],
        mustChoose: false,
      };
    },
    async refresh(_account, credentials) {
      if (!credentials.refreshToken) {
        throw new ConnectorError(
          'youtube',
          'needs_reconnect',
          'This YouTube connection has no refresh token; connect again.',
        );
      }
      const issuedAt = now();
      const body = await tokenRequest(
        'token refresh',
        { grant_type: 'refresh_token', refresh_token: credentials.refreshToken },
        [credentials.refreshToken, credentials.accessToken],
        'refresh',
      );
      const scope = text(body.scope);
      return {
        ...credentials,
        accessToken: text(body.access_token) as string,
        accessTokenExpiresAt: expiryFrom(issuedAt, body.expires_in),
        // Google normally keeps the refresh token; a new one, when sent, replaces it.
        refreshToken: text(body.refresh_token) ?? credentials.refreshToken,
        scopes: scope ? splitScopes(scope, SPACE) : credentials.scopes,
        issuedAt,
      };
    },
    readProfile: (_account, credentials) => readProfile(credentials),
    async revoke(_account, credentials) {
      // Revoking the refresh token ends the whole grant, access tokens included.
      const outcome = await revokeToken(credentials.refreshToken ?? credentials.accessToken, [credentials.accessToken]);
      return outcome;
    },
    renewalPlan(_account, credentials, at) {
      // Access tokens last an hour and publishing refreshes on demand; the owner only keeps the
      // grant alive (and notices a revoked one) with a refresh a week after the last.
      const idle = credentials.issuedAt.getTime() + IDLE_REFRESH_MS;
      return { action: 'refresh', at: new Date(Math.max(idle, at.getTime())) };
    },
  };

  async function revokeToken(token: string, moreSecrets: string[] = []): Promise<'revoked' | 'already_invalid'> {
    const response = await send({
      platform: 'youtube',
      what: 'revocation',
      method: 'POST',
      url: `${settings.tokenUrl}/revoke`,
      form: { token },
      secrets: [token, settings.clientSecret, ...moreSecrets],
    });
    if (response.status === 200) return 'revoked';
    const error = oauthError('youtube', 'revocation', response, 'revoke');
    // 400 invalid_token: already revoked or expired, which is what we wanted.
    if (error?.kind === 'needs_reconnect') return 'already_invalid';
    throw error ?? statusError('youtube', 'revocation', response);
  }
}

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** Google API errors: `{error: {code, message, status, errors: [{reason}]}}` (2.6). */
function apiError(response: PlatformResponse): ConnectorError {
  const body = isRecord(response.body) && isRecord(response.body.error) ? response.body.error : {};
  const reasons = Array.isArray(body.errors) ? body.errors.filter(isRecord).map((e) => text(e.reason)) : [];
  const reason = reasons[0] ?? text(body.status);
  const details = { status: response.status, code: reason };
  if (response.status === 401) {
    return new ConnectorError('youtube', 'access_expired', 'Google no longer accepts the access token.', details);
  }
  if (response.status === 403 && reason === 'insufficientPermissions') {
    return new ConnectorError(
      'youtube',
      'needs_reconnect',
      `Google refused: a permission is missing (${reason}); connect again.`,
      details,
    );
  }
  // 2.6: quota and every rate limit are waited out; `forbidden` is permanent (statusError: rejected).
  if (
    reason === 'quotaExceeded' ||
    reason === 'rateLimitExceeded' ||
    reason === 'userRateLimitExceeded' ||
    reason === 'uploadRateLimitExceeded' ||
    response.status === 429 ||
    response.status >= 500
  ) {
    return new ConnectorError(
      'youtube',
      'transient',
      `YouTube is not answering for now (${reason ?? response.status}).`,
      details,
    );
  }
  return statusError('youtube', 'channel request', response);
}
