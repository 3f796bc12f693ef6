import type { TransportKind } from '../../client/src/transports/transport.js';
import { signatureHeader } from '../../src/webhooks/signature.js';
import { random } from './chaos.js';
import type { AccessLine } from './nginx.js';
import { httpFrom, type NginxCluster } from './nginx-cluster.js';
import { sdkClient, type SdkRecorder } from './sdk-client.js';
import { TEST_APP_SECRET } from './server.js';
import { TcpProxy } from './tcp-proxy.js';
import { flatEvent } from './webhooks.js';

export interface ClusterChaosOptions {
  readonly transport: TransportKind;
  readonly seed: number;
  readonly webhooks: number;
  /** Pause between two webhooks. */
  readonly paceMs: number;
  /** Transport drops injected at random points of the stream (bounded). */
  readonly cuts: number;
  /** Longest network outage after a cut. */
  readonly maxOutageMs: number;
  /** Where the client's network path (a TCP relay) reaches nginx from: nginx hashes it to one instance. */
  readonly clientAddress: string;
  /** Where webhooks come from, in turn, as Meta's senders would: addresses hashed to every instance. */
  readonly webhookAddresses: readonly string[];
  /** This run's user and account: what earlier runs left in the shared history is not this client's. */
  readonly userId: string;
  readonly accountId: string;
}

/** One restart of the instance the client was on. */
export interface InstanceFault {
  readonly kind: 'SIGTERM' | 'SIGKILL';
  /** Index of the webhook the fault was injected before. */
  readonly atWebhook: number;
  /** The instance the client was on (admin API), the one stopped. */
  readonly instance: number;
  readonly exitCode: number | null;
  /** The client was connected again (through nginx) before the instance came back. */
  readonly clientBackWhileDown: boolean;
  /** Where it was then (admin API of the running instances). */
  readonly clientBackOn: number | undefined;
  /** From the signal to the client connected again. */
  readonly clientBackAfterMs: number | undefined;
  /** From the signal to the instance ready again. */
  readonly downMs: number;
}

export interface ClusterChaosReport {
  seed: number;
  transport: TransportKind;
  webhooksSent: number;
  /** Answered 200. */
  accepted: number;
  /** Everything else, by status (0: no answer). */
  refused: Record<string, number>;
  /** The webhooks' answers in send order, run-length encoded (`200x95 502x3 200x40 ...`). */
  answers: string;
  cutsInjected: number;
  connectionsCut: number;
  faults: InstanceFault[];
  /** `state: reconnecting` events. */
  reconnects: number;
  /** Connections that reached `connected`: the first, then one per successful reconnect. */
  connections: number;
  /** Of those, Socket.IO sessions restored by connection state recovery (no `auth_success` on them). */
  recoveries: number;
  gaps: number;
  delivered: number;
  /** Delivered notifications whose webhook got no 200 (the instance died after publishing, before answering). */
  deliveredWithout200: number;
  duplicates: number;
  /** Delivered after a notification whose webhook was sent later. */
  outOfOrder: number;
  /** Delivered but never sent. */
  unexpected: number;
  /** Answered 200 and never delivered. */
  missing: number;
  /** The instances the client's requests reached, in order, from nginx's access log (consecutive repeats merged). */
  clientPath: number[];
  /** Requests of the client nginx answered with an error status (no instance could take them, or one refused). */
  clientRequestsFailed: Record<string, number>;
  errors: string[];
  durationMs: number;
}

/** A signed flat webhook through nginx from `address`: its status, or 0 when no answer came. */
async function postWebhook(cluster: NginxCluster, address: string, event: Record<string, unknown>): Promise<number> {
  const body = Buffer.from(JSON.stringify(event));
  try {
    const res = await httpFrom(address, `${cluster.url}/api/webhooks/instagram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signatureHeader(body, TEST_APP_SECRET) },
      body,
      timeoutMs: 5000,
    });
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Counts, per connection the SDK establishes, whether the server greeted it (`auth_success`: a fresh session) or
 * not (a recovered Socket.IO session). An Engine.IO open packet (`0{...}`) starts a new attempt.
 */
function watchSessions(r: SdkRecorder): { connections: number; recoveries: number } {
  const counts = { connections: 0, recoveries: 0 };
  let greeted = false;
  r.client.on('frame', (frame) => {
    if (frame.direction === 'in' && frame.data.startsWith('0{')) greeted = false;
  });
  r.client.on('authenticated', () => (greeted = true));
  r.client.on('state', (state) => {
    if (state !== 'connected') return;
    counts.connections++;
    if (!greeted) counts.recoveries++;
    greeted = false;
  });
  return counts;
}

/**
 * A steady stream of signed webhooks POSTed through nginx while the SDK client (through nginx, behind a TCP relay
 * that can be cut) has its transport dropped at random, the instance it is on is restarted gracefully (SIGTERM) a
 * third of the way in, and the instance it is on is killed (SIGKILL) two thirds of the way in. Each stopped instance
 * stays down until the client is connected again elsewhere (bounded), then is started again on its port. Returns
 * what the client saw against what the cluster answered.
 */
export async function runClusterChaos(cluster: NginxCluster, options: ClusterChaosOptions): Promise<ClusterChaosReport> {
  const rand = random(options.seed);
  const started = Date.now();
  const proxy = await TcpProxy.start(cluster.url, { localAddress: options.clientAddress });
  const r = sdkClient(proxy.url, {
    transport: options.transport,
    claims: { userId: options.userId, accountIds: [options.accountId] },
    reconnectDelayMs: 50,
    reconnectDelayMaxMs: 300,
  });
  const sessions = watchSessions(r);
  const connectedCount = () => r.states.filter((s) => s === 'connected').length;

  /** Stops the instance the client is on, keeps it down until the client is back elsewhere, starts it again. */
  const restartClientInstance = async (kind: InstanceFault['kind'], atWebhook: number): Promise<InstanceFault> => {
    const instance = await cluster.locate(options.userId);
    const before = connectedCount();
    const signalledAt = Date.now();
    const stopping = kind === 'SIGKILL' ? cluster.kill(instance).then(() => ({ code: null })) : cluster.stopGracefully(instance);
    let clientBackOn: number | undefined;
    let clientBackAfterMs: number | undefined;
    try {
      // Its connections end with the process (SIGKILL) or with the drain's goodbye (SIGTERM); either way the next
      // connection cannot be to this instance until it is started again.
      await r.until(() => connectedCount() > before && r.client.state === 'connected', 'the client connected again', 15_000);
      clientBackAfterMs = Date.now() - signalledAt;
      clientBackOn = await cluster.locate(options.userId);
    } catch {
      // reported as clientBackWhileDown: false
    }
    const { code } = await stopping;
    await cluster.start(instance);
    return {
      kind,
      atWebhook,
      instance,
      exitCode: code,
      clientBackWhileDown: clientBackOn !== undefined,
      clientBackOn,
      clientBackAfterMs,
      downMs: Date.now() - signalledAt,
    };
  };

  let report: Omit<ClusterChaosReport, 'clientPath' | 'clientRequestsFailed'>;
  try {
    await r.reached('connected', 1, 10_000);
    const cutAt = new Set<number>();
    while (cutAt.size < Math.min(options.cuts, options.webhooks - 10)) cutAt.add(5 + Math.floor(rand() * (options.webhooks - 10)));
    const restartAt = Math.floor(options.webhooks / 3);
    const killAt = Math.floor((2 * options.webhooks) / 3);

    const sent: { id: string; status: number }[] = [];
    let connectionsCut = 0;
    let faults: Promise<InstanceFault[]> = Promise.resolve([]);
    const addFault = (kind: InstanceFault['kind'], at: number) => {
      // One after the other: the kill waits for the graceful restart to be over.
      const earlier = faults;
      faults = earlier.then(async (done) => [...done, await restartClientInstance(kind, at)]);
    };
    for (let i = 0; i < options.webhooks; i++) {
      if (cutAt.has(i)) {
        proxy.pause();
        connectionsCut += proxy.cut();
        setTimeout(() => proxy.resume(), Math.floor(rand() * options.maxOutageMs));
      }
      if (i === restartAt) addFault('SIGTERM', i);
      if (i === killAt) addFault('SIGKILL', i);
      const event = flatEvent({ accountId: options.accountId, comment: { text: `cluster chaos ${i}` } });
      const address = options.webhookAddresses[i % options.webhookAddresses.length] as string;
      sent.push({ id: event.id as string, status: await postWebhook(cluster, address, event) });
      await new Promise((resolve) => setTimeout(resolve, options.paceMs));
    }
    const injected = await faults;

    // A last one, so that the end is known: once it is delivered, everything before it that could be, has been.
    const control = flatEvent({ accountId: options.accountId, comment: { text: 'cluster chaos control' } });
    let controlStatus = 0;
    for (let tries = 0; tries < 50 && controlStatus !== 200; tries++) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      controlStatus = await postWebhook(cluster, options.webhookAddresses[0] as string, control);
    }
    sent.push({ id: control.id as string, status: controlStatus });
    await r.received(control.id as string, 20_000);

    report = {
      ...analyse(sent, r),
      seed: options.seed,
      transport: options.transport,
      webhooksSent: sent.length,
      cutsInjected: cutAt.size,
      connectionsCut,
      faults: injected,
      reconnects: r.states.filter((s) => s === 'reconnecting').length,
      connections: sessions.connections,
      recoveries: sessions.recoveries,
      errors: [...new Set(r.errors.map((e) => `${e.code}: ${e.message}`))],
      durationMs: Date.now() - started,
    };
  } finally {
    await r.client.close();
    await proxy.close();
  }
  return { ...report, ...(await clientPath(cluster, options.clientAddress)) };
}

/** What the client received against what was sent, in send order (webhooks go one at a time). */
function analyse(sent: readonly { id: string; status: number }[], r: SdkRecorder) {
  const position = new Map(sent.map((s, index) => [s.id, index]));
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  let last = -1;
  for (const id of r.ids) {
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
  const refused: Record<string, number> = {};
  for (const s of sent) if (s.status !== 200) refused[s.status] = (refused[s.status] ?? 0) + 1;
  const runs: [number, number][] = [];
  for (const s of sent) {
    const last = runs.at(-1);
    if (last?.[0] === s.status) last[1]++;
    else runs.push([s.status, 1]);
  }
  return {
    accepted: sent.filter((s) => s.status === 200).length,
    refused,
    answers: runs.map(([status, count]) => `${status}x${count}`).join(' '),
    gaps: r.gaps.length,
    delivered: r.ids.length,
    deliveredWithout200: sent.filter((s) => s.status !== 200 && seen.has(s.id)).length,
    duplicates,
    outOfOrder,
    unexpected,
    missing: sent.filter((s) => s.status === 200 && !seen.has(s.id)).length,
  };
}

/**
 * The client's side of nginx's access log, once the client is closed. nginx writes a WebSocket's line when the
 * connection ends, a moment after the client closed it; no event says when, so the log is read until it stops
 * growing (bounded). Only the report depends on it.
 */
async function clientPath(cluster: NginxCluster, address: string): Promise<Pick<ClusterChaosReport, 'clientPath' | 'clientRequestsFailed'>> {
  const isClientTraffic = (line: AccessLine) => line.path === '/socket.io/' || line.path === '/ws/notifications';
  let lines = cluster.linesOf(address).filter(isClientTraffic);
  for (let reads = 0; reads < 10; reads++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = cluster.linesOf(address).filter(isClientTraffic);
    if (again.length === lines.length) break;
    lines = again;
  }
  const path: number[] = [];
  const failed: Record<string, number> = {};
  for (const line of lines) {
    if (line.status >= 400) failed[line.status] = (failed[line.status] ?? 0) + 1;
    const instance = cluster.instanceOfUpstream(line.upstream);
    if (instance !== undefined && path.at(-1) !== instance) path.push(instance);
  }
  return { clientPath: path, clientRequestsFailed: failed };
}
