import { and, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { connections, oauthStates, type PendingAccount, pendingChoices } from '../../db/schema.js';
import { keyIdOf, type TokenVault } from '../../vault/token-vault.js';
import { verifierContext } from './authorize.js';
import { SECRET_FIELDS, sealContext } from './credentials.js';

export interface RotationReport {
  /** Rows whose secrets were re-sealed under the active key. */
  reencrypted: { connections: number; oauthStates: number; pendingChoices: number };
  /** Rows already under the active key (opened anyway, so a damaged one is found now). */
  unchanged: number;
  /** Rows that could not be opened with any key in the keyring, by table and id: they keep their old value. */
  failed: { table: string; id: string; reason: string }[];
  /** How many sealed values each key id still protects after the run. */
  remainingByKey: Record<string, number>;
}

/**
 * Re-seals every stored secret under the vault's active key: connection tokens, PKCE verifiers of
 * attempts in progress and the tokens of pending choices. Each row is written only over the
 * version it was read at, so a refresh that lands meanwhile is re-read, never overwritten. Once
 * `remainingByKey` lists only the active key, the old key can be removed from TOKEN_KEYS.
 */
export async function reencryptAllTokens(deps: { db: Database; vault: TokenVault }): Promise<RotationReport> {
  const { db, vault } = deps;
  const report: RotationReport = {
    reencrypted: { connections: 0, oauthStates: 0, pendingChoices: 0 },
    unchanged: 0,
    failed: [],
    remainingByKey: {},
  };
  const failed = (table: string, id: string, err: unknown) =>
    report.failed.push({ table, id, reason: err instanceof Error ? err.message : String(err) });

  for (const { id } of await db.select({ id: connections.id }).from(connections)) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const [row] = await db.select().from(connections).where(eq(connections.id, id));
      if (!row) break;
      let changed = false;
      const next: Partial<Record<(typeof SECRET_FIELDS)[number], string>> = {};
      try {
        for (const field of SECRET_FIELDS) {
          const sealed = row[field];
          if (sealed === null) continue;
          const result = vault.reseal(sealed, sealContext(id, field));
          next[field] = result.sealed;
          changed ||= result.changed;
        }
      } catch (err) {
        failed('connections', id, err);
        break;
      }
      if (!changed) {
        report.unchanged += 1;
        break;
      }
      // The version is not bumped: the secrets are the same, only their envelope changed.
      const written = await db
        .update(connections)
        .set(next)
        .where(and(eq(connections.id, id), eq(connections.version, row.version)))
        .returning({ id: connections.id });
      if (written.length > 0) {
        report.reencrypted.connections += 1;
        break;
      }
    }
  }

  for (const row of await db.select().from(oauthStates)) {
    if (row.codeVerifier === null) continue;
    try {
      const result = vault.reseal(row.codeVerifier, verifierContext(row.stateHash));
      if (!result.changed) report.unchanged += 1;
      else {
        await db
          .update(oauthStates)
          .set({ codeVerifier: result.sealed })
          .where(eq(oauthStates.stateHash, row.stateHash));
        report.reencrypted.oauthStates += 1;
      }
    } catch (err) {
      failed('oauth_states', row.stateHash.slice(0, 12), err);
    }
  }

  for (const row of await db.select().from(pendingChoices)) {
    try {
      let changed = false;
      const accounts = row.accounts.map((account): PendingAccount => {
        const copy = { ...account };
        for (const field of SECRET_FIELDS) {
          const sealed = account[field];
          if (sealed === null) continue;
          const result = vault.reseal(sealed, sealContext(account.connectionId, field));
          copy[field] = result.sealed;
          changed ||= result.changed;
        }
        return copy;
      });
      if (!changed) report.unchanged += 1;
      else {
        await db.update(pendingChoices).set({ accounts }).where(eq(pendingChoices.id, row.id));
        report.reencrypted.pendingChoices += 1;
      }
    } catch (err) {
      failed('pending_choices', row.id, err);
    }
  }

  const count = (sealed: string | null) => {
    if (sealed === null) return;
    const keyId = keyIdOf(sealed);
    report.remainingByKey[keyId] = (report.remainingByKey[keyId] ?? 0) + 1;
  };
  for (const row of await db.select().from(connections)) for (const field of SECRET_FIELDS) count(row[field]);
  for (const row of await db.select().from(oauthStates)) count(row.codeVerifier);
  for (const row of await db.select().from(pendingChoices)) {
    for (const account of row.accounts) for (const field of SECRET_FIELDS) count(account[field]);
  }
  return report;
}
