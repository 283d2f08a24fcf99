import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signatures on the platforms' deauthorisation notices: TikTok's webhooks (`TikTok-Signature:
 * t=<unix seconds>,s=<hex HMAC-SHA256 of "t.body">`, keyed with the client secret) and Meta's
 * `signed_request` (`<base64url HMAC-SHA256 of the payload part>.<base64url JSON payload>`, keyed
 * with the app secret). Both verify against the raw body bytes, before any parsing trusts them.
 */

export type SignatureCheck<T = undefined> = { ok: true; value: T } | { ok: false; reason: string };

/** TikTok's default replay window; their docs leave the tolerance to the receiver. */
const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

function hmacSha256(secret: string, data: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function signTikTokWebhook(body: string | Buffer, clientSecret: string, timestampSeconds: number): string {
  const signature = hmacSha256(clientSecret, Buffer.concat([Buffer.from(`${timestampSeconds}.`), Buffer.from(body)]));
  return `t=${timestampSeconds},s=${signature.toString('hex')}`;
}

export function verifyTikTokSignature(
  header: string | undefined,
  rawBody: string | Buffer,
  clientSecret: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
): SignatureCheck<{ timestamp: number }> {
  if (!header) return { ok: false, reason: 'missing TikTok-Signature header' };
  const fields = new Map<string, string[]>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    fields.set(key, [...(fields.get(key) ?? []), part.slice(eq + 1).trim()]);
  }
  const t = fields.get('t')?.[0];
  const signatures = fields.get('s') ?? [];
  if (!t || !/^\d{1,12}$/.test(t) || signatures.length === 0) {
    return { ok: false, reason: 'malformed TikTok-Signature header' };
  }
  const timestamp = Number(t);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    return { ok: false, reason: 'signature timestamp outside the accepted window' };
  }
  const expected = hmacSha256(clientSecret, Buffer.concat([Buffer.from(`${t}.`), Buffer.from(rawBody)]));
  const matches = signatures.some((s) => /^[0-9a-f]{64}$/i.test(s) && sameBytes(Buffer.from(s, 'hex'), expected));
  return matches ? { ok: true, value: { timestamp } } : { ok: false, reason: 'signature does not match' };
}

export interface MetaSignedRequest {
  user_id: string;
  algorithm: string;
  issued_at?: number;
  [key: string]: unknown;
}

export function signMetaRequest(payload: Record<string, unknown>, appSecret: string): string {
  const encoded = Buffer.from(JSON.stringify({ algorithm: 'HMAC-SHA256', ...payload })).toString('base64url');
  return `${hmacSha256(appSecret, encoded).toString('base64url')}.${encoded}`;
}

/** Verifies a Meta `signed_request` (deauthorize and data-deletion callbacks) and returns its payload. */
export function verifyMetaSignedRequest(
  signedRequest: string | undefined,
  appSecret: string,
): SignatureCheck<MetaSignedRequest> {
  if (!signedRequest) return { ok: false, reason: 'missing signed_request' };
  const dot = signedRequest.indexOf('.');
  if (dot <= 0 || dot === signedRequest.length - 1) return { ok: false, reason: 'malformed signed_request' };
  const signature = signedRequest.slice(0, dot);
  const encodedPayload = signedRequest.slice(dot + 1);
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(signature) || !/^[A-Za-z0-9_-]+={0,2}$/.test(encodedPayload)) {
    return { ok: false, reason: 'malformed signed_request' };
  }
  const expected = hmacSha256(appSecret, encodedPayload);
  if (!sameBytes(Buffer.from(signature, 'base64url'), expected))
    return { ok: false, reason: 'signature does not match' };
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'signed_request payload is not JSON' };
  }
  const record = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {};
  if (String(record.algorithm).toUpperCase() !== 'HMAC-SHA256') return { ok: false, reason: 'unexpected algorithm' };
  const userId = typeof record.user_id === 'string' || typeof record.user_id === 'number' ? String(record.user_id) : '';
  if (!userId) return { ok: false, reason: 'signed_request names no user' };
  return { ok: true, value: { ...record, user_id: userId, algorithm: 'HMAC-SHA256' } as MetaSignedRequest };
}
