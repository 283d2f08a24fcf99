import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import {
  type AccountRef,
  type Authorization,
  type CallbackOutcome,
  type Connector,
  ConnectorError,
  type Credentials,
  choiceSummary,
  chooseAccounts,
  redirectUriFor,
} from '../platforms/connector.js';
import {
  type ConnectorRegistry,
  createConnectorRegistry,
  PlatformNotConfiguredError,
} from '../platforms/connectors.js';
import { retryAfter } from '../platforms/http.js';
import { createTikTokConnector } from '../platforms/tiktok/connector.js';
import { createYouTubeConnector } from '../platforms/youtube/connector.js';
import { loadConfig } from '../runtime/config.js';

const PUBLIC_URL = 'http://127.0.0.1:3999';
const HOUR = 3600;

let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let instagram: InstagramEmulator;
let facebook: FacebookEmulator;
let registry: ConnectorRegistry;
/** The connectors' clock runs ahead of real time by as much as the emulators' clocks were moved. */
let clockOffsetMs = 0;
/** Every secret the emulators hand out or hold, to check no error message ever carries one. */
const errorMessages: string[] = [];

beforeAll(async () => {
  [tiktok, google, instagram, facebook] = await Promise.all([
    startTikTokEmulator(),
    startGoogleEmulator(),
    startInstagramEmulator(),
    startFacebookEmulator(),
  ]);
  const config = loadConfig({ ...tiktok.env, ...google.env, ...instagram.env, ...facebook.env });
  registry = createConnectorRegistry(config, PUBLIC_URL, { now: () => new Date(Date.now() + clockOffsetMs) });
});

afterAll(async () => {
  await Promise.all([tiktok, google, instagram, facebook].map((e) => e?.stop()));
  // No message of any error met in this file carried a token or client secret.
  const secrets = [tiktok, google, instagram, facebook].flatMap((e) => [
    ...Object.entries(e.env)
      .filter(([k]) => /SECRET/.test(k))
      .map(([, v]) => v),
    ...[...e.kit.tokens.keys()],
  ]);
  for (const message of errorMessages) for (const secret of secrets) expect(message).not.toContain(secret);
});

beforeEach(async () => {
  clockOffsetMs = 0;
  await Promise.all([tiktok, google, instagram, facebook].map((e) => callControl(e.url, 'POST', 'reset')));
});

async function advanceClock(emulatorUrl: string, seconds: number) {
  clockOffsetMs += seconds * 1000;
  await callControl(emulatorUrl, 'POST', 'clock', { advanceSeconds: seconds });
}

/** Follows the authorize URL like a browser whose user clicks "Allow", up to the redirect back to us. */
async function consent(authorizeUrl: string): Promise<{ location: string; query: Record<string, string> }> {
  const response = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const location = response.headers.get('location') ?? '';
  expect(location.startsWith(PUBLIC_URL)).toBe(true);
  return { location, query: Object.fromEntries(new URL(location).searchParams) };
}

/** The error a call must fail with, recorded for the secrets check. */
async function connectorFailure(run: Promise<unknown> | (() => unknown)): Promise<ConnectorError> {
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (err) {
    if (err instanceof ConnectorError) {
      errorMessages.push(err.message);
      return err;
    }
    throw err;
  }
  throw new Error('expected a ConnectorError');
}

async function connect(connector: Connector, via?: 'facebook'): Promise<Authorization> {
  const redirectUri = registry.redirectUri(connector.platform);
  const start = connector.buildAuthorizeUrl({ state: 'state-123', redirectUri, via });
  const { query } = await consent(start.url);
  const callback = connector.parseCallback(query);
  if (!callback.ok) throw callback.error;
  expect(callback.state).toBe('state-123');
  return connector.exchangeCode({ code: callback.code, redirectUri, codeVerifier: start.codeVerifier, via });
}

const refOf = (authorization: Authorization, index = 0): { ref: AccountRef; credentials: Credentials } => {
  const account = authorization.accounts[index];
  if (!account) throw new Error('no account');
  return {
    ref: { platformAccountId: account.profile.platformAccountId, via: account.via },
    credentials: account.credentials,
  };
};

const params = (url: string) => new URL(url).searchParams;

describe('connector registry', () => {
  it('answers "not configured" with the variables to set, never a broken connector', () => {
    const empty = createConnectorRegistry(loadConfig({}), PUBLIC_URL);
    expect(empty.status()).toEqual([
      { platform: 'tiktok', configured: false, missing: ['TIKTOK_CLIENT_KEY', 'TIKTOK_CLIENT_SECRET'] },
      { platform: 'youtube', configured: false, missing: ['GOOGLE_CLIENT_ID', 'GOOGLE_CLIENT_SECRET'] },
      { platform: 'instagram', configured: false, missing: ['INSTAGRAM_APP_ID', 'INSTAGRAM_APP_SECRET'] },
      { platform: 'facebook', configured: false, missing: ['FACEBOOK_APP_ID', 'FACEBOOK_APP_SECRET'] },
    ]);
    expect(() => empty.get('tiktok')).toThrow(PlatformNotConfiguredError);
    expect(() => empty.get('tiktok')).toThrow(/set TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET/);
    expect(registry.status().every((s) => s.configured)).toBe(true);
    expect(registry.status().find((s) => s.platform === 'instagram')?.via).toEqual(['instagram', 'facebook']);
  });

  it('offers Instagram through a Page when only the Facebook app is set, and says Instagram Login is missing', () => {
    const onlyFacebook = createConnectorRegistry(loadConfig({ ...facebook.env }), PUBLIC_URL);
    expect(onlyFacebook.status().find((s) => s.platform === 'instagram')).toEqual({
      platform: 'instagram',
      configured: true,
      missing: [],
      via: ['facebook'],
    });
    const ig = onlyFacebook.get('instagram');
    const redirectUri = onlyFacebook.redirectUri('instagram');
    expect(() => ig.buildAuthorizeUrl({ state: 's', redirectUri })).toThrow(/INSTAGRAM_APP_ID/);
    expect(ig.buildAuthorizeUrl({ state: 's', redirectUri, via: 'facebook' }).url).toContain('/dialog/oauth');
  });

  it('builds redirect URIs from PUBLIC_URL', () => {
    expect(redirectUriFor('https://panel.example.com/', 'tiktok')).toBe(
      'https://panel.example.com/api/v1/connections/tiktok/callback',
    );
    expect(registry.redirectUri('youtube')).toBe(`${PUBLIC_URL}/api/v1/connections/youtube/callback`);
  });
});

describe('TikTok connector', () => {
  it('connects, reads the profile, refreshes with rotation, and revokes', async () => {
    const connector = registry.get('tiktok');
    const start = connector.buildAuthorizeUrl({ state: 'st-1', redirectUri: registry.redirectUri('tiktok') });
    const q = params(start.url);
    expect(start.url.startsWith(`${tiktok.url}/v2/auth/authorize/?`)).toBe(true);
    expect(q.get('client_key')).toBe(tiktok.env.TIKTOK_CLIENT_KEY);
    expect(q.get('scope')).toBe('user.info.basic,video.publish,video.upload');
    expect(q.get('state')).toBe('st-1');
    expect(q.get('response_type')).toBe('code');
    expect(q.get('redirect_uri')).toBe(`${PUBLIC_URL}/api/v1/connections/tiktok/callback`);
    // The web flow takes no PKCE.
    expect(q.has('code_challenge')).toBe(false);
    expect(start.codeVerifier).toBeNull();

    const authorization = await connect(connector);
    expect(authorization.mustChoose).toBe(false);
    const [account] = authorization.accounts;
    expect(account?.profile).toEqual({
      platformAccountId: 'tt-open-0001',
      displayName: 'Emulated Creator',
      avatarUrl: 'https://p16.tiktokcdn.example/emulated-avatar.jpeg',
    });
    expect(account?.grantKey).toBe('tiktok:tt-open-0001');
    const { ref, credentials } = refOf(authorization);
    expect(credentials.scopes).toEqual(['user.info.basic', 'video.publish', 'video.upload']);
    expect(credentials.refreshToken).toMatch(/^rft\./);
    expect((credentials.accessTokenExpiresAt?.getTime() ?? 0) - credentials.issuedAt.getTime()).toBe(2 * HOUR * 1000);
    expect((credentials.refreshTokenExpiresAt?.getTime() ?? 0) - credentials.issuedAt.getTime()).toBe(
      180 * 86400 * 1000,
    );
    const plan = connector.renewalPlan(ref, credentials, credentials.issuedAt);
    expect(plan.action).toBe('refresh');
    // Ahead of expiry, not at it.
    expect(plan.at.getTime()).toBeLessThan(credentials.accessTokenExpiresAt?.getTime() ?? 0);
    expect(plan.at.getTime()).toBeGreaterThan(credentials.issuedAt.getTime());

    expect(await connector.readProfile(ref, credentials)).toEqual(account?.profile);

    const refreshed = await connector.refresh(ref, credentials);
    expect(refreshed.refreshToken).not.toBe(credentials.refreshToken);
    expect(refreshed.accessToken).not.toBe(credentials.accessToken);
    expect(await connector.readProfile(ref, refreshed)).toEqual(account?.profile);

    // The rotated refresh token is dead: using it again is refused and counted as a contract break.
    const reuse = await connectorFailure(connector.refresh(ref, credentials));
    expect(reuse.kind).toBe('needs_reconnect');
    expect(reuse.details).toMatchObject({ status: 200, code: 'invalid_grant' });
    expect(tiktok.kit.violations.map((v) => v.problem)).toEqual(['rotated refresh token used again']);

    expect(await connector.revoke(ref, refreshed)).toBe('revoked');
    const afterRevoke = await connectorFailure(connector.readProfile(ref, refreshed));
    expect(afterRevoke.kind).toBe('access_expired');
    expect((await connectorFailure(connector.refresh(ref, refreshed))).kind).toBe('needs_reconnect');
    expect(await connector.revoke(ref, refreshed)).toBe('already_invalid');
  });

  it('keeps a refresh token that the refresh hands back unchanged (the older docs: "may be different")', async () => {
    const connector = registry.get('tiktok');
    const { ref, credentials } = refOf(await connect(connector));
    await callControl(tiktok.url, 'POST', 'refresh-rotation', { rotate: false });
    const refreshed = await connector.refresh(ref, credentials);
    // The same token the request carried, stored as itself: the next refresh needs it.
    expect(refreshed.refreshToken).toBe(credentials.refreshToken);
    expect(refreshed.accessToken).not.toBe(credentials.accessToken);
    const again = await connector.refresh(ref, refreshed);
    expect(await connector.readProfile(ref, again)).toMatchObject({ platformAccountId: 'tt-open-0001' });
    expect(tiktok.kit.violations).toEqual([]);
  });

  it('reads OAuth errors from the body whether they come with HTTP 200 or 400', async () => {
    const connector = registry.get('tiktok');
    for (const status of [200, 400] as const) {
      await callControl(tiktok.url, 'POST', 'oauth-error-status', { status });
      const { ref, credentials } = refOf(await connect(connector));
      await callControl(tiktok.url, 'POST', 'faults', [{ kind: 'invalid_grant', on: 'refresh' }]);
      const error = await connectorFailure(connector.refresh(ref, credentials));
      expect(error.kind).toBe('needs_reconnect');
      expect(error.details).toMatchObject({ status, code: 'invalid_grant' });
      expect(error.message).toMatch(/connect the account again/);
    }
  });

  it('classifies server errors and throttling as transient, bad client credentials as rejected', async () => {
    const connector = registry.get('tiktok');
    const { ref, credentials } = refOf(await connect(connector));
    await callControl(tiktok.url, 'POST', 'faults', [{ kind: 'server_error', on: 'refresh' }]);
    const server = await connectorFailure(connector.refresh(ref, credentials));
    expect(server.kind).toBe('transient');
    expect(server.retryable).toBe(true);
    await callControl(tiktok.url, 'POST', 'faults', [{ kind: 'rate_limit', on: 'refresh', retryAfterSeconds: 7 }]);
    const throttled = await connectorFailure(connector.refresh(ref, credentials));
    expect(throttled).toMatchObject({ kind: 'transient', details: { status: 429, retryAfterSeconds: 7 } });
    await callControl(tiktok.url, 'POST', 'faults', [{ kind: 'rate_limit', on: 'profile' }]);
    expect((await connectorFailure(connector.readProfile(ref, credentials))).kind).toBe('transient');
    // The faults did not consume the refresh token: it still works.
    await connector.refresh(ref, credentials);

    const wrongSecret = createTikTokConnector({
      clientKey: tiktok.env.TIKTOK_CLIENT_KEY as string,
      clientSecret: 'not-the-secret-at-all',
      authUrl: tiktok.url,
      apiUrl: tiktok.url,
    });
    const start = wrongSecret.buildAuthorizeUrl({ state: 's', redirectUri: registry.redirectUri('tiktok') });
    const { query } = await consent(start.url);
    const code = (wrongSecret.parseCallback(query) as { code: string }).code;
    const rejected = await connectorFailure(
      wrongSecret.exchangeCode({ code, redirectUri: registry.redirectUri('tiktok'), codeVerifier: null }),
    );
    expect(rejected.kind).toBe('rejected');
    expect(rejected.message).toMatch(/invalid_client/);
    expect(rejected.message).not.toContain('not-the-secret-at-all');
  });

  it('reports a declined consent and a consent without a posting scope in words', async () => {
    const connector = registry.get('tiktok');
    await callControl(tiktok.url, 'POST', 'faults', [{ kind: 'deny_consent', on: 'authorize' }]);
    const start = connector.buildAuthorizeUrl({ state: 'st-2', redirectUri: registry.redirectUri('tiktok') });
    const { query } = await consent(start.url);
    const outcome = connector.parseCallback(query) as Extract<CallbackOutcome, { ok: false }>;
    expect(outcome.ok).toBe(false);
    expect(outcome.state).toBe('st-2');
    expect(outcome.error.kind).toBe('denied');
    expect(outcome.error.message).toBe('TikTok access was not granted: the consent screen was declined.');

    await callControl(tiktok.url, 'POST', 'consent', { scopes: ['user.info.basic'] });
    const partial = await connectorFailure(connect(connector));
    expect(partial.kind).toBe('denied');
    expect(partial.message).toMatch(/without video\.publish or video\.upload/);
  });

  it('refuses callbacks without a code or state', () => {
    const connector = registry.get('tiktok');
    expect(connector.parseCallback({ state: 'x' })).toMatchObject({ ok: false, error: { kind: 'rejected' } });
    expect(connector.parseCallback({ code: 'abc' })).toMatchObject({ ok: false, error: { kind: 'rejected' } });
    expect(connector.parseCallback({ code: ['a', 'b'], state: 'x' })).toMatchObject({ ok: false });
  });
});

describe('YouTube connector', () => {
  it('connects with PKCE and offline access, reads the channel, refreshes, and revokes', async () => {
    const connector = registry.get('youtube');
    const start = connector.buildAuthorizeUrl({ state: 'yt-1', redirectUri: registry.redirectUri('youtube') });
    const q = params(start.url);
    expect(start.url.startsWith(`${google.url}/o/oauth2/v2/auth?`)).toBe(true);
    expect(q.get('state')).toBe('yt-1');
    expect(q.get('access_type')).toBe('offline');
    expect(q.get('prompt')).toBe('consent');
    expect(q.get('response_type')).toBe('code');
    expect(q.get('scope')).toBe(
      'https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly',
    );
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(start.codeVerifier).toMatch(/^[\w-]{43,128}$/);
    expect(q.get('code_challenge')).toBe(
      createHash('sha256')
        .update(start.codeVerifier ?? '')
        .digest('base64url'),
    );

    const authorization = await connect(connector);
    const { ref, credentials } = refOf(authorization);
    expect(authorization.accounts[0]?.profile).toEqual({
      platformAccountId: 'UCemulatorChannel000000001',
      displayName: 'Emulated Channel',
      avatarUrl: 'https://yt3.ggpht.example/emulated-channel=s800',
    });
    expect(credentials.refreshToken).toMatch(/^1\/\//);
    expect(credentials.scopes).toContain('https://www.googleapis.com/auth/youtube.upload');

    const refreshed = await connector.refresh(ref, credentials);
    // Google keeps the refresh token; the new access token works.
    expect(refreshed.refreshToken).toBe(credentials.refreshToken);
    expect(refreshed.accessToken).not.toBe(credentials.accessToken);
    expect((await connector.readProfile(ref, refreshed)).platformAccountId).toBe('UCemulatorChannel000000001');
    // Refreshing is not rotation: the same refresh token works again.
    await connector.refresh(ref, credentials);

    expect(await connector.revoke(ref, refreshed)).toBe('revoked');
    const gone = await connectorFailure(connector.refresh(ref, refreshed));
    expect(gone).toMatchObject({ kind: 'needs_reconnect', details: { status: 400, code: 'invalid_grant' } });
    expect((await connectorFailure(connector.readProfile(ref, refreshed))).kind).toBe('access_expired');
    expect(google.kit.violations).toEqual([]);
  });

  it('treats a code exchange without a refresh token as an error', async () => {
    const connector = registry.get('youtube');
    // The grant exists already, so a consent without prompt=consent brings no new refresh token.
    await connect(connector);
    const redirectUri = registry.redirectUri('youtube');
    const start = connector.buildAuthorizeUrl({ state: 'yt-2', redirectUri });
    const url = new URL(start.url);
    url.searchParams.delete('prompt');
    const { query } = await consent(url.toString());
    const code = (connector.parseCallback(query) as { code: string }).code;
    const error = await connectorFailure(
      connector.exchangeCode({ code, redirectUri, codeVerifier: start.codeVerifier }),
    );
    expect(error.kind).toBe('rejected');
    expect(error.message).toMatch(/did not return a refresh token/);
  });

  it('refuses a wrong PKCE verifier, a declined upload scope and an account without a channel', async () => {
    const connector = registry.get('youtube');
    const redirectUri = registry.redirectUri('youtube');
    const start = connector.buildAuthorizeUrl({ state: 'yt-3', redirectUri });
    const { query } = await consent(start.url);
    const code = (connector.parseCallback(query) as { code: string }).code;
    const wrong = await connectorFailure(connector.exchangeCode({ code, redirectUri, codeVerifier: 'x'.repeat(50) }));
    expect(wrong).toMatchObject({ kind: 'rejected', details: { code: 'invalid_grant' } });

    await callControl(google.url, 'POST', 'consent', { scopes: ['https://www.googleapis.com/auth/youtube.readonly'] });
    expect((await connectorFailure(connect(connector))).message).toMatch(/without permission to upload/);

    await callControl(google.url, 'POST', 'consent', { scopes: null, user: { channel: null } });
    const noChannel = await connectorFailure(connect(connector));
    expect(noChannel.kind).toBe('denied');
    expect(noChannel.message).toMatch(/no YouTube channel/);
  });

  it('classifies invalid_grant on refresh as needs_reconnect and 5xx as transient', async () => {
    const connector = registry.get('youtube');
    const { ref, credentials } = refOf(await connect(connector));
    await callControl(google.url, 'POST', 'faults', [{ kind: 'server_error', on: 'refresh' }]);
    const failed = await connectorFailure(connector.refresh(ref, credentials));
    expect(failed.kind).toBe('transient');
    // No Retry-After: no wait of its own, so the activity's backoff applies (not a retry at once).
    expect(failed.details.retryAfterSeconds).toBeUndefined();
    await callControl(google.url, 'POST', 'faults', [{ kind: 'invalid_grant', on: 'refresh' }]);
    expect((await connectorFailure(connector.refresh(ref, credentials))).kind).toBe('needs_reconnect');
  });

  it('treats an expired refresh token (7-day testing apps) as needs_reconnect', async () => {
    await callControl(google.url, 'POST', 'lifetimes', { refreshSeconds: 7 * 86400 });
    const connector = registry.get('youtube');
    const { ref, credentials } = refOf(await connect(connector));
    await advanceClock(google.url, 7 * 86400 + 1);
    expect((await connectorFailure(connector.refresh(ref, credentials))).kind).toBe('needs_reconnect');
  });
});

describe('Instagram connector (Instagram Login)', () => {
  for (const shape of ['data', 'flat'] as const) {
    it(`connects with the ${shape} token answer, refreshes only after 24 h, and has no revocation`, async () => {
      await callControl(instagram.url, 'POST', 'token-shape', { shape });
      const connector = registry.get('instagram');
      const redirectUri = registry.redirectUri('instagram');
      const start = connector.buildAuthorizeUrl({ state: 'ig-1', redirectUri });
      const q = params(start.url);
      expect(start.url.startsWith(`${instagram.url}/oauth/authorize?`)).toBe(true);
      expect(q.get('client_id')).toBe(instagram.env.INSTAGRAM_APP_ID);
      expect(q.get('scope')).toBe('instagram_business_basic,instagram_business_content_publish');
      expect(q.get('state')).toBe('ig-1');
      expect(q.has('code_challenge')).toBe(false);

      const { location, query } = await consent(start.url);
      expect(location.endsWith('#_')).toBe(true);
      // The raw code as some clients pass it along, with Instagram's `#_` still attached.
      const callback = connector.parseCallback({ ...query, code: `${query.code}#_` });
      if (!callback.ok) throw callback.error;
      expect(callback.code).toBe(query.code);
      const authorization = await connector.exchangeCode({ code: callback.code, redirectUri, codeVerifier: null });
      const { ref, credentials } = refOf(authorization);
      expect(authorization.accounts[0]?.profile).toEqual({
        platformAccountId: '17841400000000099',
        displayName: '@emulated.creator',
        avatarUrl: 'https://scontent.cdninstagram.example/emulated.jpg',
      });
      expect(credentials.accessToken).toMatch(/^IGQVJlong/);
      expect(credentials.refreshToken).toBeNull();
      expect((credentials.accessTokenExpiresAt?.getTime() ?? 0) - credentials.issuedAt.getTime()).toBe(5_184_000_000);
      expect(credentials.scopes).toEqual(['instagram_business_basic', 'instagram_business_content_publish']);

      const plan = connector.renewalPlan(ref, credentials, credentials.issuedAt);
      expect(plan.action).toBe('refresh');
      expect(plan.at.getTime() - credentials.issuedAt.getTime()).toBeGreaterThan(24 * HOUR * 1000);

      // Under 24 h old: nothing to refresh, and the platform is not asked.
      expect(await connector.refresh(ref, credentials)).toBe(credentials);
      expect(instagram.kit.requests.some((r) => r.path === '/refresh_access_token')).toBe(false);

      await advanceClock(instagram.url, 25 * HOUR);
      const refreshed = await connector.refresh(ref, credentials);
      expect(refreshed.accessToken).not.toBe(credentials.accessToken);
      expect(refreshed.issuedAt.getTime()).toBeGreaterThan(credentials.issuedAt.getTime());
      expect((await connector.readProfile(ref, refreshed)).platformAccountId).toBe('17841400000000099');

      expect(await connector.revoke(ref, refreshed)).toBe('not_offered');
      expect(instagram.kit.violations).toEqual([]);
    });
  }

  it('classifies a refused refresh as needs_reconnect and a used code as rejected', async () => {
    const connector = registry.get('instagram');
    const { ref, credentials } = refOf(await connect(connector));
    await advanceClock(instagram.url, 25 * HOUR);
    await callControl(instagram.url, 'POST', 'faults', [{ kind: 'invalid_grant', on: 'refresh' }]);
    const refused = await connectorFailure(connector.refresh(ref, credentials));
    expect(refused).toMatchObject({ kind: 'needs_reconnect', details: { code: '190/458' } });

    const redirectUri = registry.redirectUri('instagram');
    const start = connector.buildAuthorizeUrl({ state: 'ig-2', redirectUri });
    const { query } = await consent(start.url);
    const code = query.code as string;
    await connector.exchangeCode({ code, redirectUri, codeVerifier: null });
    const reused = await connectorFailure(connector.exchangeCode({ code, redirectUri, codeVerifier: null }));
    expect(reused.kind).toBe('rejected');
    expect(reused.message).toMatch(/Matching code was not found or was already used/);
  });

  it('reports the declined consent of Instagram (error_reason=user_denied)', async () => {
    const connector = registry.get('instagram');
    await callControl(instagram.url, 'POST', 'faults', [{ kind: 'deny_consent' }]);
    const start = connector.buildAuthorizeUrl({ state: 'ig-3', redirectUri: registry.redirectUri('instagram') });
    const outcome = connector.parseCallback((await consent(start.url)).query);
    expect(outcome).toMatchObject({ ok: false, state: 'ig-3', error: { kind: 'denied' } });
  });
});

describe('Facebook connector', () => {
  it('connects, lists the Pages the person may post to (following paging), checks validity, and revokes the grant', async () => {
    const connector = registry.get('facebook');
    const start = connector.buildAuthorizeUrl({ state: 'fb-1', redirectUri: registry.redirectUri('facebook') });
    const q = params(start.url);
    expect(start.url.startsWith(`${facebook.url}/v26.0/dialog/oauth?`)).toBe(true);
    expect(q.get('scope')).toBe('pages_show_list,pages_read_engagement,pages_manage_posts,publish_video');
    expect(q.get('state')).toBe('fb-1');
    expect(q.get('client_id')).toBe(facebook.env.FACEBOOK_APP_ID);

    const authorization = await connect(connector);
    expect(authorization.mustChoose).toBe(true);
    // The third Page only grants ANALYZE: it cannot be posted to, so it is not offered.
    expect(authorization.accounts.map((a) => a.profile)).toEqual([
      {
        platformAccountId: '500000000000001',
        displayName: 'Emulated Bakery',
        avatarUrl: 'https://scontent.example/bakery.jpg',
      },
      {
        platformAccountId: '500000000000002',
        displayName: 'Emulated Bookshop',
        avatarUrl: 'https://scontent.example/bookshop.jpg',
      },
    ]);
    // Two pages of /me/accounts at the emulator's page size of 2.
    expect(facebook.kit.requests.filter((r) => r.path === '/v26.0/me/accounts')).toHaveLength(2);
    expect(new Set(authorization.accounts.map((a) => a.grantKey))).toEqual(new Set(['facebook:900000000000001']));
    // The pending choice shown to the person carries no token; the confirmation accepts only offered ids.
    const summary = JSON.stringify(choiceSummary(authorization.accounts));
    for (const a of authorization.accounts) {
      expect(summary).not.toContain(a.credentials.accessToken);
      expect(summary).not.toContain(a.credentials.userToken);
    }
    expect(chooseAccounts(authorization, ['500000000000002']).map((a) => a.profile.displayName)).toEqual([
      'Emulated Bookshop',
    ]);
    expect(() => chooseAccounts(authorization, ['500000000000003'])).toThrow(/not offered/);
    expect(() => chooseAccounts(authorization, ['500000000000001', '500000000000001'])).toThrow(/twice/);
    expect(() => chooseAccounts(authorization, [])).toThrow(/at least one/);
    const { ref, credentials } = refOf(authorization);
    expect(credentials.accessTokenExpiresAt).toBeNull();
    expect(credentials.refreshToken).toBeNull();
    expect(credentials.userToken).toMatch(/^EAAL/);
    expect(credentials.accessToken).toMatch(/^EAAP/);

    const plan = connector.renewalPlan(ref, credentials, new Date());
    expect(plan.action).toBe('check');
    expect((await connector.readProfile(ref, credentials)).displayName).toBe('Emulated Bakery');
    expect((await connectorFailure(connector.refresh(ref, credentials))).kind).toBe('rejected');

    // A throttled check is transient; the Page token itself is fine.
    await callControl(facebook.url, 'POST', 'faults', [{ kind: 'rate_limit', on: 'profile' }]);
    expect(await connectorFailure(connector.readProfile(ref, credentials))).toMatchObject({
      kind: 'transient',
      details: { code: '4' },
    });

    expect(await connector.revoke(ref, credentials)).toBe('revoked');
    // Revoking the grant ends every Page token of it.
    const second = refOf(authorization, 1);
    const gone = await connectorFailure(connector.readProfile(second.ref, second.credentials));
    expect(gone).toMatchObject({ kind: 'needs_reconnect', details: { code: '190/458' } });
    expect(await connector.revoke(ref, credentials)).toBe('already_invalid');
    expect(facebook.kit.violations).toEqual([]);
  });

  it('names the permission a person switched off, and refuses an exchange with no postable Page', async () => {
    const connector = registry.get('facebook');
    await callControl(facebook.url, 'POST', 'consent', { permissions: ['pages_show_list', 'pages_read_engagement'] });
    const missing = await connectorFailure(connect(connector));
    expect(missing.kind).toBe('denied');
    expect(missing.message).toMatch(/without pages_manage_posts/);
    // publish_video is asked for, not required: declining it still connects.
    await callControl(facebook.url, 'POST', 'consent', {
      permissions: ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts'],
    });
    expect((await connect(connector)).accounts.length).toBeGreaterThan(0);

    await callControl(facebook.url, 'POST', 'consent', {
      permissions: null,
      user: {
        pages: [{ id: '1', name: 'Read only', category: 'x', tasks: ['ANALYZE'], pictureUrl: 'u', instagram: null }],
      },
    });
    expect((await connectorFailure(connect(connector))).message).toMatch(/No Facebook Page you may post to/);
  });

  it('reports a declined dialog as denied', async () => {
    const connector = registry.get('facebook');
    await callControl(facebook.url, 'POST', 'faults', [{ kind: 'deny_consent' }]);
    const start = connector.buildAuthorizeUrl({ state: 'fb-2', redirectUri: registry.redirectUri('facebook') });
    expect(connector.parseCallback((await consent(start.url)).query)).toMatchObject({
      ok: false,
      error: { kind: 'denied' },
    });
  });
});

describe('Instagram connector through a Facebook Page', () => {
  it("connects the Page's Instagram business account, reads it with the Page token, and revokes the grant", async () => {
    const connector = registry.get('instagram');
    const start = connector.buildAuthorizeUrl({
      state: 'igfb-1',
      redirectUri: registry.redirectUri('instagram'),
      via: 'facebook',
    });
    const q = params(start.url);
    expect(start.url.startsWith(`${facebook.url}/v26.0/dialog/oauth?`)).toBe(true);
    expect(q.get('scope')?.split(',')).toEqual(
      expect.arrayContaining(['instagram_basic', 'instagram_content_publish', 'pages_show_list']),
    );
    expect(q.get('redirect_uri')).toBe(`${PUBLIC_URL}/api/v1/connections/instagram/callback`);

    const authorization = await connect(connector, 'facebook');
    expect(authorization.mustChoose).toBe(true);
    expect(authorization.accounts.map((a) => [a.profile, a.via])).toEqual([
      [
        {
          platformAccountId: '17841400000000001',
          displayName: '@emulated.bakery',
          avatarUrl: 'https://scontent.example/bakery-ig.jpg',
        },
        'facebook',
      ],
    ]);
    const { ref, credentials } = refOf(authorization);
    expect(ref.via).toBe('facebook');
    expect(connector.renewalPlan(ref, credentials, new Date()).action).toBe('check');
    expect((await connector.readProfile(ref, credentials)).displayName).toBe('@emulated.bakery');
    expect((await connectorFailure(connector.refresh(ref, credentials))).kind).toBe('rejected');
    expect(await connector.revoke(ref, credentials)).toBe('revoked');
    expect((await connectorFailure(connector.readProfile(ref, credentials))).kind).toBe('needs_reconnect');
  });

  it('says so when no shared Page has an Instagram account', async () => {
    await callControl(facebook.url, 'POST', 'consent', {
      user: {
        pages: [{ id: '7', name: 'Plain', category: 'x', tasks: ['CREATE_CONTENT'], pictureUrl: 'u', instagram: null }],
      },
    });
    const error = await connectorFailure(connect(registry.get('instagram'), 'facebook'));
    expect(error.kind).toBe('denied');
    expect(error.message).toMatch(/Instagram professional account linked/);
  });

  it('names pages_read_engagement when the person declined it (3.1: publishing needs it)', async () => {
    await callControl(facebook.url, 'POST', 'consent', {
      permissions: ['instagram_basic', 'instagram_content_publish', 'pages_show_list', 'business_management'],
    });
    const error = await connectorFailure(connect(registry.get('instagram'), 'facebook'));
    expect(error.kind).toBe('denied');
    expect(error.message).toMatch(/pages_read_engagement/);
  });
});

describe('waits a platform asks for', () => {
  it('reads Retry-After in seconds or as a date, and Meta usage headers in minutes; nothing when none is sent', () => {
    expect(retryAfter(new Headers())).toBeUndefined();
    expect(retryAfter(new Headers({ 'retry-after': '30' }))).toBe(30);
    const soon = new Date(Date.now() + 90_000).toUTCString();
    expect(retryAfter(new Headers({ 'retry-after': soon }))).toBeGreaterThanOrEqual(88);
    const usage = JSON.stringify({ '1234': [{ type: 'pages', call_count: 100, estimated_time_to_regain_access: 5 }] });
    expect(retryAfter(new Headers({ 'x-business-use-case-usage': usage }))).toBe(300);
  });
});

describe('YouTube channel refusals (2.6)', () => {
  it('waits out every rate limit and treats forbidden as final, not as a reason to connect again', async () => {
    let reason = '';
    const server = createServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 403, message: reason, errors: [{ reason, domain: 'youtube.api' }] } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const connector = createYouTubeConnector({
        clientId: 'id',
        clientSecret: 's',
        authUrl: url,
        tokenUrl: url,
        apiUrl: url,
      });
      const credentials: Credentials = {
        accessToken: 'ya29.a',
        accessTokenExpiresAt: null,
        refreshToken: null,
        refreshTokenExpiresAt: null,
        userToken: null,
        userTokenExpiresAt: null,
        scopes: [],
        issuedAt: new Date(),
      };
      const ref = { platformAccountId: 'UC1', via: null };
      for (const [r, kind] of [
        ['rateLimitExceeded', 'transient'],
        ['userRateLimitExceeded', 'transient'],
        ['uploadRateLimitExceeded', 'transient'],
        ['quotaExceeded', 'transient'],
        ['insufficientPermissions', 'needs_reconnect'],
        ['forbidden', 'rejected'],
      ]) {
        reason = r as string;
        expect((await connectorFailure(connector.readProfile(ref, credentials))).kind, reason).toBe(kind);
      }
    } finally {
      server.close();
    }
  });
});

describe('connector errors never carry secrets', () => {
  it('scrubs tokens and client secrets a platform echoes back, and never names the URL', async () => {
    // A misbehaving token endpoint that echoes the whole request into its error.
    const echo = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_request', error_description: `bad request: ${body} ${req.url}` }));
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    try {
      const secret = 'very-secret-client-secret-value';
      const connector = createYouTubeConnector({
        clientId: 'id',
        clientSecret: secret,
        authUrl: url,
        tokenUrl: url,
        apiUrl: url,
      });
      const refreshToken = '1//refresh-token-that-must-not-leak';
      const ref = { platformAccountId: 'UC1', via: null };
      const credentials: Credentials = {
        accessToken: 'ya29.access-token-that-must-not-leak',
        accessTokenExpiresAt: null,
        refreshToken,
        refreshTokenExpiresAt: null,
        userToken: null,
        userTokenExpiresAt: null,
        scopes: [],
        issuedAt: new Date(),
      };
      const error = await connectorFailure(connector.refresh(ref, credentials));
      expect(error.message).toMatch(/bad request/);
      expect(error.message).not.toContain(secret);
      expect(error.message).not.toContain(refreshToken);
      expect(error.message).not.toContain(encodeURIComponent(refreshToken));
      expect(error.message).toContain('[redacted]');

      // Nobody listening: a network failure, transient, with no URL (Instagram puts tokens in query strings).
      await new Promise<void>((resolve) => echo.close(() => resolve()));
      const down = await connectorFailure(connector.refresh(ref, credentials));
      expect(down.kind).toBe('transient');
      expect(down.message).not.toContain(url);
    } finally {
      echo.close();
    }
  });
});
