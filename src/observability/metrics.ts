import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Transport = 'socketio' | 'websocket';
export type WebhookResult = 'accepted' | 'invalid_signature' | 'invalid_body' | 'duplicate';
export type AuthFailureReason =
  | 'invalid_token'
  | 'token_expired'
  | 'user_mismatch'
  | 'auth_timeout'
  | 'too_many_connections';

/** The metrics SPEC names, on a registry of their own so that several servers (tests) never share counters. */
export interface Metrics {
  readonly registry: Registry;
  readonly activeConnections: Gauge<'transport'>;
  readonly webhooks: Counter<'result'>;
  readonly notificationsPublished: Counter<'event_type'>;
  readonly authFailures: Counter<'reason'>;
  /** From a webhook request's arrival to the room emit of its notification. */
  readonly webhookToEmitSeconds: Histogram;
  /** Items of signed webhooks that delivered nothing (SPEC: logged and counted), by reason. */
  readonly webhookItemsSkipped: Counter<'reason'>;
}

/**
 * prom-client's process metrics start event-loop and GC observers that are never released: collect them once per
 * process, on a registry of their own, and merge it into every server's registry.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createMetrics(): Metrics {
  const own = new Registry();
  const registry = own;
  const activeConnections = new Gauge({
    name: 'instantchat_active_connections',
    help: 'Connected clients, authenticated or not, by transport',
    labelNames: ['transport'],
    registers: [registry],
  });
  // Zero-initialise label values so dashboards see the series before the first event.
  for (const transport of ['socketio', 'websocket'] satisfies Transport[]) activeConnections.set({ transport }, 0);
  const webhooks = new Counter({
    name: 'instantchat_webhooks_total',
    help: 'Webhook POSTs by result',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const result of ['accepted', 'invalid_signature', 'invalid_body', 'duplicate'] satisfies WebhookResult[]) {
    webhooks.inc({ result }, 0);
  }
  const notificationsPublished = new Counter({
    name: 'instantchat_notifications_published_total',
    help: 'Notifications handed to delivery, by event type',
    labelNames: ['event_type'],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'instantchat_auth_failures_total',
    help: 'Failed client authentications by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const reasons: AuthFailureReason[] = ['invalid_token', 'token_expired', 'user_mismatch', 'auth_timeout', 'too_many_connections'];
  for (const reason of reasons) authFailures.inc({ reason }, 0);
  const webhookToEmitSeconds = new Histogram({
    name: 'instantchat_webhook_to_emit_seconds',
    help: 'Time from a webhook request arriving to its notification being emitted to rooms',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const webhookItemsSkipped = new Counter({
    name: 'instantchat_webhook_items_skipped_total',
    help: 'Items of signed webhooks that delivered nothing, by reason (unknown_* and the like: a shape we do not know)',
    labelNames: ['reason'],
    registers: [registry],
  });
  return {
    registry: Registry.merge([processMetrics(), own]),
    activeConnections,
    webhooks,
    notificationsPublished,
    authFailures,
    webhookToEmitSeconds,
    webhookItemsSkipped,
  };
}

export function countAuthFailure(metrics: Metrics, reason: AuthFailureReason): void {
  metrics.authFailures.inc({ reason });
}
