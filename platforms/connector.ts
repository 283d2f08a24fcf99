/**
 * The one interface every platform's OAuth connector implements. A connector is stateless: the
 * caller keeps the `state`, the PKCE verifier and the (encrypted) credentials, and hands them back.
 * Nothing here touches the database or Temporal, so activities can wrap each call one to one.
 */

export const PLATFORMS = ['tiktok', 'youtube', 'instagram', 'facebook'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const isPlatform = (value: unknown): value is Platform => PLATFORMS.includes(value as Platform);

/** Instagram offers two logins; `facebook` means an Instagram account reached through a Facebook Page. */
export type Via = 'facebook';

export interface AuthorizeInput {
  /** Opaque, unguessable, single use; the callback must find it again. */
  state: string;
  redirectUri: string;
  via?: Via;
}

export interface AuthorizeStart {
  url: string;
  /** PKCE verifier to keep beside `state` for the exchange (Google only; null elsewhere). */
  codeVerifier: string | null;
}

/** What the platform put on the redirect back to us, already validated. */
export type CallbackOutcome =
  | { ok: true; code: string; state: string; grantedScopes: string[] | null }
  | { ok: false; state: string | null; error: ConnectorError };

export interface ExchangeInput {
  code: string;
  redirectUri: string;
  codeVerifier: string | null;
  via?: Via;
}

/** Every secret a connection holds. Stored only through the token vault. */
export interface Credentials {
  accessToken: string;
  /** null: the token does not expire by time (Facebook Page tokens from a long-lived user token). */
  accessTokenExpiresAt: Date | null;
  refreshToken: string | null;
  refreshTokenExpiresAt: Date | null;
  /**
   * Meta only: the long-lived user token the Page token came from. Revoking the grant
   * (DELETE /me/permissions) needs it; it is never used to publish.
   */
  userToken: string | null;
  userTokenExpiresAt: Date | null;
  scopes: string[];
  /** When the access token was issued; Instagram refuses to refresh tokens under 24 h old. */
  issuedAt: Date;
}

export interface Profile {
  platformAccountId: string;
  displayName: string;
  avatarUrl: string | null;
}

/** Which account a set of credentials belongs to; every call after the exchange takes it. */
export interface AccountRef {
  platformAccountId: string;
  via: Via | null;
}

export interface ConnectedAccount {
  profile: Profile;
  credentials: Credentials;
  via: Via | null;
  /**
   * Accounts sharing a grant key share one platform grant (a Facebook user's consent covers all
   * their Pages): revoking it ends all of them, so disconnect revokes only with the last one.
   */
  grantKey: string;
}

export interface Authorization {
  accounts: ConnectedAccount[];
  /**
   * True when the person must pick which of `accounts` to connect (Facebook Pages, Instagram
   * accounts behind Pages). The caller keeps them as a pending choice until one is confirmed.
   */
  mustChoose: boolean;
}

/** What the renewal owner should do next, and when. */
export type RenewalPlan =
  /** Use the refresh token (TikTok, YouTube) or refresh by exchange (Instagram Login) at `at`. */
  | { action: 'refresh'; at: Date }
  /** No refresh exists (Facebook Page tokens): ask the platform whether the token still works at `at`. */
  | { action: 'check'; at: Date };

export type RevokeOutcome = 'revoked' | 'already_invalid' | 'not_offered';

export interface Connector {
  platform: Platform;
  /** Scopes asked for, in the platform's spelling. */
  scopes(via?: Via): string[];
  buildAuthorizeUrl(input: AuthorizeInput): AuthorizeStart;
  /** Reads the callback's query string (errors, `#_` suffixes, granted scopes). */
  parseCallback(query: Record<string, unknown>): CallbackOutcome;
  exchangeCode(input: ExchangeInput): Promise<Authorization>;
  /** Returns the new credentials to store atomically; the old refresh token may be dead already. */
  refresh(account: AccountRef, credentials: Credentials): Promise<Credentials>;
  readProfile(account: AccountRef, credentials: Credentials): Promise<Profile>;
  revoke(account: AccountRef, credentials: Credentials): Promise<RevokeOutcome>;
  renewalPlan(account: AccountRef, credentials: Credentials, now: Date): RenewalPlan;
}

/**
 * - `needs_reconnect`: the platform definitively refused the grant (revoked, expired refresh token,
 *   invalid_grant, Graph 190); only the person can fix it by connecting again.
 * - `access_expired`: the access token stopped working but the grant may live: refresh, then retry
 *   once; a refusal of that refresh is the `needs_reconnect`.
 * - `transient`: network, 5xx, throttling; retry later (after `retryAfterSeconds` when known).
 * - `denied`: the person declined, granted too little, or has no usable account (no channel, no Page).
 * - `rejected`: the platform refused our request (bad client credentials, redirect URI, used code);
 *   retrying the same thing cannot help, an operator or a fresh attempt can.
 */
export type ConnectorErrorKind = 'needs_reconnect' | 'access_expired' | 'transient' | 'denied' | 'rejected';

/** Messages are built only from the platform's error codes and descriptions, never from tokens or secrets. */
export class ConnectorError extends Error {
  override name = 'ConnectorError';
  constructor(
    readonly platform: Platform,
    readonly kind: ConnectorErrorKind,
    message: string,
    readonly details: { status?: number; code?: string; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }

  get retryable(): boolean {
    return this.kind === 'transient';
  }
}

export const PLATFORM_NAMES: Record<Platform, string> = {
  tiktok: 'TikTok',
  youtube: 'YouTube',
  instagram: 'Instagram',
  facebook: 'Facebook',
};

/** The redirect URI registered with each platform's developer app. */
export function redirectUriFor(publicUrl: string, platform: Platform): string {
  return `${publicUrl.replace(/\/+$/, '')}/api/v1/connections/${platform}/callback`;
}

/** The part of a pending choice a person may see: never the credentials. */
export function choiceSummary(accounts: ConnectedAccount[]): Profile[] {
  return accounts.map(({ profile }) => ({ ...profile }));
}

/**
 * The accounts a person confirmed from a pending choice, by platform account id. Unknown or repeated
 * ids are refused, so a confirmation can never smuggle in an account the platform did not offer.
 */
export function chooseAccounts(authorization: Authorization, ids: string[]): ConnectedAccount[] {
  const offered = new Map(authorization.accounts.map((a) => [a.profile.platformAccountId, a]));
  if (ids.length === 0) throw new RangeError('Choose at least one account');
  if (new Set(ids).size !== ids.length) throw new RangeError('An account was chosen twice');
  return ids.map((id) => {
    const account = offered.get(id);
    if (!account) throw new RangeError(`Account ${id} was not offered by this connection attempt`);
    return account;
  });
}

/** One query value as a string; Express gives arrays for repeated keys, which we refuse. */
export function queryText(query: Record<string, unknown>, name: string): string | null {
  const value = query[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * The callback shape shared by all four platforms: `code` + `state` on success, `error` (+
 * `error_description` / `error_reason`) on refusal. A consent the person declined is `denied`.
 */
export function parseStandardCallback(
  platform: Platform,
  query: Record<string, unknown>,
  scopeSeparator: RegExp,
  scopeParam = 'scope',
): CallbackOutcome {
  const state = queryText(query, 'state');
  const error = queryText(query, 'error');
  if (error !== null) {
    const description = queryText(query, 'error_description') ?? queryText(query, 'error_reason');
    const declined = error === 'access_denied' || queryText(query, 'error_reason') === 'user_denied';
    const message = declined
      ? `${PLATFORM_NAMES[platform]} access was not granted: the consent screen was declined.`
      : `${PLATFORM_NAMES[platform]} refused the connection: ${describeError(error, description)}`;
    return { ok: false, state, error: new ConnectorError(platform, declined ? 'denied' : 'rejected', message) };
  }
  // Instagram appends `#_` to the code; a copy-pasted or unusual client may pass it along.
  const code = queryText(query, 'code')?.replace(/#_?$/, '') ?? null;
  if (code === null || code === '' || state === null) {
    return {
      ok: false,
      state,
      error: new ConnectorError(
        platform,
        'rejected',
        `${PLATFORM_NAMES[platform]} sent the browser back without ${code ? 'a state' : 'an authorization code'}; start connecting again.`,
      ),
    };
  }
  const scopes = queryText(query, scopeParam);
  return { ok: true, code, state, grantedScopes: scopes === null ? null : splitScopes(scopes, scopeSeparator) };
}

export function splitScopes(text: string, separator: RegExp): string[] {
  return text
    .split(separator)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** "code: description" with the description cut short; descriptions are platform prose, never ours. */
export function describeError(code: string | undefined, description: string | null | undefined): string {
  const text = (description ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  if (!code) return text || 'no reason given';
  return text ? `${text} (${code})` : code;
}

/** `expires_in` seconds from `now`, or null when the platform gave none. */
export function expiryFrom(now: Date, expiresIn: unknown): Date | null {
  const seconds = typeof expiresIn === 'string' ? Number(expiresIn) : expiresIn;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) return null;
  return new Date(now.getTime() + seconds * 1000);
}

/**
 * When to refresh a token that expires at `expiresAt`: at 80 % of its remaining life, but at
 * least `minLead` before it ends, and never before `notBefore`.
 */
export function refreshTime(now: Date, issuedAt: Date, expiresAt: Date, minLeadMs: number, notBefore?: Date): Date {
  const life = expiresAt.getTime() - issuedAt.getTime();
  const byShare = issuedAt.getTime() + life * 0.8;
  const byLead = expiresAt.getTime() - minLeadMs;
  let at = Math.min(byShare, byLead);
  if (notBefore) at = Math.max(at, notBefore.getTime());
  return new Date(Math.max(at, now.getTime()));
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
