import { expect } from 'vitest';
import { call, type Json, postJson, type TestUser } from './api.js';

/**
 * Connects an emulated account the way a browser does: authorize, the platform's consent (the
 * emulator approves at once), back to our callback with the session cookie. Facebook Pages come
 * back as a choice; the first `pick` of them (default all) are confirmed. Returns connection ids.
 */
export async function connectAccount(
  who: TestUser,
  platform: string,
  body: Json = {},
  pick?: number,
): Promise<string[]> {
  const start = await postJson(who.browser, `/api/v1/connections/${platform}/authorize`, body);
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  expect(consent.status).toBe(302);
  const back = await fetch(consent.headers.get('location')!, {
    redirect: 'manual',
    headers: { cookie: who.browser.headers.cookie ?? '' },
  });
  expect(back.status).toBe(302);
  const result = new URL(back.headers.get('location')!).searchParams;
  if (result.get('status') === 'choose') {
    const choiceId = result.get('pendingChoice')!;
    const choice = await call(who.api, `/api/v1/connections/pending/${choiceId}`);
    const accountIds = (choice.body.accounts as Json[]).slice(0, pick).map((a) => a.platformAccountId ?? a.id);
    const confirmed = await postJson(who.browser, `/api/v1/connections/pending/${choiceId}/confirm`, { accountIds });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
    return (confirmed.body.items as Json[]).map((c) => c.id as string);
  }
  expect(result.get('status'), result.get('reason') ?? '').toBe('connected');
  return result.get('connections')!.split(',');
}
