import { Router } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';

const CHECK_TIMEOUT_MS = 3000;

const readiness = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.object({
    database: z.enum(['ok', 'unreachable']).describe('Why it is unreachable goes to the log, not to anyone who asks'),
    temporal: z.enum(['ok', 'unreachable']),
  }),
});

export const healthDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'Operations',
    summary: 'The process is up',
    auth: false,
    responses: { 200: { description: 'Up', schema: z.object({ status: z.literal('ok') }) } },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'Operations',
    summary: 'The database and Temporal answer',
    auth: false,
    responses: {
      200: { description: 'Ready', schema: readiness },
      503: {
        description: 'Not ready; `checks` names what is down',
        schema: readiness,
        contentType: 'application/json',
      },
    },
  },
];

/** "ok" or "unreachable"; the reason (addresses, user names) is logged, never answered unauthenticated. */
async function check(deps: ApiDeps, what: string, fn: () => Promise<unknown>): Promise<'ok' | 'unreachable'> {
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
    deps.logger.warn({ dependency: what, reason: err instanceof Error ? err.message : String(err) }, 'not ready');
    return 'unreachable';
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
      check(deps, 'database', () => deps.pingDatabase()),
      check(deps, 'temporal', () => deps.temporal.connection.workflowService.getSystemInfo({})),
    ]);
    const ready = database === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { database, temporal } });
  });
  return router;
}
