import type { ClientOptions } from '../../client/src/index.js';
import { sdkClient } from './sdk-client.js';
import { signatureHeader } from '../../src/webhooks/signature.js';
import { TEST_APP_SECRET } from './server.js';
import { flatEvent } from './webhooks.js';

/**
 * What a chaos run needs from the deployment under test: one server behind a TCP relay today; a cluster behind
 * nginx later (several `serverUrls`, `restartServer` killing the instance the client is on).
 */
export interface ChaosEnvironment {
  /** Where the client connects: a relay whose connections can be cut. */
  readonly clientUrl: string;
  /** Where webhooks go, round robin; read before every webhook (a restart may change it). */
  serverUrls(): readonly string[];
  /** Drops the client's transport: resets its connections, and keeps new ones out for `outageMs`. */
  cutClient(outageMs: number): number;
  /** Stops one server and starts it again; resolves once it serves. */
  restartServer(): Promise<void>;
  /** Counts restarts: which incarnation answered a webhook. */
  generation(): number;
}

export interface ChaosOptions {
  readonly client: Partial<ClientOptions>;
  readonly webhooks: number;
  /** Pause between two webhooks. */
  readonly paceMs: number;
  /** Transport drops injected, at random points of the stream (bounded). */
  readonly cuts: number;
  /** Longest network outage after a cut. */
  readonly maxOutageMs: number;
  readonly seed: number;
}

export interface ChaosReport {
  seed: number;
  transport: string;
  webhooksSent: number;
  accepted: number;
  refused: number;
  cutsInjected: number;
  connectionsCut: number;
  restarts: number;
  reconnects: number;
  gaps: number;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
  missing: number;
  missingAfterLastRestart: number;
  errors: string[];
  durationMs: number;
}

/** mulberry32: a tiny seeded PRNG, so that a failing run can be replayed with its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A signed flat webhook through fetch: a refused connection or a 503 (draining) is an answer other than 200. */
async function sendWebhook(url: string, event: Record<string, unknown>): Promise<number> {
  const body = JSON.stringify(event);
  try {
    const res = await fetch(`${url}/api/webhooks/instagram`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signatureHeader(Buffer.from(body), TEST_APP_SECRET) },
      body,
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * A steady stream of signed webhooks while the client's transport is dropped at random and one server is restarted
 * halfway. Returns what the client saw against what the servers accepted (answered 200).
 */
export async function runChaos(env: ChaosEnvironment, options: ChaosOptions): Promise<ChaosReport> {
  const rand = random(options.seed);
  const started = Date.now();
  const r = sdkClient(env.clientUrl, { reconnectDelayMs: 50, reconnectDelayMaxMs: 300, ...options.client });
  await r.reached('connected', 1, 10_000);

  const cutAt = new Set<number>();
  while (cutAt.size < Math.min(options.cuts, options.webhooks - 10)) cutAt.add(5 + Math.floor(rand() * (options.webhooks - 10)));
  const restartAt = Math.floor(options.webhooks / 2);

  const accepted: { id: string; generation: number }[] = [];
  let refused = 0;
  let connectionsCut = 0;
  let restarting: Promise<void> | undefined;
  let restarts = 0;
  for (let i = 0; i < options.webhooks; i++) {
    if (cutAt.has(i)) connectionsCut += env.cutClient(Math.floor(rand() * options.maxOutageMs));
    if (i === restartAt) {
      restarts++;
      restarting = env.restartServer();
    }
    const urls = env.serverUrls();
    const event = flatEvent({ comment: { text: `chaos ${i}` } });
    const status = await sendWebhook(urls[i % urls.length] as string, event);
    if (status === 200) accepted.push({ id: event.id as string, generation: env.generation() });
    else refused++;
    await new Promise((resolve) => setTimeout(resolve, options.paceMs));
  }
  await restarting;

  // A last one, so that the end is known: once it is delivered, everything before it that could be, has been.
  const control = flatEvent({ comment: { text: 'chaos control' } });
  for (let tries = 0; tries < 50; tries++) {
    if ((await sendWebhook(env.serverUrls()[0] as string, control)) === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  accepted.push({ id: control.id as string, generation: env.generation() });
  await r.received(control.id as string, 20_000);

  const position = new Map(accepted.map((a, index) => [a.id, index]));
  const delivered = r.ids;
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  let last = -1;
  for (const id of delivered) {
    if (seen.has(id)) duplicates++;
    seen.add(id);
    const at = position.get(id);
    if (at === undefined) {
      unexpected++;
      continue;
    }
    if (at < last) outOfOrder++;
    last = Math.max(last, at);
  }
  const lastGeneration = env.generation();
  const missing = accepted.filter((a) => !seen.has(a.id));
  const report: ChaosReport = {
    seed: options.seed,
    transport: options.client.transport ?? 'socketio',
    webhooksSent: options.webhooks + 1,
    accepted: accepted.length,
    refused,
    cutsInjected: cutAt.size,
    connectionsCut,
    restarts,
    reconnects: r.states.filter((s) => s === 'reconnecting').length,
    gaps: r.gaps.length,
    delivered: delivered.length,
    duplicates,
    outOfOrder,
    unexpected,
    missing: missing.length,
    missingAfterLastRestart: missing.filter((a) => a.generation === lastGeneration).length,
    errors: [...new Set(r.errors.map((e) => `${e.code}: ${e.message}`))],
    durationMs: Date.now() - started,
  };
  await r.client.close();
  return report;
}
