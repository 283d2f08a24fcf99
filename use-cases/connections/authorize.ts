import { createHash, randomBytes } from 'node:crypto';
import { lt } from 'drizzle-orm';
import { oauthStates } from '../../db/schema.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import type { Platform, Via } from '../../platforms/connector.js';
import { PlatformNotConfiguredError } from '../../platforms/connectors.js';
import { type ConnectionDeps, clock } from './deps.js';

/** How long a person has to get through the platform's consent screen. */
export const STATE_LIFETIME_MS = 10 * 60_000;

export const hashState = (state: string) => createHash('sha256').update(state).digest('hex');
export const verifierContext = (stateHash: string) => `oauth-state:${stateHash}`;

/**
 * Starts connecting an account: a fresh `state` bound to the caller (only its hash is kept, with
 * the sealed PKCE verifier) and the platform's authorization URL to send the browser to.
 */
export async function startAuthorization(
  deps: ConnectionDeps,
  request: { ownerId: string; platform: Platform; via?: Via | undefined },
): Promise<{ authorizeUrl: string; expiresAt: Date }> {
  if (request.via && request.platform !== 'instagram') {
    throw new ValidationError([{ field: 'via', message: 'only Instagram can be reached through a Facebook Page' }]);
  }
  const connector = configuredConnector(deps, request.platform);
  const now = clock(deps);
  // Abandoned attempts go whenever a new one starts; nothing else reads them.
  await deps.db.delete(oauthStates).where(lt(oauthStates.expiresAt, now));
  const state = randomBytes(32).toString('base64url');
  const stateHash = hashState(state);
  let start: ReturnType<typeof connector.buildAuthorizeUrl>;
  try {
    start = connector.buildAuthorizeUrl({
      state,
      redirectUri: deps.connectors.redirectUri(request.platform),
      via: request.via,
    });
  } catch (err) {
    throw notConfigured(err) ?? err;
  }
  const expiresAt = new Date(now.getTime() + STATE_LIFETIME_MS);
  await deps.db.insert(oauthStates).values({
    stateHash,
    ownerId: request.ownerId,
    platform: request.platform,
    via: request.via ?? null,
    codeVerifier: start.codeVerifier === null ? null : deps.vault.seal(start.codeVerifier, verifierContext(stateHash)),
    expiresAt,
    createdAt: now,
  });
  return { authorizeUrl: start.url, expiresAt };
}

export function configuredConnector(deps: ConnectionDeps, platform: Platform) {
  try {
    return deps.connectors.get(platform);
  } catch (err) {
    throw notConfigured(err) ?? err;
  }
}

function notConfigured(err: unknown): ConflictError | undefined {
  return err instanceof PlatformNotConfiguredError
    ? new ConflictError('Platform not configured', err.message)
    : undefined;
}
