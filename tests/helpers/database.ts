import { randomUUID } from 'node:crypto';
import postgres from 'postgres';

/** The machine's real PostgreSQL; each test file gets a database of its own, dropped afterwards. */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `app_test_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  const admin = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (err) {
    await admin.end();
    throw new Error(
      `Cannot create a test database on ${ADMIN_DATABASE_URL.replace(/\/\/[^@]*@/, '//')} (set TEST_DATABASE_URL): ${(err as Error).message}`,
    );
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
