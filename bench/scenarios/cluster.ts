import { startRedis } from '../../test/helpers/redis.js';
import { ACCOUNT, accepted, connectOrThrow, freshPrefix, loss, type Scenario, scaled, sendConcurrently, warmUp } from '../scenario-kit.js';
import { type BenchServer, onAbort, startProduct } from '../servers.js';
import { percentile } from '../stats.js';
import { forgetConnections } from '../webhooks.js';

/**
 * Two product instances sharing a real redis-server (cluster mode, REDIS_URL) against one instance alone: the same
 * subscribers (half on each instance) and senders (alternating instances); deliveries/s and latency. Product only.
 */
export const cluster: Scenario = {
  name: 'cluster',
  description: '2 instances + redis vs 1 instance: 200 subscribers, 8 concurrent senders',
  variants: ['cluster', 'single'],
  async run(ctx, variant) {
    const subscribers = scaled(ctx, 200);
    const seconds = ctx.quick ? 3 : 5;
    const redis = variant === 'cluster' ? await startRedis() : undefined;
    const forgetRedis = redis === undefined ? undefined : onAbort(() => void redis.kill());
    const servers: BenchServer[] = [];
    try {
      const env: Record<string, string> = redis === undefined ? {} : { REDIS_URL: redis.url };
      const options = ctx.profileDir === undefined ? { env } : { env, profileDir: ctx.profileDir, heapProfile: ctx.heapProfile };
      servers.push(await startProduct(options));
      if (redis !== undefined) servers.push(await startProduct(options));
      const share = Math.ceil(subscribers / servers.length);
      for (const [i, server] of servers.entries()) {
        await connectOrThrow(ctx, server, Math.min(share, subscribers - i * share), [ACCOUNT]);
      }
      for (const server of servers) await warmUp(ctx, server, [ACCOUNT], subscribers);
      const prefix = freshPrefix('k');
      await ctx.pool.count(prefix);
      const started = Date.now();
      const cpuBefore = servers.reduce((sum, s) => sum + s.usage().cpuMs, 0);
      const sent = await sendConcurrently(servers.map((s) => s.url), ACCOUNT, prefix, 8, seconds);
      const expected = accepted(sent.answers) * subscribers;
      const got = await ctx.pool.awaitReceived(expected, 30_000);
      const cpuMs = servers.reduce((sum, s) => sum + s.usage().cpuMs, 0) - cpuBefore;
      return {
        acceptedPerSecond: accepted(sent.answers) / (sent.elapsedMs / 1000),
        deliveriesPerSecond: got.received / ((Date.now() - started) / 1000),
        latencyP50Ms: percentile(got.latencies, 50),
        latencyP99Ms: percentile(got.latencies, 99),
        cpuUsPerDelivery: (cpuMs * 1000) / Math.max(1, got.received),
        ...loss(expected, got),
      };
    } finally {
      await ctx.pool.closeSockets();
      forgetConnections();
      for (const server of servers) await server.stop();
      forgetRedis?.();
      await redis?.stop();
    }
  },
};
