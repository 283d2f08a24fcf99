import { openDatabase } from '../db/client.js';
import { loadConfig } from '../runtime/config.js';
import { isMain, runMain } from '../runtime/process.js';
import { loadOrCreateSecret } from '../runtime/secret.js';
import { reencryptAllTokens } from '../use-cases/connections/rotate-keys.js';
import { createTokenVault, loadKeyring } from '../vault/token-vault.js';

/**
 * `npm run tokens:rotate`: re-encrypts every stored token under the active key. Rotation:
 *   1. TOKEN_KEYS=<old entries>,<new id>:<new key> (the last entry is active, or set TOKEN_KEY_ID);
 *      restart the app so new tokens are sealed under the new key;
 *   2. run this command with the same variables;
 *   3. when it reports nothing left under the old key, remove the old entry and restart.
 * A fresh key: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"
 */
async function main() {
  const config = loadConfig();
  const secret = await loadOrCreateSecret(config.DATA_DIR, config.APP_SECRET);
  const vault = createTokenVault(loadKeyring(config, secret));
  const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR });
  try {
    await database.migrate();
    const report = await reencryptAllTokens({ db: database.db, vault });
    const { connections, oauthStates, pendingChoices } = report.reencrypted;
    console.log(`Active key: ${vault.activeKeyId}`);
    console.log(
      `Re-encrypted: ${connections} connections, ${oauthStates} sign-ins in progress, ${pendingChoices} pending choices; ${report.unchanged} already under the active key.`,
    );
    const remaining = Object.entries(report.remainingByKey);
    console.log(
      `Sealed values per key now: ${remaining.length === 0 ? 'none stored' : remaining.map(([k, n]) => `${k}: ${n}`).join(', ')}`,
    );
    for (const failure of report.failed) {
      console.error(`Could not re-encrypt ${failure.table} ${failure.id}: ${failure.reason}`);
    }
    const old = remaining.filter(([key]) => key !== vault.activeKeyId);
    if (report.failed.length > 0) {
      process.exitCode = 1;
      console.error('Keep the old keys in TOKEN_KEYS until the rows above are fixed or reconnected.');
    } else if (old.length === 0) {
      console.log('Every token is under the active key: the other keys can be removed from TOKEN_KEYS.');
    }
  } finally {
    await database.close();
  }
}

if (isMain(import.meta.url)) runMain(main);
