import { Router } from 'express';
import { calendar } from '../../use-cases/campaigns/calendar.js';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { parseOrThrow } from '../problem.js';
import { calendarQuery, calendarView } from '../schemas/campaigns.js';

export function calendarRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/api/v1/calendar', async (req, res) => {
    res.json(await calendar(deps.db, callerOf(req).userId, parseOrThrow(calendarQuery, req.query)));
  });
  return router;
}

export const calendarDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/calendar',
    tag: 'Campaigns',
    summary:
      'Scheduled, awaiting-review, published and failed items from posts and campaigns between from and to (at most 62 days), with campaign slots not yet reached, in local time',
    query: calendarQuery,
    responses: { 200: { description: 'The items in time order', schema: calendarView } },
  },
];
