import { performance } from 'node:perf_hooks';
import express, { Router } from 'express';
import { AppError } from '../protocol/errors.js';
import { normalizeWebhook } from '../notifications/normalize/index.js';
import { toEpochMs } from '../notifications/normalize/timestamp.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Session } from '../session/session.js';
import { accountIdsOf } from '../session/state.js';
import type { PublishOnce } from '../notifications/publish-once.js';
import { requireBearer } from './bearer.js';

/** The guide's "debug commands", made real, behind `ADMIN_TOKEN`. */
export function adminRouter(options: {
  token: string;
  registry: SessionRegistry<Session>;
  ingest: PublishOnce;
  isDraining: () => boolean;
}): Router {
  const router = Router();
  router.use(requireBearer(options.token));

  router.get('/clients', (_req, res) => {
    const clients = [...options.registry.values()].map((session) => ({
      userId: session.state.userId ?? null,
      socketId: session.id,
      transport: session.transport,
      subscriptions: [...session.state.subscriptions],
      accountIds: session.state.userId === undefined ? [] : accountIdsOf(session.state),
      connectedAt: new Date(session.state.connectedAt).toISOString(),
      lastActivityAt: new Date(session.state.lastActivityAt).toISOString(),
    }));
    res.json({ clients });
  });

  router.post('/events', express.json({ limit: '100kb', type: () => true }), async (req, res) => {
    const receivedAt = performance.now();
    if (options.isDraining()) throw new AppError('not_ready', 'Server shutting down; retry later');
    const normalized = normalizeWebhook(req.body, new Date());
    const notification = normalized.notifications[0];
    // A webhook's unreadable time falls back to the arrival time (its sender cannot be told); this caller can be.
    const time = (req.body as { timestamp?: unknown } | null)?.timestamp;
    if (normalized.shape !== 'flat' || notification === undefined || (time != null && toEpochMs(time) === undefined)) {
      throw new AppError(
        'invalid_body',
        'Expected one notification in the flat shape: {id, eventType, accountId, sender?, message?|comment?|content?, timestamp?}',
      );
    }
    const outcome = await options.ingest([notification], receivedAt);
    res.status(202).json({ id: notification.id, ...(outcome.result === 'duplicate' && { duplicate: true }) });
  });

  return router;
}
