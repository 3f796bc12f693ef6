import { createRequire } from 'node:module';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  AUTH_FAILURE_LABELS,
  DISCONNECT_REASONS,
  SOCKET_ERROR_CODES,
  TRANSPORTS,
  WEBHOOK_RESULTS,
} from '../protocol/codes.js';

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
  readonly disconnects: Counter<'transport' | 'reason'>;
  readonly clientEventsRejected: Counter<'code'>;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  /** Cluster mode only: 1 while Redis answers. */
  readonly redisUp: Gauge;
  /**
   * Adds a per-connection structure to `instantchat_resources{resource}`, read at each scrape: sessions, rooms,
   * deadlines, recovery sessions. With no client connected (and recovery windows over) each is 0; the soak checks it.
   */
  watchResource(resource: string, read: () => number): void;
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

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** Every label value of the code tables starts at 0, so that dashboards and alerts see each series before its first event. */
function zeroed<L extends string>(counter: Counter<L>, label: L, values: readonly string[], extra: Record<string, string> = {}) {
  for (const value of values) counter.inc({ ...extra, [label]: value } as Record<L, string>, 0);
}

export function createMetrics(options: { redisUp?: () => boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const activeConnections = new Gauge({
    name: 'instantchat_active_connections',
    help: 'Connected clients, authenticated or not, by transport',
    labelNames: ['transport'],
    registers,
  });
  for (const transport of TRANSPORTS) activeConnections.set({ transport }, 0);
  const webhooks = new Counter({ name: 'instantchat_webhooks_total', help: 'Webhook POSTs by result', labelNames: ['result'], registers });
  zeroed(webhooks, 'result', WEBHOOK_RESULTS);
  const notificationsPublished = new Counter({
    name: 'instantchat_notifications_published_total',
    help: 'Notifications handed to delivery, by event type',
    labelNames: ['event_type'],
    registers,
  });
  const authFailures = new Counter({
    name: 'instantchat_auth_failures_total',
    help: 'Failed client authentications by reason',
    labelNames: ['reason'],
    registers,
  });
  zeroed(authFailures, 'reason', AUTH_FAILURE_LABELS);
  const webhookToEmitSeconds = new Histogram({
    name: 'instantchat_webhook_to_emit_seconds',
    help: 'Time from a webhook request arriving to its notification being emitted to rooms',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const webhookItemsSkipped = new Counter({
    name: 'instantchat_webhook_items_skipped_total',
    help: 'Items of signed webhooks that delivered nothing, by reason (unknown_* and the like: a shape we do not know)',
    labelNames: ['reason'],
    registers,
  });
  const disconnects = new Counter({
    name: 'instantchat_disconnects_total',
    help: 'Ended connections by transport and reason (client: the client left or its transport dropped)',
    labelNames: ['transport', 'reason'],
    registers,
  });
  for (const transport of TRANSPORTS) zeroed(disconnects, 'reason', DISCONNECT_REASONS, { transport });
  const clientEventsRejected = new Counter({
    name: 'instantchat_client_events_rejected_total',
    help: 'Socket error events sent, by code',
    labelNames: ['code'],
    registers,
  });
  zeroed(clientEventsRejected, 'code', SOCKET_ERROR_CODES);
  const httpRequestDuration = new Histogram({
    name: 'instantchat_http_request_duration_seconds',
    help: 'HTTP requests by method, route and status (route: the matched pattern, never the raw path)',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const { redisUp: probe } = options;
  const redisUp = new Gauge({
    name: 'instantchat_redis_up',
    help: 'Cluster mode: 1 while every Redis connection is ready, else 0',
    // Read at each scrape: the gauge is right even when nobody asked /readyz.
    collect() {
      if (probe !== undefined) this.set(probe() ? 1 : 0);
    },
    registers: probe !== undefined ? registers : [],
  });
  const resources = new Map<string, () => number>();
  new Gauge({
    name: 'instantchat_resources',
    help: 'Entries of per-connection structures of this process, by resource: 0 once every client has left and recovery windows are over',
    labelNames: ['resource'],
    collect() {
      for (const [resource, read] of resources) this.set({ resource }, read());
    },
    registers,
  });
  new Gauge({
    name: 'instantchat_build_info',
    help: 'Always 1; the labels say which build runs',
    labelNames: ['version', 'node'],
    registers,
  }).set({ version: VERSION, node: process.version }, 1);
  return {
    registry: Registry.merge([processMetrics(), registry]),
    activeConnections,
    webhooks,
    notificationsPublished,
    authFailures,
    webhookToEmitSeconds,
    webhookItemsSkipped,
    disconnects,
    clientEventsRejected,
    httpRequestDuration,
    redisUp,
    watchResource: (resource, read) => void resources.set(resource, read),
  };
}
