import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { authenticate, requireCaller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { domainErrorHandler } from './domain-problem.js';
import { buildOpenApi, type RouteDoc } from './openapi.js';
import { Problem, problemHandler } from './problem.js';
import { authDocs, authRoutes } from './routes/auth.js';
import { connectionDocs, connectionRoutes, hideOAuthQuery } from './routes/connections.js';
import { docsDocs, docsRoutes } from './routes/docs.js';
import { healthDocs, healthRoutes } from './routes/health.js';
import { meDocs, meRoutes } from './routes/me.js';
import { mediaDocs, mediaRoutes } from './routes/media.js';
import { postActionDocs, postActionRoutes } from './routes/post-actions.js';
import { postDocs, postRoutes } from './routes/posts.js';

export const ROUTE_DOCS: RouteDoc[] = [
  ...healthDocs,
  ...docsDocs,
  ...authDocs,
  ...meDocs,
  ...mediaDocs,
  ...postDocs,
  ...postActionDocs,
  ...connectionDocs,
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
  pattern: new RegExp(`^${doc.path.replace(/:[A-Za-z]+/g, '[^/]+')}/?$`),
}));

/** A path we serve asked with a method we do not: 405 with the methods that work, not 404. */
const methodNotAllowed: RequestHandler = (req, _res, next) => {
  const allowed = new Set(DOCUMENTED.filter((d) => d.pattern.test(req.path)).map((d) => d.method));
  if (allowed.size === 0) return next();
  if (allowed.has('GET')) allowed.add('HEAD');
  const list = [...allowed].join(', ');
  next(
    new Problem(405, 'Method not allowed', `${req.method} is not served here; use ${list}`).withHeader('Allow', list),
  );
};

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
      serializers: { req: hideOAuthQuery },
      // Probes every few seconds would drown the log.
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    }),
  );
  // A JSON route given another kind of body says so (415), rather than "field required" (422).
  for (const doc of ROUTE_DOCS) if (doc.body) app[doc.method](doc.path, requireJsonBody);
  app.use(healthRoutes(deps));
  app.use(docsRoutes(() => buildOpenApi(ROUTE_DOCS, { version: '0.1.0' })));
  app.use('/api/v1', authenticate(deps.db, deps.authKeys));
  app.use(authRoutes(deps));
  // Before requireCaller: the callback and the platforms' notices check their own callers.
  app.use(connectionRoutes(deps));
  // Everything else under /api/v1 belongs to somebody.
  app.use('/api/v1', requireCaller);
  app.use(meRoutes(deps));
  app.use(mediaRoutes(deps));
  app.use(postRoutes(deps));
  app.use(postActionRoutes(deps));
  app.get('/', (_req, res) => {
    res.json({
      name: 'AutoPostPanel',
      api: '/api/v1',
      docs: '/docs',
      openapi: '/api/v1/openapi.json',
      health: '/healthz',
    });
  });
  app.use(methodNotAllowed);
  app.use((req, _res, next) => next(Problem.notFound(`${req.method} ${req.path}`)));
  app.use(domainErrorHandler);
  app.use(problemHandler);
  return app;
}
