import { randomUUID } from 'node:crypto';
import { and, eq, lt } from 'drizzle-orm';
import { oauthStates, type PendingAccount, pendingChoices } from '../../db/schema.js';
import { ConnectorError, PLATFORM_NAMES, type Platform } from '../../platforms/connector.js';
import { configuredConnector, hashState, verifierContext } from './authorize.js';
import { sealCredentials } from './credentials.js';
import { type ConnectionDeps, clock, type OwnerAccess } from './deps.js';
import { ensureOwner } from './owner.js';
import { connectionIdFor, storeConnection } from './store-connection.js';

/** How long a person has to pick Pages or accounts after the consent screen. */
export const CHOICE_LIFETIME_MS = 30 * 60_000;

export type CallbackResult =
  | { kind: 'connected'; platform: Platform; connectionIds: string[]; ownerStarted: boolean }
  | { kind: 'choose'; platform: Platform; pendingChoiceId: string };

/** A connection attempt that did not work, in words for the person who tried. */
export class ConnectionAttemptError extends Error {
  override name = 'ConnectionAttemptError';
  constructor(
    readonly platform: Platform,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The platform sent the browser back. The `state` must be one this caller started, unused and not
 * expired (it is consumed either way); then the code is exchanged, the tokens sealed at once, and
 * the connection stored and handed to its owner workflow, or offered as a pending choice.
 */
export async function completeAuthorization(
  deps: ConnectionDeps & { owner: OwnerAccess },
  request: { callerId: string | null; platform: Platform; query: Record<string, unknown>; ip?: string | undefined },
): Promise<CallbackResult> {
  const { platform } = request;
  const name = PLATFORM_NAMES[platform];
  const fail = (message: string) => new ConnectionAttemptError(platform, message);
  let connector: ReturnType<typeof configuredConnector>;
  try {
    connector = configuredConnector(deps, platform);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (!request.callerId) {
    throw fail(`Sign in to AutoPostPanel in this browser, then connect ${name} again.`);
  }
  const outcome = connector.parseCallback(request.query);
  const now = clock(deps);
  await deps.db.delete(oauthStates).where(lt(oauthStates.expiresAt, new Date(now.getTime() - 60 * 60_000)));
  // Single use: the row goes in the same statement that finds it, so a replay finds nothing.
  const [attempt] = outcome.state
    ? await deps.db
        .delete(oauthStates)
        .where(
          and(
            eq(oauthStates.stateHash, hashState(outcome.state)),
            eq(oauthStates.ownerId, request.callerId),
            eq(oauthStates.platform, platform),
          ),
        )
        .returning()
    : [];
  // The platform's own refusal (declined consent) is the more useful message, for an attempt this
  // caller started: a link anyone made up may carry any error_description.
  if (!outcome.ok && (attempt || outcome.error.kind === 'denied')) throw fail(outcome.error.message);
  if (!outcome.ok || !attempt) {
    throw fail(
      `This ${name} sign-in could not be matched to a connection you started here (already used, altered, or started by another account). Start connecting again.`,
    );
  }
  if (attempt.expiresAt.getTime() <= now.getTime()) {
    throw fail(`The ${name} sign-in took longer than 10 minutes and expired. Start connecting again.`);
  }
  const codeVerifier =
    attempt.codeVerifier === null ? null : deps.vault.open(attempt.codeVerifier, verifierContext(attempt.stateHash));
  let authorization: Awaited<ReturnType<typeof connector.exchangeCode>>;
  try {
    authorization = await connector.exchangeCode({
      code: outcome.code,
      redirectUri: deps.connectors.redirectUri(platform),
      codeVerifier,
      via: attempt.via ?? undefined,
    });
  } catch (err) {
    if (err instanceof ConnectorError) throw fail(err.message);
    throw err;
  }
  const ownerId = request.callerId;

  if (authorization.mustChoose) {
    const accounts: PendingAccount[] = [];
    for (const account of authorization.accounts) {
      const connectionId = await connectionIdFor(deps.db, ownerId, platform, account.profile.platformAccountId);
      const sealed = sealCredentials(deps.vault, connectionId, account.credentials);
      accounts.push({
        connectionId,
        platformAccountId: account.profile.platformAccountId,
        displayName: account.profile.displayName,
        avatarUrl: account.profile.avatarUrl,
        grantKey: account.grantKey,
        scopes: sealed.scopes,
        accessToken: sealed.accessToken,
        accessTokenExpiresAt: sealed.accessTokenExpiresAt?.toISOString() ?? null,
        refreshToken: sealed.refreshToken,
        refreshTokenExpiresAt: sealed.refreshTokenExpiresAt?.toISOString() ?? null,
        userToken: sealed.userToken,
        userTokenExpiresAt: sealed.userTokenExpiresAt?.toISOString() ?? null,
        issuedAt: sealed.issuedAt.toISOString(),
      });
    }
    const pendingChoiceId = randomUUID();
    await deps.db.delete(pendingChoices).where(lt(pendingChoices.expiresAt, now));
    await deps.db.insert(pendingChoices).values({
      id: pendingChoiceId,
      ownerId,
      platform,
      via: attempt.via,
      accounts,
      expiresAt: new Date(now.getTime() + CHOICE_LIFETIME_MS),
      createdAt: now,
    });
    return { kind: 'choose', platform, pendingChoiceId };
  }

  const connectionIds: string[] = [];
  for (const account of authorization.accounts) {
    const id = await connectionIdFor(deps.db, ownerId, platform, account.profile.platformAccountId);
    await storeConnection(
      deps.db,
      {
        id,
        ownerId,
        platform,
        via: account.via,
        platformAccountId: account.profile.platformAccountId,
        displayName: account.profile.displayName,
        avatarUrl: account.profile.avatarUrl,
        grantKey: account.grantKey,
        sealed: sealCredentials(deps.vault, id, account.credentials),
      },
      request.ip,
    );
    connectionIds.push(id);
  }
  return { kind: 'connected', platform, connectionIds, ownerStarted: await startOwners(deps.owner, connectionIds) };
}

/**
 * Hands each connection to its owner workflow. A Temporal outage does not undo the connection:
 * the tokens are stored, and the owner is started by the next worker start or renewal request.
 */
export async function startOwners(owner: OwnerAccess, connectionIds: string[]): Promise<boolean> {
  try {
    for (const id of connectionIds) await ensureOwner(owner, id);
    return true;
  } catch {
    return false;
  }
}
