import {
  ACCOUNT,
  accepted,
  connectOrThrow,
  cpuDuring,
  freshPrefix,
  loss,
  type Scenario,
  type ScenarioContext,
  scaled,
  sendAtRate,
  sendConcurrently,
  startProber,
  warmUp,
  withServer,
} from '../scenario-kit.js';
import type { BenchServer, ServerKind } from '../servers.js';
import { percentile } from '../stats.js';

/**
 * Webhooks for ACCOUNT at `perSecond` for `seconds`, each delivered to its `subscribers` (connected already): the
 * answers, what should arrive and what did, and the server's CPU from the first send to the last delivery.
 */
export async function deliverAtRate(
  ctx: ScenarioContext,
  server: BenchServer,
  options: { subscribers: number; perSecond: number; seconds: number; tag: string },
) {
  const prefix = freshPrefix(options.tag);
  await ctx.pool.count(prefix);
  const { result, cpuMs } = await cpuDuring(server, async () => {
    const answers = await sendAtRate([server.url], ACCOUNT, prefix, options.perSecond, options.seconds);
    const expected = accepted(answers) * options.subscribers;
    return { answers, expected, got: await ctx.pool.awaitReceived(expected, 30_000) };
  });
  return { ...result, cpuMs };
}

/** 1 000 subscribers of one account, 10 webhooks/s: delivery latency, server CPU per delivery, /healthz meanwhile. */
export const fanOut: Scenario = {
  name: 'fan-out',
  description: '1000 subscribers of one account, 10 webhooks/s',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const subscribers = scaled(ctx, 1000);
      const seconds = ctx.quick ? 3 : 5;
      await connectOrThrow(ctx, server, subscribers, [ACCOUNT]);
      await warmUp(ctx, server, [ACCOUNT], subscribers);
      const prober = startProber(server);
      const { cpuMs, ...result } = await deliverAtRate(ctx, server, { subscribers, perSecond: 10, seconds, tag: 'f' });
      const lag = await prober.stop();
      return {
        latencyP50Ms: percentile(result.got.latencies, 50),
        latencyP99Ms: percentile(result.got.latencies, 99),
        cpuUsPerDelivery: (cpuMs * 1000) / Math.max(1, result.got.received),
        healthzP99Ms: lag.p99,
        healthzMaxMs: lag.max,
        rejectedWebhooks: result.answers.length - accepted(result.answers),
        ...loss(result.expected, result.got),
      };
    }),
};

/** 100 subscribers, 32 concurrent senders: accepted webhooks/s and deliveries/s. */
export const throughput: Scenario = {
  name: 'throughput',
  description: '100 subscribers, 32 concurrent webhook senders',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const subscribers = scaled(ctx, 100);
      const seconds = ctx.quick ? 3 : 8;
      await connectOrThrow(ctx, server, subscribers, [ACCOUNT]);
      await warmUp(ctx, server, [ACCOUNT], subscribers);
      const prefix = freshPrefix('t');
      await ctx.pool.count(prefix);
      const started = Date.now();
      const { result, cpuMs } = await cpuDuring(server, async () => {
        const sent = await sendConcurrently([server.url], ACCOUNT, prefix, 32, seconds);
        const expected = accepted(sent.answers) * subscribers;
        return { sent, expected, got: await ctx.pool.awaitReceived(expected, 30_000) };
      });
      const deliveredMs = Date.now() - started;
      const ok = accepted(result.sent.answers);
      return {
        acceptedPerSecond: ok / (result.sent.elapsedMs / 1000),
        deliveriesPerSecond: result.got.received / (deliveredMs / 1000),
        answerP99Ms: percentile(result.sent.answers.map((a) => a.ms), 99),
        latencyP99Ms: percentile(result.got.latencies, 99),
        cpuUsPerWebhook: (cpuMs * 1000) / Math.max(1, ok),
        rejectedWebhooks: result.sent.answers.length - ok,
        ...loss(result.expected, result.got),
      };
    }),
};

/**
 * 5 000 sockets subscribed to one account while webhooks keep coming (2/s: each fan-out is 5 000 writes; faster
 * saturates a 2-core machine and measures queueing, not how long one fan-out holds the loop): how long each POST
 * waits for its answer during the fan-out, and /healthz every 100 ms meanwhile (the event loop's lag).
 */
export const largeFanOut: Scenario = {
  name: 'large-fan-out',
  description: '5000 subscribers of one account, 2 webhooks/s: webhook answer time and /healthz during the fan-out',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const subscribers = scaled(ctx, ctx.quick ? 2000 : 5000);
      const seconds = ctx.quick ? 3 : 5;
      await connectOrThrow(ctx, server, subscribers, [ACCOUNT]);
      await warmUp(ctx, server, [ACCOUNT], subscribers);
      const prober = startProber(server);
      const { cpuMs, ...result } = await deliverAtRate(ctx, server, { subscribers, perSecond: 2, seconds, tag: 'l' });
      const lag = await prober.stop();
      const answerTimes = result.answers.map((a) => a.ms);
      return {
        answerP50Ms: percentile(answerTimes, 50),
        answerP99Ms: percentile(answerTimes, 99),
        healthzP99Ms: lag.p99,
        healthzMaxMs: lag.max,
        latencyP50Ms: percentile(result.got.latencies, 50),
        latencyP99Ms: percentile(result.got.latencies, 99),
        cpuUsPerDelivery: (cpuMs * 1000) / Math.max(1, result.got.received),
        rejectedWebhooks: result.answers.length - accepted(result.answers),
        ...loss(result.expected, result.got),
      };
    }),
};
