import { Router } from 'express';

export interface Readiness {
  /** Undefined when ready, else why not (`shutting_down`, `redis_unreachable`). */
  notReadyReason(): string | undefined;
}

export function healthRouter(readiness: Readiness, startedAt: number): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
  });
  router.get('/readyz', (_req, res) => {
    const reason = readiness.notReadyReason();
    if (reason === undefined) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not_ready', reason });
  });
  return router;
}
