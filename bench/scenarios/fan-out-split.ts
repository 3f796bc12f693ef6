import { setTimeout as sleep } from 'node:timers/promises';
import {
  ACCOUNT,
  connectOrThrow,
  cpuDuring,
  freshPrefix,
  loss,
  otherAccounts,
  type Scenario,
  scaled,
  sendAtRate,
  startProber,
  warmUp,
  withServer,
} from '../scenario-kit.js';
import type { ServerKind } from '../servers.js';
import { deliverAtRate } from './fan-out.js';

/**
 * Where the fan-out scenario's CPU goes (a diagnostic, run with `--only fan-out-split`): the same 1 000 subscribers
 * and `/healthz` probe, measured in three phases of equal length: idle; 10 webhooks/s for an account nobody
 * subscribes to (the webhook's own cost: HTTP, signature, normalization, dedupe, history, logging); then the fan-out
 * itself. What the fan-out costs beyond the webhooks to nobody, per delivery, is the marginal cost of a delivery.
 */
export const fanOutSplit: Scenario = {
  name: 'fan-out-split',
  description: 'diagnostic: the fan-out scenario split into idle, webhooks to nobody, and the marginal delivery',
  variants: ['product', 'reference'],
  run: (ctx, variant) =>
    withServer(ctx, variant as ServerKind, async (server) => {
      const subscribers = scaled(ctx, 1000);
      const seconds = ctx.quick ? 3 : 5;
      await connectOrThrow(ctx, server, subscribers, [ACCOUNT]);
      await warmUp(ctx, server, [ACCOUNT], subscribers);
      const prober = startProber(server);
      const idle = await cpuDuring(server, () => sleep(seconds * 1000));
      const [nobody] = otherAccounts(1) as [string];
      const toNobody = await cpuDuring(server, () => sendAtRate([server.url], nobody, freshPrefix('n'), 10, seconds));
      const fan = await deliverAtRate(ctx, server, { subscribers, perSecond: 10, seconds, tag: 'f' });
      await prober.stop();
      const webhooks = 10 * seconds;
      return {
        idleCpuMsPerSecond: idle.cpuMs / seconds,
        cpuMsPerWebhookToNobody: (toNobody.cpuMs - idle.cpuMs) / webhooks,
        cpuUsPerDelivery: (fan.cpuMs * 1000) / Math.max(1, fan.got.received),
        marginalCpuUsPerDelivery: ((fan.cpuMs - toNobody.cpuMs) * 1000) / Math.max(1, fan.got.received),
        ...loss(fan.expected, fan.got),
      };
    }),
};
