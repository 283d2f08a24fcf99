import { Router } from 'express';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';

const CHECK_TIMEOUT_MS = 3000;

export const healthDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'Operations',
    summary: 'The process is up',
    auth: false,
    responses: { 200: { description: 'Up' } },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'Operations',
    summary: 'The database and Temporal answer',
    auth: false,
    responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready; `checks` names what is down' } },
  },
];

async function check(fn: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `unreachable: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      check(() => deps.pingDatabase()),
      check(() => deps.temporal.connection.workflowService.getSystemInfo({})),
    ]);
    const ready = database === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { database, temporal } });
  });
  return router;
}
