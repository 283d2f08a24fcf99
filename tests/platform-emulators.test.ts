import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import {
  signMetaRequest,
  signTikTokWebhook,
  verifyMetaSignedRequest,
  verifyTikTokSignature,
} from '../platforms/webhook-signatures.js';

const REDIRECT = 'http://127.0.0.1:3999/api/v1/connections/x/callback';

let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let instagram: InstagramEmulator;
let facebook: FacebookEmulator;

beforeAll(async () => {
  [tiktok, google, instagram, facebook] = await Promise.all([
    startTikTokEmulator(),
    startGoogleEmulator(),
    startInstagramEmulator(),
    startFacebookEmulator(),
  ]);
});

afterAll(async () => {
  await Promise.all([tiktok, google, instagram, facebook].map((e) => e?.stop()));
});

beforeEach(async () => {
  await Promise.all([tiktok, google, instagram, facebook].map((e) => callControl(e.url, 'POST', 'reset')));
});

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

async function answer(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** Follows an authorize URL to its redirect and returns the callback's query (and the raw location). */
async function authorize(url: string): Promise<{ location: string; query: URLSearchParams }> {
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const location = response.headers.get('location') ?? '';
  return { location, query: new URL(location).searchParams };
}

/** A one-shot receiver for the emulators' deauthorisation notices. */
async function receiver() {
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('TikTok emulator', () => {
  const tiktokAuthorize = (extra: Record<string, string> = {}) =>
    `${tiktok.url}/v2/auth/authorize/?${new URLSearchParams({
      client_key: tiktok.env.TIKTOK_CLIENT_KEY as string,
      scope: 'user.info.basic,video.publish',
      redirect_uri: REDIRECT,
      state: 's1',
      response_type: 'code',
      ...extra,
    })}`;
  const client = () => ({
    client_key: tiktok.env.TIKTOK_CLIENT_KEY as string,
    client_secret: tiktok.env.TIKTOK_CLIENT_SECRET as string,
  });

  async function pair() {
    const { query } = await authorize(tiktokAuthorize());
    return answer(
      `${tiktok.url}/v2/oauth/token/`,
      form({ ...client(), code: query.get('code') ?? '', grant_type: 'authorization_code', redirect_uri: REDIRECT }),
    );
  }

  it('issues flat token JSON with the configured lifetimes and echoes granted scopes on the callback', async () => {
    await callControl(tiktok.url, 'POST', 'lifetimes', { accessSeconds: 86400, refreshSeconds: 31536000 });
    const { query } = await authorize(tiktokAuthorize());
    expect(query.get('state')).toBe('s1');
    expect(query.get('scopes')).toBe('user.info.basic,video.publish');
    const { status, body } = await answer(
      `${tiktok.url}/v2/oauth/token/`,
      form({ ...client(), code: query.get('code') ?? '', grant_type: 'authorization_code', redirect_uri: REDIRECT }),
    );
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual([
      'access_token',
      'expires_in',
      'open_id',
      'refresh_expires_in',
      'refresh_token',
      'scope',
      'token_type',
    ]);
    expect(body).toMatchObject({ expires_in: 86400, refresh_expires_in: 31536000, token_type: 'Bearer' });
    expect(tiktok.kit.violations).toEqual([]);
  });

  it('answers OAuth errors with HTTP 200 by default and records contract breaks', async () => {
    const json = await answer(`${tiktok.url}/v2/oauth/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...client(), grant_type: 'refresh_token', refresh_token: 'x' }),
    });
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ error: 'invalid_request' });
    expect(json.body.log_id).toEqual(expect.any(String));
    await authorize(
      tiktokAuthorize({ code_challenge: 'abc', code_challenge_method: 'S256', scope: 'user.info.basic video.publish' }),
    );
    expect(tiktok.kit.violations.map((v) => v.problem)).toEqual([
      'content type application/json instead of application/x-www-form-urlencoded',
      'PKCE sent on the web flow, which takes none',
      'scopes separated by spaces instead of commas',
    ]);
  });

  it('rotates refresh tokens: the old one stops working, and its reuse is counted', async () => {
    const first = (await pair()).body;
    const refresh = (token: string) =>
      answer(`${tiktok.url}/v2/oauth/token/`, form({ ...client(), grant_type: 'refresh_token', refresh_token: token }));
    const second = await refresh(first.refresh_token as string);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    const reuse = await refresh(first.refresh_token as string);
    expect(reuse).toMatchObject({ status: 200, body: { error: 'invalid_grant' } });
    expect(tiktok.kit.violations.map((v) => v.problem)).toEqual(['rotated refresh token used again']);
    expect((await refresh(second.body.refresh_token as string)).body.access_token).toEqual(expect.any(String));
  });

  it('expires access tokens on its clock and answers the /v2 envelope', async () => {
    const tokens = (await pair()).body;
    const info = () =>
      answer(`${tiktok.url}/v2/user/info/?fields=open_id,display_name`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
    expect(await info()).toMatchObject({
      status: 200,
      body: { data: { user: { open_id: 'tt-open-0001', display_name: 'Emulated Creator' } }, error: { code: 'ok' } },
    });
    await callControl(tiktok.url, 'POST', 'clock', { advanceSeconds: 2 * 3600 + 1 });
    expect(await info()).toMatchObject({ status: 401, body: { error: { code: 'access_token_invalid' } } });
  });

  it('revokes the grant, and on deauthorisation sends a signed authorization.removed webhook', async () => {
    const tokens = (await pair()).body;
    const hook = await receiver();
    try {
      const result = (await callControl(tiktok.url, 'POST', 'deauthorize', { webhookUrl: hook.url, reason: 1 })) as {
        revokedTokens: number;
        delivered: number;
      };
      expect(result).toEqual({ revokedTokens: 2, delivered: 200 });
      const [notice] = hook.received;
      const event = JSON.parse(notice?.body ?? '{}');
      expect(event).toMatchObject({ event: 'authorization.removed', user_openid: 'tt-open-0001' });
      expect(JSON.parse(event.content)).toEqual({ reason: 1 });
      const check = verifyTikTokSignature(
        notice?.headers['tiktok-signature'] as string,
        notice?.body ?? '',
        tiktok.env.TIKTOK_CLIENT_SECRET as string,
        Math.floor(Date.now() / 1000),
      );
      expect(check.ok).toBe(true);
    } finally {
      await hook.close();
    }
    const refused = await answer(
      `${tiktok.url}/v2/oauth/token/`,
      form({ ...client(), grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }),
    );
    expect(refused.body.error).toBe('invalid_grant');
  });
});

describe('Google emulator', () => {
  const googleAuthorize = (extra: Record<string, string> = {}) =>
    `${google.url}/o/oauth2/v2/auth?${new URLSearchParams({
      client_id: google.env.GOOGLE_CLIENT_ID as string,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly',
      state: 'g1',
      ...extra,
    })}`;
  const exchange = (code: string) =>
    answer(
      `${google.url}/token`,
      form({
        code,
        client_id: google.env.GOOGLE_CLIENT_ID as string,
        client_secret: google.env.GOOGLE_CLIENT_SECRET as string,
        redirect_uri: REDIRECT,
        grant_type: 'authorization_code',
      }),
    );

  it('gives a refresh token for offline access on first consent or with prompt=consent only', async () => {
    const online = await exchange((await authorize(googleAuthorize())).query.get('code') ?? '');
    expect(online.body.refresh_token).toBeUndefined();
    const first = await exchange(
      (await authorize(googleAuthorize({ access_type: 'offline' }))).query.get('code') ?? '',
    );
    expect(first.body.refresh_token).toEqual(expect.any(String));
    const again = await exchange(
      (await authorize(googleAuthorize({ access_type: 'offline' }))).query.get('code') ?? '',
    );
    expect(again.body.refresh_token).toBeUndefined();
    const forced = await exchange(
      (await authorize(googleAuthorize({ access_type: 'offline', prompt: 'consent' }))).query.get('code') ?? '',
    );
    expect(forced.body.refresh_token).toEqual(expect.any(String));

    const refreshed = await answer(
      `${google.url}/token`,
      form({
        client_id: google.env.GOOGLE_CLIENT_ID as string,
        client_secret: google.env.GOOGLE_CLIENT_SECRET as string,
        grant_type: 'refresh_token',
        refresh_token: forced.body.refresh_token as string,
      }),
    );
    expect(refreshed.status).toBe(200);
    expect(Object.keys(refreshed.body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
  });

  it('answers invalid_grant with HTTP 400 for a used code and for a revoked refresh token', async () => {
    const code = (await authorize(googleAuthorize({ access_type: 'offline' }))).query.get('code') ?? '';
    const tokens = (await exchange(code)).body;
    expect(await exchange(code)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Bad Request' },
    });
    expect(google.kit.violations.map((v) => v.problem)).toEqual(['authorization code used twice']);
    const revoked = await answer(`${google.url}/revoke?token=${tokens.access_token}`, form({}));
    expect(revoked.status).toBe(200);
    const refresh = await answer(
      `${google.url}/token`,
      form({
        client_id: google.env.GOOGLE_CLIENT_ID as string,
        client_secret: google.env.GOOGLE_CLIENT_SECRET as string,
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token as string,
      }),
    );
    expect(refresh).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
    });
  });

  it('answers the channel list in the YouTube shape, and Google errors for bad tokens', async () => {
    const tokens = (await exchange((await authorize(googleAuthorize())).query.get('code') ?? '')).body;
    const list = await answer(`${google.url}/youtube/v3/channels?part=snippet&mine=true`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(list.body).toMatchObject({
      kind: 'youtube#channelListResponse',
      items: [{ id: 'UCemulatorChannel000000001', snippet: { title: 'Emulated Channel' } }],
    });
    const bad = await answer(`${google.url}/youtube/v3/channels?part=snippet&mine=true`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } });
  });
});

describe('Instagram emulator', () => {
  const igAuthorize = () =>
    `${instagram.url}/oauth/authorize?${new URLSearchParams({
      client_id: instagram.env.INSTAGRAM_APP_ID as string,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'instagram_business_basic,instagram_business_content_publish',
      state: 'i1',
    })}`;
  const shortLived = (code: string) =>
    answer(
      `${instagram.url}/oauth/access_token`,
      form({
        client_id: instagram.env.INSTAGRAM_APP_ID as string,
        client_secret: instagram.env.INSTAGRAM_APP_SECRET as string,
        grant_type: 'authorization_code',
        redirect_uri: REDIRECT,
        code,
      }),
    );

  it('appends #_ to the callback and answers the code exchange in the chosen shape', async () => {
    const { location, query } = await authorize(igAuthorize());
    expect(location).toMatch(/#_$/);
    const documented = await shortLived(query.get('code') ?? '');
    expect(documented.body).toEqual({
      data: [
        {
          access_token: expect.any(String),
          user_id: '17841400000000099',
          permissions: 'instagram_business_basic,instagram_business_content_publish',
        },
      ],
    });
    await callControl(instagram.url, 'POST', 'token-shape', { shape: 'flat' });
    const flat = await shortLived((await authorize(igAuthorize())).query.get('code') ?? '');
    expect(flat.body).toEqual({
      access_token: expect.any(String),
      user_id: '17841400000000099',
      permissions: 'instagram_business_basic,instagram_business_content_publish',
    });
    expect(await shortLived(query.get('code') ?? '')).toEqual({
      status: 400,
      body: {
        error_type: 'OAuthException',
        code: 400,
        error_message: 'Matching code was not found or was already used',
      },
    });
  });

  it('refreshes long-lived tokens only once they are 24 hours old (on its own clock)', async () => {
    const short = (await shortLived((await authorize(igAuthorize())).query.get('code') ?? '')).body as {
      data: { access_token: string }[];
    };
    const long = await answer(
      `${instagram.url}/access_token?${new URLSearchParams({
        grant_type: 'ig_exchange_token',
        client_secret: instagram.env.INSTAGRAM_APP_SECRET as string,
        access_token: short.data[0]?.access_token ?? '',
      })}`,
    );
    expect(long.body).toMatchObject({ token_type: 'bearer', expires_in: 5_184_000 });
    const refresh = () =>
      answer(
        `${instagram.url}/refresh_access_token?grant_type=ig_refresh_token&access_token=${long.body.access_token}`,
      );
    const early = await refresh();
    expect(early).toMatchObject({ status: 400, body: { error: { code: 100 } } });
    expect(instagram.kit.violations.map((v) => v.problem)).toEqual(['refresh of a token under 24 hours old']);
    await callControl(instagram.url, 'POST', 'lifetimes', { minRefreshAgeSeconds: 3600 });
    await callControl(instagram.url, 'POST', 'clock', { advanceSeconds: 3601 });
    expect((await refresh()).body).toMatchObject({ access_token: expect.any(String), expires_in: 5_184_000 });
    // The short-lived token has expired by now (1 h): Graph's 190/463.
    const expired = await answer(`${instagram.url}/v26.0/me?fields=user_id`, {
      headers: { authorization: `Bearer ${short.data[0]?.access_token}` },
    });
    expect(expired.body).toMatchObject({ error: { type: 'OAuthException', code: 190, error_subcode: 463 } });
  });
});

describe('Facebook emulator', () => {
  async function userToken(): Promise<string> {
    const { query } = await authorize(
      `${facebook.url}/v26.0/dialog/oauth?${new URLSearchParams({
        client_id: facebook.env.FACEBOOK_APP_ID as string,
        redirect_uri: REDIRECT,
        state: 'f1',
        scope: 'pages_show_list,pages_manage_posts',
      })}`,
    );
    const app = {
      client_id: facebook.env.FACEBOOK_APP_ID as string,
      client_secret: facebook.env.FACEBOOK_APP_SECRET as string,
    };
    const short = await answer(
      `${facebook.url}/v26.0/oauth/access_token?${new URLSearchParams({ ...app, redirect_uri: REDIRECT, code: query.get('code') ?? '' })}`,
    );
    expect(short.body).toMatchObject({ token_type: 'bearer', expires_in: 7200 });
    const long = await answer(
      `${facebook.url}/v26.0/oauth/access_token?${new URLSearchParams({
        ...app,
        grant_type: 'fb_exchange_token',
        fb_exchange_token: short.body.access_token as string,
      })}`,
    );
    expect(long.body).toMatchObject({ token_type: 'bearer', expires_in: 5_183_976 });
    return long.body.access_token as string;
  }

  it('pages /me/accounts with cursors, and Page tokens from a long-lived user token outlive it', async () => {
    const token = await userToken();
    const first = await answer(`${facebook.url}/v26.0/me/accounts?fields=id,name,access_token&access_token=${token}`);
    const data = first.body.data as { id: string; access_token: string }[];
    expect(data.map((p) => p.id)).toEqual(['500000000000001', '500000000000002']);
    const paging = first.body.paging as { next: string; cursors: { after: string } };
    expect(paging.next).toContain(`after=${paging.cursors.after}`);
    const rest = await answer(paging.next);
    expect((rest.body.data as { id: string }[]).map((p) => p.id)).toEqual(['500000000000003']);
    expect((rest.body.paging as Record<string, unknown>).next).toBeUndefined();

    const pageToken = data[0]?.access_token as string;
    await callControl(facebook.url, 'POST', 'clock', { advanceSeconds: 61 * 86400 });
    const page = await answer(`${facebook.url}/v26.0/500000000000001?fields=id,name`, {
      headers: { authorization: `Bearer ${pageToken}` },
    });
    expect(page.body).toEqual({ id: '500000000000001', name: 'Emulated Bakery' });
    const user = await answer(`${facebook.url}/v26.0/me?access_token=${token}`);
    expect(user.body).toMatchObject({ error: { code: 190, error_subcode: 463, type: 'OAuthException' } });
  });

  it('DELETE /me/permissions ends the grant and every Page token; deauthorisation posts a signed_request', async () => {
    const token = await userToken();
    const pages = await answer(`${facebook.url}/v26.0/me/accounts?fields=id,access_token`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const pageToken = (pages.body.data as { access_token: string }[])[0]?.access_token;
    const deleted = await answer(`${facebook.url}/v26.0/me/permissions`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(deleted.body).toEqual({ success: true });
    const after = await answer(`${facebook.url}/v26.0/me`, { headers: { authorization: `Bearer ${pageToken}` } });
    expect(after).toMatchObject({ status: 400, body: { error: { code: 190, error_subcode: 458 } } });

    await userToken();
    const hook = await receiver();
    try {
      const result = await callControl(facebook.url, 'POST', 'deauthorize', { callbackUrl: hook.url });
      expect(result).toMatchObject({ delivered: 200 });
      const signed = new URLSearchParams(hook.received[0]?.body).get('signed_request') ?? undefined;
      const check = verifyMetaSignedRequest(signed, facebook.env.FACEBOOK_APP_SECRET as string);
      expect(check).toMatchObject({ ok: true, value: { user_id: '900000000000001', algorithm: 'HMAC-SHA256' } });
    } finally {
      await hook.close();
    }
  });

  it('answers missing tokens and unknown objects in the Graph error shape and counts contract breaks', async () => {
    const none = await answer(`${facebook.url}/v26.0/me`);
    expect(none.body).toMatchObject({ error: { code: 2500, type: 'OAuthException', fbtrace_id: expect.any(String) } });
    const token = await userToken();
    const missing = await answer(`${facebook.url}/v26.0/123?fields=id`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(missing.body).toMatchObject({ error: { code: 100, type: 'GraphMethodException' } });
    expect(facebook.kit.violations.map((v) => v.problem)).toEqual(['no access token']);
  });
});

describe('emulator control API', () => {
  it('validates fault bodies and resets everything', async () => {
    await expect(callControl(tiktok.url, 'POST', 'faults', [{ kind: 'explode' }])).rejects.toThrow(
      /kind must be one of/,
    );
    await expect(callControl(google.url, 'POST', 'clock', { advanceSeconds: 'soon' })).rejects.toThrow(
      /advanceSeconds/,
    );
    await callControl(google.url, 'POST', 'faults', [{ kind: 'server_error', on: 'token' }]);
    expect(google.kit.faults).toHaveLength(1);
    await callControl(google.url, 'POST', 'reset');
    expect(google.kit.faults).toHaveLength(0);
    expect(await callControl(google.url, 'GET', 'violations')).toEqual([]);
  });
});

describe('webhook signatures', () => {
  const secret = 'tiktok-client-secret';
  const body = '{"event":"authorization.removed","user_openid":"abc"}';
  const now = 1_800_000_000;

  it('accepts a valid TikTok-Signature and refuses tampering, wrong secrets, stale times and junk', () => {
    const header = signTikTokWebhook(body, secret, now);
    expect(header).toMatch(/^t=1800000000,s=[0-9a-f]{64}$/);
    expect(verifyTikTokSignature(header, body, secret, now + 10)).toEqual({ ok: true, value: { timestamp: now } });
    expect(verifyTikTokSignature(header, Buffer.from(body), secret, now)).toMatchObject({ ok: true });
    expect(verifyTikTokSignature(header, body.replace('abc', 'abd'), secret, now)).toEqual({
      ok: false,
      reason: 'signature does not match',
    });
    expect(verifyTikTokSignature(header, body, 'other-secret', now).ok).toBe(false);
    expect(verifyTikTokSignature(header, body, secret, now + 301)).toEqual({
      ok: false,
      reason: 'signature timestamp outside the accepted window',
    });
    // A replayed signature with a forged newer timestamp does not match.
    const forged = header.replace(`t=${now}`, `t=${now + 100}`);
    expect(verifyTikTokSignature(forged, body, secret, now + 100).ok).toBe(false);
    for (const junk of [undefined, '', 's=abc', 't=now,s=abc', `t=${now}`]) {
      expect(verifyTikTokSignature(junk, body, secret, now).ok).toBe(false);
    }
  });

  it('verifies a Meta signed_request and refuses a wrong secret, a changed payload or another algorithm', () => {
    const appSecret = 'meta-app-secret';
    const signed = signMetaRequest({ user_id: '42', issued_at: now }, appSecret);
    expect(verifyMetaSignedRequest(signed, appSecret)).toEqual({
      ok: true,
      value: { algorithm: 'HMAC-SHA256', user_id: '42', issued_at: now },
    });
    expect(verifyMetaSignedRequest(signed, 'wrong')).toEqual({ ok: false, reason: 'signature does not match' });
    const [sig] = signed.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ algorithm: 'HMAC-SHA256', user_id: '43' })).toString('base64url');
    expect(verifyMetaSignedRequest(`${sig}.${otherPayload}`, appSecret).ok).toBe(false);
    const plain = signMetaRequest({ algorithm: 'none', user_id: '42' }, appSecret);
    expect(verifyMetaSignedRequest(plain, appSecret)).toEqual({ ok: false, reason: 'unexpected algorithm' });
    for (const junk of [undefined, '', 'abc', '.abc', 'abc.', 'a b.c']) {
      expect(verifyMetaSignedRequest(junk, appSecret).ok).toBe(false);
    }
  });
});
