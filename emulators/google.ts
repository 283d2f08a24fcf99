import { createHash, randomBytes } from 'node:crypto';
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
import { createYouTubePublishing } from './youtube-publishing.js';

/**
 * Google's web-server OAuth flow and YouTube's `channels?mine=true`, as platform-apis.md 2.1 describes
 * them: space-separated scopes, optional PKCE (verified when a challenge was sent), a refresh token
 * only for `access_type=offline` with consent (or the first grant), refresh answers without a new
 * refresh token, `invalid_grant` with HTTP 400, and revocation that ends the whole grant.
 */
export interface GoogleEmulatorOptions extends EmulatorOptions {
  clientId?: string;
  clientSecret?: string;
  /** Default 3599 s, like Google. */
  accessTokenSeconds?: number;
  /** Unset: refresh tokens do not expire by time (7 days models an "External + Testing" app). */
  refreshTokenSeconds?: number;
}

export const GOOGLE_EMULATOR_CLIENT = {
  id: 'emulator-client.apps.googleusercontent.com',
  secret: 'emulator-google-secret',
};

export interface GoogleEmulator {
  url: string;
  env: Record<string, string>;
  kit: Kit;
  stop(): Promise<void>;
}

interface GoogleUser extends Identity {
  /** The YouTube channel; null for a Google account without one. */
  channel: { id: string; title: string; thumbnailUrl: string } | null;
}

interface Settings {
  accessSeconds: number;
  refreshSeconds: number | null;
  user: GoogleUser;
  grantScopes: string[] | null;
}

const defaultUser = (): GoogleUser => ({
  id: '108000000000000000001',
  displayName: 'Emulated Googler',
  avatarUrl: 'https://lh3.googleusercontent.example/emulated',
  channel: {
    id: 'UCemulatorChannel000000001',
    title: 'Emulated Channel',
    thumbnailUrl: 'https://yt3.ggpht.example/emulated-channel=s800',
  },
});

export async function startGoogleEmulator(options: GoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
  const clientId = options.clientId ?? GOOGLE_EMULATOR_CLIENT.id;
  const clientSecret = options.clientSecret ?? GOOGLE_EMULATOR_CLIENT.secret;
  const initial = (): Settings => ({
    accessSeconds: options.accessTokenSeconds ?? 3599,
    refreshSeconds: options.refreshTokenSeconds ?? null,
    user: defaultUser(),
    grantScopes: null,
  });
  let settings = initial();
  /** Users who already hold a refresh token for this client: Google only re-sends one with prompt=consent. */
  const usersWithRefreshToken = new Set<string>();

  const server = await startEmulatorServer(options, {
    raw: publishingHook(createYouTubePublishing(), { kinds: ['access'], prefix: 'ya29.' }),
    reset: () => {
      settings = initial();
      usersWithRefreshToken.clear();
    },
    api(req, kit) {
      const route = `${req.method} ${req.path}`;
      if (route === 'GET /o/oauth2/v2/auth') return authorize(req, kit);
      if (req.path === '/token') return token(req, kit);
      if (req.path === '/revoke') return revoke(req, kit);
      if (route === 'GET /youtube/v3/channels') return channels(req, kit);
      return apiError(404, 'notFound', 'NOT_FOUND', `Unknown endpoint ${route}`);
    },
    control(method, path, body) {
      const route = `${method} ${path}`;
      if (route === 'POST /__control/consent') {
        if (isRecord(body.user)) {
          const base = identity(body.user, settings.user);
          const channel = body.user.channel;
          settings.user = {
            ...base,
            channel:
              channel === null
                ? null
                : isRecord(channel)
                  ? {
                      id: String(channel.id ?? `UC${base.id}`),
                      title: String(channel.title ?? base.displayName),
                      thumbnailUrl: String(channel.thumbnailUrl ?? base.avatarUrl),
                    }
                  : settings.user.channel,
          };
        }
        if (Array.isArray(body.scopes)) settings.grantScopes = body.scopes.filter((s) => typeof s === 'string');
        if (body.scopes === null) settings.grantScopes = null;
        return { status: 204 };
      }
      if (route === 'POST /__control/lifetimes') {
        const access = positiveSeconds(body.accessSeconds, 'accessSeconds');
        const refresh =
          body.refreshSeconds === null ? undefined : positiveSeconds(body.refreshSeconds, 'refreshSeconds');
        for (const v of [access, refresh]) if (typeof v === 'string') return json(400, { error: v });
        if (typeof access === 'number') settings.accessSeconds = access;
        if (typeof refresh === 'number') settings.refreshSeconds = refresh;
        if (body.refreshSeconds === null) settings.refreshSeconds = null;
        return { status: 204 };
      }
      return undefined;
    },
  });

  function authorize(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'authorize';
    const q = req.query;
    missingFields(kit, endpoint, q, ['client_id', 'redirect_uri', 'response_type', 'scope', 'state']);
    const scope = q.get('scope') ?? '';
    if (scope.includes(',')) kit.violate(endpoint, 'scopes separated by commas instead of spaces');
    const method = q.get('code_challenge_method');
    if (q.get('code_challenge') && method !== 'S256' && method !== 'plain') {
      kit.violate(endpoint, 'code_challenge_method must be S256 or plain');
    }
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== clientId) return page(401, 'Error 401: invalid_client. The OAuth client was not found.');
    if (!validRedirectUri(redirectUri)) return page(400, 'Error 400: redirect_uri_mismatch');
    if (q.get('response_type') !== 'code') return page(400, 'Error 400: unsupported_response_type');
    const state = q.get('state') ?? undefined;
    const fault = kit.takeFault('authorize', ['deny_consent']);
    if (fault) return redirect(callbackUrl(redirectUri, { error: 'access_denied', state }));
    const asked = scope.split(/\s+/).filter((s) => s !== '');
    const granted = settings.grantScopes ? asked.filter((s) => settings.grantScopes?.includes(s)) : asked;
    const code = kit.issueCode(
      {
        redirectUri,
        scopes: granted,
        user: structuredClone(settings.user),
        challenge: q.get('code_challenge'),
        challengeMethod: method ?? 'plain',
        offline: q.get('access_type') === 'offline',
        consent: (q.get('prompt') ?? '').split(' ').includes('consent'),
      },
      '4/0A',
    );
    return redirect(callbackUrl(redirectUri, { code, scope: granted.join(' '), state }));
  }

  function token(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'token';
    if (!requireForm(kit, endpoint, req)) return oauthError(400, 'invalid_request', 'Invalid content type');
    const form = req.form as URLSearchParams;
    if (missingFields(kit, endpoint, form, ['client_id', 'client_secret', 'grant_type']).length > 0) {
      return oauthError(400, 'invalid_request', 'Missing required parameter');
    }
    if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
      return oauthError(401, 'invalid_client', 'Unauthorized');
    }
    const grantType = form.get('grant_type');
    const fault = kit.takeFault(grantType === 'refresh_token' ? 'refresh' : 'token', [
      'server_error',
      'rate_limit',
      'invalid_grant',
    ]);
    if (fault?.kind === 'server_error')
      return oauthError(503, 'temporarily_unavailable', 'Service unavailable (injected fault)');
    if (fault?.kind === 'rate_limit') {
      return {
        ...oauthError(429, 'rate_limit_exceeded', 'Rate limit exceeded'),
        headers: { 'retry-after': String(fault.retryAfterSeconds ?? 1) },
      };
    }
    if (grantType === 'authorization_code') {
      if (missingFields(kit, endpoint, form, ['code', 'redirect_uri']).length > 0) {
        return oauthError(400, 'invalid_request', 'Missing required parameter: code');
      }
      const redeemed = kit.redeemCode(endpoint, form.get('code'));
      if (!redeemed.ok || fault?.kind === 'invalid_grant') return oauthError(400, 'invalid_grant', 'Bad Request');
      const data = redeemed.data;
      if (data.redirectUri !== form.get('redirect_uri')) {
        kit.violate(endpoint, 'redirect_uri differs from the one the code was issued for');
        return oauthError(400, 'redirect_uri_mismatch', 'Bad Request');
      }
      if (typeof data.challenge === 'string') {
        const verifier = form.get('code_verifier');
        if (!verifier) {
          kit.violate(endpoint, 'code_verifier missing although a code_challenge was sent');
          return oauthError(400, 'invalid_grant', 'Missing code verifier.');
        }
        const expected =
          data.challengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
        if (expected !== data.challenge) return oauthError(400, 'invalid_grant', 'Invalid code verifier.');
      } else if (form.get('code_verifier')) {
        kit.violate(endpoint, 'code_verifier sent without a code_challenge at authorization');
      }
      const user = data.user as GoogleUser;
      const scopes = data.scopes as string[];
      const grantId = `grant-${randomBytes(6).toString('hex')}`;
      const tokenData = { user, scopes };
      const access = kit.issueToken('access', grantId, settings.accessSeconds, 'ya29.', tokenData);
      const answer: Record<string, unknown> = {
        access_token: access.token,
        expires_in: settings.accessSeconds,
        scope: scopes.join(' '),
        token_type: 'Bearer',
      };
      if (data.offline && (data.consent || !usersWithRefreshToken.has(user.id))) {
        usersWithRefreshToken.add(user.id);
        answer.refresh_token = kit.issueToken('refresh', grantId, settings.refreshSeconds, '1//', tokenData).token;
      }
      return json(200, answer);
    }
    if (grantType === 'refresh_token') {
      if (missingFields(kit, endpoint, form, ['refresh_token']).length > 0) {
        return oauthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
      }
      const checked = kit.check(form.get('refresh_token'), ['refresh']);
      if (!checked.ok) return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
      if (fault?.kind === 'invalid_grant') {
        kit.revokeGrant(checked.record.grantId);
        return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
      }
      const access = kit.issueToken(
        'access',
        checked.record.grantId,
        settings.accessSeconds,
        'ya29.',
        checked.record.data,
      );
      return json(200, {
        access_token: access.token,
        expires_in: settings.accessSeconds,
        scope: (checked.record.data.scopes as string[]).join(' '),
        token_type: 'Bearer',
      });
    }
    kit.violate(endpoint, `unsupported grant_type ${grantType}`);
    return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type');
  }

  function revoke(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'revoke';
    if (req.method !== 'POST') kit.violate(endpoint, `method ${req.method} instead of POST`);
    if (req.contentType !== 'application/x-www-form-urlencoded') {
      kit.violate(
        endpoint,
        `content type ${req.contentType ?? 'missing'} instead of application/x-www-form-urlencoded`,
      );
    }
    const token = req.query.get('token') ?? req.form?.get('token') ?? null;
    if (!token) {
      kit.violate(endpoint, 'missing token');
      return oauthError(400, 'invalid_request', 'Missing required parameter: token');
    }
    const fault = kit.takeFault('revoke', ['server_error']);
    if (fault) return oauthError(503, 'temporarily_unavailable', 'Service unavailable (injected fault)');
    const checked = kit.check(token, ['access', 'refresh']);
    if (!checked.ok) return oauthError(400, 'invalid_token', 'Token expired or revoked');
    kit.revokeGrant(checked.record.grantId);
    return json(200, {});
  }

  function channels(req: EmulatorRequest, kit: Kit): Answer {
    const endpoint = 'channels';
    if (!req.query.get('part')) {
      kit.violate(endpoint, 'missing part');
      return apiError(400, 'required', 'INVALID_ARGUMENT', 'Required parameter: part');
    }
    if (req.query.get('mine') !== 'true') kit.violate(endpoint, 'mine=true expected for the connected channel');
    if (!req.bearer) {
      kit.violate(endpoint, 'access token not sent as Authorization: Bearer');
      return apiError(401, 'authError', 'UNAUTHENTICATED', 'Request is missing required authentication credential.');
    }
    const fault = kit.takeFault('profile', ['server_error', 'rate_limit']);
    if (fault?.kind === 'server_error')
      return apiError(503, 'backendError', 'UNAVAILABLE', 'Backend Error (injected fault)');
    if (fault?.kind === 'rate_limit')
      return apiError(403, 'rateLimitExceeded', 'PERMISSION_DENIED', 'Rate Limit Exceeded');
    const checked = kit.check(req.bearer, ['access']);
    if (!checked.ok) {
      return apiError(401, 'authError', 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    }
    const scopes = checked.record.data.scopes as string[];
    if (!scopes.some((s) => /\/auth\/(youtube|youtube\.readonly|youtube\.force-ssl|youtubepartner)$/.test(s))) {
      return apiError(
        403,
        'insufficientPermissions',
        'PERMISSION_DENIED',
        'Request had insufficient authentication scopes.',
      );
    }
    const user = checked.record.data.user as GoogleUser;
    const items = user.channel
      ? [
          {
            kind: 'youtube#channel',
            etag: 'emulator-etag',
            id: user.channel.id,
            snippet: {
              title: user.channel.title,
              description: '',
              customUrl: `@${user.channel.title.toLowerCase().replace(/\W+/g, '')}`,
              publishedAt: '2020-01-01T00:00:00Z',
              thumbnails: {
                default: { url: user.channel.thumbnailUrl, width: 88, height: 88 },
                medium: { url: user.channel.thumbnailUrl, width: 240, height: 240 },
                high: { url: user.channel.thumbnailUrl, width: 800, height: 800 },
              },
              localized: { title: user.channel.title, description: '' },
            },
          },
        ]
      : [];
    return json(200, {
      kind: 'youtube#channelListResponse',
      etag: 'emulator-etag',
      pageInfo: { totalResults: items.length, resultsPerPage: 5 },
      items,
    });
  }

  return {
    url: server.url,
    env: {
      GOOGLE_CLIENT_ID: clientId,
      GOOGLE_CLIENT_SECRET: clientSecret,
      GOOGLE_AUTH_URL: server.url,
      GOOGLE_TOKEN_URL: server.url,
      YOUTUBE_API_URL: server.url,
    },
    kit: server.kit,
    stop: server.stop,
  };
}

function oauthError(status: number, error: string, description: string): Answer {
  return json(status, { error, error_description: description });
}

function apiError(status: number, reason: string, statusText: string, message: string): Answer {
  return json(status, {
    error: { code: status, message, errors: [{ message, domain: 'global', reason }], status: statusText },
  });
}

function page(status: number, message: string): Answer {
  return { status, body: `<!doctype html><title>Google (emulator)</title><p>${message}</p>` };
}
