import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { AdminCommands } from '../session/admin-view.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Session } from '../session/session.js';
import type { PublishOnce } from '../notifications/publish-once.js';
import { webhookRouter } from '../webhooks/router.js';
import { adminRouter } from './admin.js';
import { errorHandler, notFound } from './errors.js';
import { healthRouter, type Readiness } from './health.js';
import { asyncApiDocument } from '../protocol/asyncapi.js';
import { metricsRouter } from './metrics-route.js';
import { requestDuration, requestLogging } from './request-logging.js';

export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  /** True once shutdown began: webhooks and admin events are then refused with 503, so that Meta retries them. */
  readonly isDraining: () => boolean;
  readonly ingest: PublishOnce;
  readonly registry: SessionRegistry<Session>;
  /** The admin API's questions to every instance (clients, revocation). */
  readonly adminCommands: AdminCommands;
  readonly startedAt: number;
}

const PUBLIC_DIR = fileURLToPath(new URL('../../public', import.meta.url));
/** The client SDK's browser bundle, built by `npm run build` (client/). */
const CLIENT_BUNDLE = fileURLToPath(new URL('../../client/dist/instantchat-client.js', import.meta.url));

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** The Express application: routes and middleware only; it does not listen. */
export function createApp(deps: AppDeps): Express {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.TRUST_PROXY);

  app.use(requestLogging(logger));
  app.use(requestDuration(deps.metrics));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          // The demo page is also served over plain http on LAN hosts; do not force https.
          upgradeInsecureRequests: null,
        },
      },
      strictTransportSecurity: config.NODE_ENV === 'production',
    }),
  );

  // The protocol document, generated once from the protocol table (src/protocol/asyncapi.ts).
  const asyncApi = JSON.stringify(asyncApiDocument(VERSION));
  app.get('/asyncapi.json', (_req, res) => {
    res.type('application/json').set('Cache-Control', 'public, max-age=300').send(asyncApi);
  });
  app.use(healthRouter(deps.readiness, deps.startedAt));
  app.use(metricsRouter(deps.metrics, config.METRICS_TOKEN));
  app.use(
    '/api/webhooks/instagram',
    webhookRouter({
      appSecrets: config.INSTAGRAM_APP_SECRET,
      verifyToken: config.INSTAGRAM_WEBHOOK_VERIFY_TOKEN,
      bodyLimitBytes: config.WEBHOOK_BODY_LIMIT,
      ingest: deps.ingest,
      metrics: deps.metrics,
      logger,
      isDraining: deps.isDraining,
    }),
  );
  if (config.ADMIN_TOKEN !== undefined) {
    app.use(
      '/api/admin',
      adminRouter({ token: config.ADMIN_TOKEN, commands: deps.adminCommands, ingest: deps.ingest, isDraining: deps.isDraining }),
    );
  }
  // For pages without a bundler, demo page or not; cached as long as the pages that load it.
  app.get('/client/instantchat-client.js', (_req, res, next) => {
    res.sendFile(CLIENT_BUNDLE, { maxAge: '5m' }, (err?: NodeJS.ErrnoException) => {
      if (!err || res.headersSent) return;
      next(err.code === 'ENOENT' ? undefined : err);
    });
  });
  if (config.DEMO_PAGE) app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: '5m' }));

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
