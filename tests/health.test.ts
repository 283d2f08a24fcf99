import { afterAll, beforeAll, expect, it } from 'vitest';
import { call } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.stop();
});

it('answers /healthz and /readyz while database and Temporal are reachable', async () => {
  expect(await call(app.baseUrl, '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
  expect(await call(app.baseUrl, '/readyz')).toMatchObject({
    status: 200,
    body: { status: 'ready', checks: { database: 'ok', temporal: 'ok' } },
  });
});

it('logs one line per request, without credentials', async () => {
  const before = app.logLines.length;
  await call(app.baseUrl, '/api/v1/posts?limit=1', {
    headers: { authorization: 'Bearer sk-live-abcdef123456', cookie: 'session=cookie-value-987' },
  });
  const lines = app.logLines.slice(before);
  const requestLines = lines.filter((l) => l.includes('"/api/v1/posts?limit=1"'));
  expect(requestLines).toHaveLength(1);
  expect(JSON.parse(requestLines[0]!)).toMatchObject({ req: { method: 'GET' }, res: { statusCode: 401 } });
  expect(lines.join('\n')).not.toMatch(/sk-live-abcdef123456|cookie-value-987/);
});

it("keeps a signed media link's signature out of the request log", async () => {
  const before = app.logLines.length;
  await call(app.baseUrl, '/media/public/some-id/photo.jpg?exp=9999999999&sig=SIGNATURE-0123456789');
  const lines = app.logLines.slice(before).filter((l) => l.includes('/media/public/'));
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.join('\n')).toContain('/media/public/some-id/photo.jpg?[redacted]');
  expect(lines.join('\n')).not.toContain('SIGNATURE-0123456789');
});

it('reports not ready, saying which dependency is down, once the database is gone', async () => {
  await app.services.database.close();
  const res = await call(app.baseUrl, '/readyz');
  expect(res.status).toBe(503);
  expect(res.body.status).toBe('not ready');
  expect(res.body.checks.temporal).toBe('ok');
  // The reason (addresses, user names) is the operator's, in the log; anyone may ask /readyz.
  expect(res.body.checks.database).toBe('unreachable');
  expect(app.logLines.some((l) => l.includes('"dependency":"database"') && l.includes('"reason"'))).toBe(true);
  // The process keeps serving.
  expect((await call(app.baseUrl, '/healthz')).status).toBe(200);
});
