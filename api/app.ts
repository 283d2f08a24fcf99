import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import type { ApiDeps } from './deps.js';
import { Problem, problemHandler } from './problem.js';
import { healthRoutes } from './routes/health.js';
import { mediaRoutes } from './routes/media.js';
import { postRoutes } from './routes/posts.js';

export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(
    pinoHttp({
      logger: deps.logger,
      // Probes every few seconds would drown the log.
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    }),
  );
  app.use(healthRoutes(deps));
  app.use(mediaRoutes(deps));
  app.use(postRoutes(deps));
  app.get('/', (_req, res) => {
    res.json({ name: 'AutoPostPanel', api: '/api/v1', health: '/healthz', ready: '/readyz' });
  });
  app.use((req, _res, next) => next(Problem.notFound(`${req.method} ${req.path}`)));
  app.use(problemHandler);
  return app;
}
