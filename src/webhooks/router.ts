import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { safeEqual } from '../auth/secrets.js';
import { normalizeWebhook, SKIP_REASONS } from '../notifications/normalize/index.js';
import type { PublishOnce } from '../notifications/publish-once.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { AppError, isBodyParserError } from '../protocol/errors.js';
import { limitKey } from '../admission/client-address.js';
import { bodyDeadline, WEBHOOK_BODY_DEADLINE_MS } from './body-deadline.js';
import { isValidSignature, parseSignatureHeader } from './signature.js';
import { MAX_BODIES_QUEUED_PER_CLIENT, MAX_BODIES_READ_PER_CLIENT, unfinishedBodies } from './unfinished-bodies.js';

export interface WebhookRouterOptions {
  /** Every app secret a signature may be made with. */
  readonly appSecrets: readonly string[];
  readonly verifyToken: string;
  readonly bodyLimitBytes: number;
  readonly ingest: PublishOnce;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly isDraining: () => boolean;
}

/** Meta's edge: the verification handshake and signed POSTs at `/api/webhooks/instagram`. Knows nothing of sockets. */
export function webhookRouter(options: WebhookRouterOptions): Router {
  const { metrics, logger } = options;
  const router = Router();
  // Every reason at 0 from the start, so that dashboards see the series before the first skip.
  for (const reason of Object.keys(SKIP_REASONS)) metrics.webhookItemsSkipped.inc({ reason }, 0);

  router.get('/', (req, res) => {
    const q = req.query as Record<string, unknown>;
    const token = q['hub.verify_token'];
    if (q['hub.mode'] === 'subscribe' && typeof token === 'string' && safeEqual(token, options.verifyToken) && typeof q['hub.challenge'] === 'string') {
      res.status(200).type('text/plain').send(q['hub.challenge']);
      return;
    }
    throw new AppError('forbidden', 'Verification token mismatch');
  });

  router.post(
    '/',
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.receivedAt = performance.now();
      // While draining, sockets are about to be closed: a webhook accepted now would reach nobody. 503 makes Meta
      // retry it, on another instance or after the restart.
      if (options.isDraining()) throw new AppError('not_ready', 'Server shutting down; retry later');
      // Unsigned requests are refused before their body is read.
      if (parseSignatureHeader(req.headers['x-hub-signature-256']) === undefined) {
        metrics.webhooks.inc({ result: 'invalid_signature' });
        throw new AppError('invalid_signature', 'Missing or malformed X-Hub-Signature-256 header');
      }
      next();
    },
    // A client trickling bodies holds memory: each body for a few seconds at most (the deadline runs from the
    // headers, waiting included), and only so many read at once per address.
    bodyDeadline({
      deadlineMs: WEBHOOK_BODY_DEADLINE_MS,
      onTimeout: () => metrics.webhooks.inc({ result: 'invalid_body' }),
    }),
    unfinishedBodies({
      maxRead: MAX_BODIES_READ_PER_CLIENT,
      maxQueued: MAX_BODIES_QUEUED_PER_CLIENT,
      keyOf: (req) => limitKey(req.ip),
      retryAfterSeconds: Math.ceil(WEBHOOK_BODY_DEADLINE_MS / 1000),
    }),
    // Raw bytes whatever the Content-Type: the signature covers exactly what was sent.
    // `inflate: false`: the signature covers the bytes sent, not a decompressed form (Meta does not compress).
    express.raw({ type: () => true, limit: options.bodyLimitBytes, inflate: false }),
    async (req: Request, res: Response) => {
      // The request's own logger: every line about it carries its request id.
      const log = (req as Request & { log?: Logger }).log ?? logger;
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const signature = parseSignatureHeader(req.headers['x-hub-signature-256']) as Buffer;
      if (!isValidSignature(raw, signature, options.appSecrets)) {
        metrics.webhooks.inc({ result: 'invalid_signature' });
        throw new AppError('invalid_signature', 'Signature does not match the body');
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        metrics.webhooks.inc({ result: 'invalid_body' });
        throw new AppError('invalid_body', 'Body is not valid JSON');
      }
      const normalized = normalizeWebhook(body, new Date());
      // Every item that delivers nothing is counted and logged with why (never with its text), so that an operator
      // tells a shape we do not know (`unknown_*`, ...) from an item we had to drop (`missing_id`, ...).
      for (const { reason, count } of normalized.skips) metrics.webhookItemsSkipped.inc({ reason }, count);
      if (normalized.notifications.length === 0) {
        // Signed but not understood: 200, or Meta retries for hours; logged and counted, nothing delivered.
        metrics.webhooks.inc({ result: 'invalid_body' });
        log.warn(
          { shape: normalized.shape, skipped: normalized.skipped, skips: normalized.skips, bytes: raw.length },
          'webhook delivered nothing: every item skipped, or a body of unknown shape',
        );
        res.status(200).type('text/plain').send('EVENT_RECEIVED');
        return;
      }
      if (normalized.skipped > 0) {
        log.warn({ skipped: normalized.skipped, skips: normalized.skips }, 'webhook items skipped');
      }
      const outcome = await options.ingest(normalized.notifications, res.locals.receivedAt as number);
      metrics.webhooks.inc({ result: outcome.result });
      log.info(
        {
          result: outcome.result,
          notifications: normalized.notifications.length,
          duplicates: outcome.duplicates,
          eventTypes: [...new Set(normalized.notifications.map((n) => n.eventType))],
        },
        'webhook received',
      );
      // "Did notification X come in?": ids, accounts and types, never the text.
      if (log.isLevelEnabled('debug')) {
        const ids = normalized.notifications.map(({ id, accountId, eventType }) => ({ id, accountId, eventType }));
        log.debug({ notifications: ids }, 'webhook notifications');
      }
      res.status(200).type('text/plain').send('EVENT_RECEIVED');
    },
  );

  // Body-parser failures (413 too large, 400 aborted or bad encoding) are bad bodies too; a body cut off by its
  // deadline was counted when it was answered, and its parser's "aborted" comes after that answer.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (isBodyParserError(err) && !res.headersSent) metrics.webhooks.inc({ result: 'invalid_body' });
    next(err);
  });

  return router;
}
