import express, { type Express, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { authenticate, requireCaller } from './auth.js';
import { bodyDeadline } from './body-deadline.js';
import type { ApiDeps } from './deps.js';
import { domainErrorHandler } from './domain-problem.js';
import { buildOpenApi, type RouteDoc } from './openapi.js';
import { Problem, problemHandler } from './problem.js';
import { hideSecretQueries } from './request-log.js';
import { authDocs, authRoutes } from './routes/auth.js';
import { calendarDocs, calendarRoutes } from './routes/calendar.js';
import { campaignDocs, campaignRoutes } from './routes/campaigns.js';
import { connectionDocs, connectionRoutes } from './routes/connections.js';
import { docsDocs, docsRoutes } from './routes/docs.js';
import { healthDocs, healthRoutes } from './routes/health.js';
import { meDocs, meRoutes } from './routes/me.js';
import { mediaDocs, mediaRoutes } from './routes/media.js';
import { mediaLibraryDocs, mediaLibraryRoutes } from './routes/media-library.js';
import { panelRoutes } from './routes/panel.js';
import { platformDocs, platformRoutes } from './routes/platforms.js';
import { postActionDocs, postActionRoutes } from './routes/post-actions.js';
import { postMediaDocs, postMediaRoutes } from './routes/post-media.js';
import { postDocs, postRoutes } from './routes/posts.js';
import { publicMediaDocs, publicMediaRoutes } from './routes/public-media.js';

export const ROUTE_DOCS: RouteDoc[] = [
  ...healthDocs,
  ...docsDocs,
  ...authDocs,
  ...meDocs,
  ...mediaDocs,
  ...mediaLibraryDocs,
  ...publicMediaDocs,
  ...platformDocs,
  ...postMediaDocs,
  ...postDocs,
  ...postActionDocs,
  ...connectionDocs,
  ...campaignDocs,
  ...calendarDocs,
];

const requireJsonBody: RequestHandler = (req, _res, next) => {
  // `false`: there is a body and it is not JSON; `null`: there is no body (the schema decides).
  if (req.headers['content-length'] === '0' || req.is('application/json') !== false) return next();
  next(
    new Problem(415, 'Unsupported content type', 'Send the body as application/json', [
      { field: 'content-type', message: `expected application/json, not ${req.headers['content-type'] ?? 'none'}` },
    ]),
  );
};

const DOCUMENTED = ROUTE_DOCS.map((doc) => ({
  method: doc.method.toUpperCase(),
  path: doc.path,
  pattern: new RegExp(`^${doc.path.replace(/:[A-Za-z]+/g, '[^/]+')}/?$`),
}));

/**
 * The methods a path is served with, by the document: a path with no parameters is its own
 * resource ("/api/v1/posts/validate" is not the post "validate"), as OpenAPI matches them.
 */
function methodsFor(path: string): string[] | undefined {
  const exact = DOCUMENTED.filter((d) => d.path === path.replace(/(.)\/$/, '$1'));
  const matching = exact.length > 0 ? exact : DOCUMENTED.filter((d) => d.pattern.test(path));
  if (matching.length === 0) return undefined;
  const methods = new Set(matching.map((d) => d.method));
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}

/** OPTIONS lists what a path is served with; any other method there is a 405 with the same list. */
const methodGuard: RequestHandler = (req, res, next) => {
  const allowed = methodsFor(req.path);
  if (!allowed || allowed.includes(req.method)) return next();
  const list = allowed.join(', ');
  if (req.method === 'OPTIONS') {
    res.setHeader('Allow', list);
    res.status(204).end();
    return;
  }
  next(
    new Problem(405, 'Method not allowed', `${req.method} is not served here; use ${list}`).withHeader('Allow', list),
  );
};

/** Express matches paths case-insensitively and with a trailing slash: so does this. */
const isUpload = (req: Request) => req.method === 'POST' && /^\/api\/v1\/media\/?$/i.test(req.path);

export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Behind reverse proxies, req.ip and req.secure (Secure cookies) come from X-Forwarded-*, counting
  // only the hops we run: a client cannot choose its own IP by sending the header itself.
  app.set('trust proxy', deps.trustProxy);
  app.use(helmet());
  app.use(
    pinoHttp({
      logger: deps.logger,
      serializers: { req: hideSecretQueries },
      // Probes every few seconds would drown the log.
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    }),
  );
  app.use(methodGuard);
  // Uploads stream for as long as they take (up to Node's hour); every other body has a minute.
  app.use(bodyDeadline(deps.bodyDeadlineMs ?? 60_000, isUpload));
  // A JSON route given another kind of body says so (415), rather than "field required" (422).
  for (const doc of ROUTE_DOCS) if (doc.body) app[doc.method](doc.path, requireJsonBody);
  app.use(healthRoutes(deps));
  app.use(docsRoutes(() => buildOpenApi(ROUTE_DOCS, { version: '0.1.0' })));
  // The panel's pages (browsers asking for HTML) and assets; API paths and API clients pass through.
  app.use(panelRoutes());
  // Signed links, no session: the signature is the permission.
  app.use(publicMediaRoutes(deps));
  app.use('/api/v1', authenticate(deps.db, deps.authKeys));
  // The result page shows a reason only to the person whose attempt it was.
  app.use('/connections/result', authenticate(deps.db, deps.authKeys));
  app.use(authRoutes(deps));
  // Before requireCaller: the callback and the platforms' notices check their own callers.
  app.use(connectionRoutes(deps));
  // Everything else under /api/v1 belongs to somebody.
  app.use('/api/v1', requireCaller);
  app.use(meRoutes(deps));
  app.use(mediaRoutes(deps));
  app.use(mediaLibraryRoutes(deps));
  app.use(platformRoutes());
  // Before the post routes: "validate" is not a post id.
  app.use(postMediaRoutes(deps));
  app.use(postRoutes(deps));
  app.use(postActionRoutes(deps));
  app.use(campaignRoutes(deps));
  app.use(calendarRoutes(deps));
  app.get('/', (_req, res) => {
    res.json({
      name: 'AutoPostPanel',
      api: '/api/v1',
      docs: '/docs',
      openapi: '/api/v1/openapi.json',
      health: '/healthz',
    });
  });
  app.use((req, _res, next) => next(Problem.notFound(`${req.method} ${req.path}`)));
  app.use(domainErrorHandler);
  app.use(problemHandler);
  return app;
}
