import { performance } from 'node:perf_hooks';
import express, { Router } from 'express';
import { AppError } from '../protocol/errors.js';
import { normalizeWebhook } from '../notifications/normalize/index.js';
import { toEpochMs } from '../notifications/normalize/timestamp.js';
import type { AdminCommands } from '../session/admin-view.js';
import type { PublishOnce } from '../notifications/publish-once.js';
import { requireBearer } from './bearer.js';

/** The longest user id a token may carry (claims.ts). */
const MAX_USER_ID_LENGTH = 256;

/** The guide's "debug commands", made real, behind `ADMIN_TOKEN`. */
export function adminRouter(options: {
  token: string;
  commands: AdminCommands;
  ingest: PublishOnce;
  isDraining: () => boolean;
}): Router {
  const router = Router();
  router.use(requireBearer(options.token));

  // Every instance's connections; `partial: true` when some instance did not answer in time (cluster mode).
  router.get('/clients', async (_req, res) => {
    const { clients, partial } = await options.commands.listClients();
    res.json({ clients, ...(partial && { partial }) });
  });

  router.post('/users/:userId/revoke', async (req, res) => {
    const userId = req.params.userId;
    if (typeof userId !== 'string' || userId.length > MAX_USER_ID_LENGTH) {
      throw new AppError('invalid_body', `userId must be 1 to ${MAX_USER_ID_LENGTH} characters`);
    }
    const outcome = await options.commands.revokeUser(userId);
    res.json({ userId, disconnected: outcome.disconnected, ...(outcome.partial && { partial: true }) });
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
