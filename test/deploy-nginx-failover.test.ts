import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxAvailable } from './helpers/nginx.js';
import { httpFrom, NginxCluster } from './helpers/nginx-cluster.js';
import { redisAvailable } from './helpers/redis.js';
import { flatEvent } from './helpers/webhooks.js';

/**
 * deploy/nginx through a rolling restart gone wrong: one instance restarts, and the other dies soon after. The
 * cluster chaos test (sdk-chaos-cluster.test.ts) found that nginx then answers every request 502 ("no live
 * upstreams" in its error log) for up to 10 s although an instance is up and ready: its passive health check
 * (`max_fails=1 fail_timeout=10s` when the `server` lines say nothing) still counts the restarted instance as failed
 * for fail_timeout after the last connection it refused, and does not try it before then. README (and
 * deploy/compose.yaml) therefore write `max_fails=1 fail_timeout=1s` after each `server`, as this test renders it.
 */

const HAS_NGINX = nginxAvailable();
const HAS_REDIS = HAS_NGINX && redisAvailable();

describe.skipIf(!HAS_REDIS)('deploy/nginx when the instances fail one after the other', () => {
  let cluster: NginxCluster;
  /** A client address nginx hashes to each instance. */
  let senders: string[] = [];

  beforeAll(async () => {
    cluster = await NginxCluster.start({ instances: 2 });
    senders = (await cluster.addressesByInstance(1)).map(([address]) => address as string);
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  /** A signed webhook through nginx from `from`: its status. */
  const webhookFrom = (from: string) => cluster.postWebhook(from, flatEvent());

  /** The first request of a Socket.IO client (the long-polling handshake) through nginx from `from`: its status. */
  async function handshakeFrom(from: string): Promise<number> {
    return (await httpFrom(from, `${cluster.url}/socket.io/?EIO=4&transport=polling`)).status;
  }

  it('when an instance is back and ready and the other one dies before nginx has tried the first again, webhooks and new clients through nginx reach the one that is up', async () => {
    const [first, second] = senders as [string, string];
    // Instance 0 goes down for a restart. Meanwhile its clients and Meta's requests are taken by instance 1: nginx
    // finds 0 refusing and passes them on (and marks 0 failed).
    await cluster.stopGracefully(0);
    expect(await webhookFrom(first), 'a webhook while instance 0 is down').toBe(200);
    expect(await handshakeFrom(first), 'a client while instance 0 is down').toBe(200);
    await cluster.start(0);
    expect((await fetch(`${cluster.instances[0]?.url}/readyz`)).status, 'instance 0 is ready again').toBe(200);

    // Then instance 1 dies. Instance 0 is up and ready: everything must go there, at the latest once nginx's
    // fail_timeout (1 s) since 0's last refused connection has passed: a restart quicker than that leaves nginx a
    // second with no live upstream (502, which Meta and the SDK retry). With nginx's default 10 s, every answer below
    // stays 502 for up to 10 s (positive control of the window: the retry loop gives up after 2.5 s).
    await cluster.kill(1);
    const killedAt = Date.now();
    /** The first answer that is not a 502, retried for up to fail_timeout and a margin after the kill. */
    const settled = async (send: () => Promise<number>): Promise<number> => {
      for (;;) {
        const status = await send();
        if (status !== 502 || Date.now() - killedAt > 2_500) return status;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const answers = {
      webhookHashedToTheDeadInstance: await settled(() => webhookFrom(second)),
      webhookHashedToTheLiveInstance: await settled(() => webhookFrom(first)),
      clientHashedToTheDeadInstance: await settled(() => handshakeFrom(second)),
      clientHashedToTheLiveInstance: await settled(() => handshakeFrom(first)),
    };
    const noLiveUpstreams = cluster.nginx.errors().split('\n').filter((line) => line.includes('no live upstreams')).length;
    expect(answers, `nginx logged "no live upstreams" ${noLiveUpstreams} times`).toEqual({
      webhookHashedToTheDeadInstance: 200,
      webhookHashedToTheLiveInstance: 200,
      clientHashedToTheDeadInstance: 200,
      clientHashedToTheLiveInstance: 200,
    });
  });
});
