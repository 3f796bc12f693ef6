import { Router } from 'express';
import type { Metrics } from '../observability/metrics.js';
import { requireBearer } from './bearer.js';

export function metricsRouter(metrics: Metrics, token: string | undefined): Router {
  const router = Router();
  if (token !== undefined) router.use('/metrics', requireBearer(token));
  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return router;
}
