import { setTimeout as sleep } from 'node:timers/promises';
import {
  ACCOUNT,
  accepted,
  connectOrThrow,
  cpuDuring,
  freshPrefix,
  loss,
  otherAccounts,
  type Scenario,
  type ScenarioContext,
  scaled,
  sendConcurrently,
  settle,
  warmUp,
  withServer,
} from '../scenario-kit.js';
import type { BenchServer, ServerKind } from '../servers.js';
import { metaWebhook, postWebhook } from '../webhooks.js';

const KiB = 1024;

/** Positive control for scenarios that measure idle sockets: one webhook per account reaches every socket once. */
async function everySocketReceives(ctx: ScenarioContext, server: BenchServer, accounts: string[], sockets: number) {
  const prefix = freshPrefix('c');
  await ctx.pool.count(prefix);
  const answers = await Promise.all(accounts.map((a, i) => postWebhook(server.url, metaWebhook(a, prefix, i))));
  const got = await ctx.pool.awaitReceived(sockets, 30_000);
  return { ...loss(sockets, got), rejectedWebhooks: answers.length - accepted(answers) };
}

/** RSS after a few seconds of quiet (the product has no GC endpoint: the steady value stands for after-GC). */
async function steadyMemory(server: BenchServer): Promise<{ rss: number; heap: number }> {
  await settle(3000);
  return { rss: server.usage().rssMb * KiB * KiB, heap: await server.heapBytes() };
}

/** 10 000 idle authenticated subscribed sockets (over 100 accounts): RSS and heap per connection. */
export const memory: Scenario = {
  name: 'memory',
  description: '10000 idle authenticated, subscribed sockets (5000 with --quick)',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const sockets = scaled(ctx, ctx.quick ? 5000 : 10_000);
      const accounts = [ACCOUNT, ...otherAccounts(99)];
      // Warm the server first (a few sockets and webhooks), so that the baseline holds its JIT and pools.
      await connectOrThrow(ctx, server, 10, accounts.slice(0, 10));
      await warmUp(ctx, server, accounts.slice(0, 10), 10);
      await ctx.pool.closeSockets();
      const before = await steadyMemory(server);
      await connectOrThrow(ctx, server, sockets, accounts);
      const after = await steadyMemory(server);
      return {
        rssKiBPerConnection: (after.rss - before.rss) / sockets / KiB,
        heapKiBPerConnection: (after.heap - before.heap) / sockets / KiB,
        rssMiBBefore: before.rss / KiB / KiB,
        rssMiBAfter: after.rss / KiB / KiB,
        ...(await everySocketReceives(ctx, server, accounts, sockets)),
      };
    }),
};

/** As many authenticated, subscribed connections as the clients can open (200 at a time): connects/s, CPU each. */
export const connectStorm: Scenario = {
  name: 'connect-storm',
  description: '2000 sockets connecting 200 at a time, each authenticated and subscribed',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const sockets = scaled(ctx, ctx.quick ? 1000 : 2000);
      const accounts = [ACCOUNT, ...otherAccounts(9)];
      await connectOrThrow(ctx, server, 20, accounts);
      await ctx.pool.closeSockets();
      await settle(500);
      const { result: ms, cpuMs } = await cpuDuring(server, () => connectOrThrow(ctx, server, sockets, accounts, 200));
      return {
        connectsPerSecond: sockets / (ms / 1000),
        cpuUsPerConnect: (cpuMs * 1000) / sockets,
        ...(await everySocketReceives(ctx, server, accounts, sockets)),
      };
    }),
};

/**
 * A notification for an account with 10 subscribers, first alone then with 5 000 bystanders (subscribed to other
 * accounts) connected: server CPU per notification, and its ratio with / without. Bystanders receive nothing (any
 * delivery to them would show as `extra`); the 10 subscribers receive everything (positive control).
 */
export const selective: Scenario = {
  name: 'selective',
  description: '10 subscribers of the notified account, with and without 5000 bystanders on other accounts',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const subscribers = 10;
      const bystanders = scaled(ctx, ctx.quick ? 2000 : 5000);
      const notifications = scaled(ctx, ctx.quick ? 300 : 600);
      await connectOrThrow(ctx, server, subscribers, [ACCOUNT]);
      await warmUp(ctx, server, [ACCOUNT], subscribers);
      const phase = async () => {
        const prefix = freshPrefix('s');
        await ctx.pool.count(prefix);
        await settle(500);
        const { result, cpuMs } = await cpuDuring(server, async () => {
          const sent = await sendConcurrently([server.url], ACCOUNT, prefix, 4, 60, notifications);
          const expected = accepted(sent.answers) * subscribers;
          return { expected, got: await ctx.pool.awaitReceived(expected, 20_000) };
        });
        return { cpuUsPerNotification: (cpuMs * 1000) / notifications, ...result };
      };
      // A first unmeasured round finishes the warm-up (JIT) so that "without" is not penalized for going first.
      await phase();
      const alone = await phase();
      await connectOrThrow(ctx, server, bystanders, otherAccounts(50));
      await sleep(1000);
      const crowded = await phase();
      return {
        cpuUsPerNotificationAlone: alone.cpuUsPerNotification,
        cpuUsPerNotificationWithBystanders: crowded.cpuUsPerNotification,
        withOverWithout: crowded.cpuUsPerNotification / alone.cpuUsPerNotification,
        ...loss(alone.expected + crowded.expected, {
          received: alone.got.received + crowded.got.received,
          latencies: [],
          dropped: crowded.got.dropped,
        }),
      };
    }),
};
