import type { Credentials } from '../../platforms/connector.js';
import type { TokenVault } from '../../vault/token-vault.js';

/** The credential columns of a `connections` row (and of an offered account in a pending choice). */
export interface SealedCredentials {
  accessToken: string;
  accessTokenExpiresAt: Date | null;
  refreshToken: string | null;
  refreshTokenExpiresAt: Date | null;
  userToken: string | null;
  userTokenExpiresAt: Date | null;
  scopes: string[];
  issuedAt: Date;
}

export const SECRET_FIELDS = ['accessToken', 'refreshToken', 'userToken'] as const;

/**
 * What a sealed value is bound to: the connection it belongs to and its column. A sealed token
 * copied to another row or column fails to open.
 */
export const sealContext = (connectionId: string, field: (typeof SECRET_FIELDS)[number]) =>
  `connection:${connectionId}:${field}`;

export function sealCredentials(vault: TokenVault, connectionId: string, credentials: Credentials): SealedCredentials {
  const seal = (value: string | null, field: (typeof SECRET_FIELDS)[number]) =>
    value === null ? null : vault.seal(value, sealContext(connectionId, field));
  return {
    accessToken: vault.seal(credentials.accessToken, sealContext(connectionId, 'accessToken')),
    accessTokenExpiresAt: credentials.accessTokenExpiresAt,
    refreshToken: seal(credentials.refreshToken, 'refreshToken'),
    refreshTokenExpiresAt: credentials.refreshTokenExpiresAt,
    userToken: seal(credentials.userToken, 'userToken'),
    userTokenExpiresAt: credentials.userTokenExpiresAt,
    scopes: credentials.scopes,
    issuedAt: credentials.issuedAt,
  };
}

/** Opens a row's secrets; only activities call this (the API seals, it never opens). */
export function openCredentials(vault: TokenVault, connectionId: string, row: SealedCredentials): Credentials {
  const open = (value: string | null, field: (typeof SECRET_FIELDS)[number]) =>
    value === null ? null : vault.open(value, sealContext(connectionId, field));
  return {
    accessToken: vault.open(row.accessToken, sealContext(connectionId, 'accessToken')),
    accessTokenExpiresAt: row.accessTokenExpiresAt,
    refreshToken: open(row.refreshToken, 'refreshToken'),
    refreshTokenExpiresAt: row.refreshTokenExpiresAt,
    userToken: open(row.userToken, 'userToken'),
    userTokenExpiresAt: row.userTokenExpiresAt,
    scopes: row.scopes,
    issuedAt: row.issuedAt,
  };
}
