import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runChaos, type ChaosEnvironment } from './helpers/chaos.js';
import { closeSdkClients } from './helpers/sdk-client.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

/** History large enough for every catch-up of the run: what is lost is only what a restart forgets. */
const SERVER_ENV = { HISTORY_SIZE: '2000' };

/** One server behind a TCP relay; a restart is a graceful stop and a new server on the same port. */
async function singleServer(): Promise<ChaosEnvironment & { stop(): Promise<void> }> {
  let current: RunningServer = await startServer(SERVER_ENV);
  const port = new URL(current.url).port;
  const proxy = await TcpProxy.start(current.url);
  let generation = 0;
  return {
    clientUrl: proxy.url,
    serverUrls: () => [current.url],
    cutClient: (outageMs) => {
      proxy.pause();
      const cut = proxy.cut();
      setTimeout(() => proxy.resume(), outageMs);
      return cut;
    },
    restartServer: async () => {
      await current.stop();
      current = await startServer({ ...SERVER_ENV, PORT: port });
      generation++;
    },
    generation: () => generation,
    stop: async () => {
      await proxy.close();
      await current.stop();
    },
  };
}

afterAll(() => closeSdkClients());

/** `CHAOS_SEED=<n>` replays a run (the seed decides where the cuts fall and how long the outages last). */
const seedOverride = process.env.CHAOS_SEED === undefined ? undefined : Number(process.env.CHAOS_SEED);

describe('chaos: webhooks stream while the client is dropped at random and the server restarts', () => {
  it.each([
    { transport: 'socketio' as const, seed: 1201 },
    { transport: 'websocket' as const, seed: 4711 },
  ])(
    'over $transport, then every notification answered 200 is delivered once and in order, or gap fired (seed $seed)',
    async ({ transport, seed: defaultSeed }) => {
      const seed = seedOverride ?? defaultSeed;
      const env = await singleServer();
      try {
        const report = await runChaos(env, {
          // Socket.IO with its default negotiation (long-polling, then the upgrade): the path browsers take.
          client: { transport },
          webhooks: 300,
          paceMs: 15,
          cuts: 8,
          maxOutageMs: 300,
          seed,
        });
        console.log(`chaos report: ${JSON.stringify(report)}`);
        writeFileSync(`test-artifacts/sdk-chaos-${transport}.json`, `${JSON.stringify(report, null, 2)}\n`);
        // Faults really happened.
        expect(report.cutsInjected).toBe(8);
        expect(report.connectionsCut).toBeGreaterThan(0);
        expect(report.restarts).toBe(1);
        expect(report.reconnects).toBeGreaterThanOrEqual(2);
        // Exactly once, in order, nothing invented.
        expect(report.duplicates).toBe(0);
        expect(report.outOfOrder).toBe(0);
        expect(report.unexpected).toBe(0);
        // Whatever the restarted server accepted, the client got; anything else missing was announced by a gap.
        expect(report.missingAfterLastRestart).toBe(0);
        if (report.gaps === 0) expect(report.missing).toBe(0);
      } finally {
        await env.stop();
      }
    },
    60_000,
  );
});
