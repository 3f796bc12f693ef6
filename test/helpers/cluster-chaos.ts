import type { TransportKind } from '../../client/src/transports/transport.js';
import { random } from './chaos.js';
import type { AccessLine } from './nginx.js';
import type { NginxCluster } from './nginx-cluster.js';
import { sdkClient, type SdkRecorder } from './sdk-client.js';
import { TcpProxy } from './tcp-proxy.js';
import { flatEvent } from './webhooks.js';

export interface ClusterChaosOptions {
  readonly transport: TransportKind;
  readonly seed: number;
  /** Webhooks at least: the stream goes on until the faults are over, then `tail` more (at most `maxWebhooks`). */
  readonly webhooks: number;
  readonly tail: number;
  readonly maxWebhooks: number;
  /** Pause between two webhooks. */
  readonly paceMs: number;
  /** Transport drops injected at random points of the first `webhooks` (bounded). */
  readonly cuts: number;
  /** Longest network outage after a cut. */
  readonly maxOutageMs: number;
  /** Where the client's network path (a TCP relay) reaches nginx from: nginx hashes it to one instance. */
  readonly clientAddress: string;
  /**
   * Meta's senders, one address hashed to each instance (by instance index): webhooks come from them in turn, and
   * they tell which instance nginx sends an address to.
   */
  readonly senders: readonly string[];
  /** This run's user and account: what earlier runs left in the shared history is not this client's. */
  readonly userId: string;
  readonly accountId: string;
}

/** One restart of the instance the client was on. */
export interface InstanceFault {
  readonly kind: 'SIGTERM' | 'SIGKILL';
  /** Index of the webhook the fault was injected before. */
  readonly atWebhook: number;
  /** The instance the client was on (its own metrics), the one stopped. */
  readonly instance: number;
  readonly exitCode: number | null;
  /** The client was connected again (through nginx) before the instance came back. */
  readonly clientBackWhileDown: boolean;
  /** Where it was then (the running instances' metrics). */
  readonly clientBackOn: number | undefined;
  /** From the signal to the client connected again. */
  readonly clientBackAfterMs: number | undefined;
  /** From the signal to the instance ready again. */
  readonly downMs: number;
  /**
   * From ready again to nginx passing it requests again (after a refused connection nginx leaves an instance out
   * for `fail_timeout`, 10 s by default). The next fault, and the next run, wait for it: with one instance down and
   * the other still left out, nginx has no instance at all (deploy-nginx-failover.test.ts).
   */
  readonly readmittedAfterMs: number;
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
  /**
   * For the first missing ones: their place in the stream and what the client went through around it (its event
   * log from the delivery before to the delivery after).
   */
  missingDetail: { index: number; id: string; around: string[] }[];
  /** The instances the client's requests reached, in order, from nginx's access log (consecutive repeats merged). */
  clientPath: number[];
  /** Requests of the client nginx answered with an error status (no instance could take them, or one refused). */
  clientRequestsFailed: Record<string, number>;
  errors: string[];
  durationMs: number;
  /**
   * Everything in order, `<ms since start> <what>`: webhooks (`w<index> <status> via <sender's instance>`), the
   * client's events (notifications by stream index), its connection frames, cuts and faults. For the artifact file:
   * this is what tells a lost notification's story.
   */
  timeline: string[];
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
 * quarter of the way in, and then the instance it is on is killed (SIGKILL). Each stopped instance stays down until
 * the client is connected again elsewhere (bounded), is started again on its port, and the next fault waits until
 * nginx passes requests to it again. The stream goes on for `tail` webhooks after the last fault. Returns what the
 * client saw against what the cluster answered.
 */
export async function runClusterChaos(cluster: NginxCluster, options: ClusterChaosOptions): Promise<ClusterChaosReport> {
  const rand = random(options.seed);
  const started = Date.now();
  // Every instance in nginx's rotation first (an earlier run's last fault may have left one out for a while).
  for (const [index, sender] of options.senders.entries()) await cluster.awaitRotation(index, sender);
  const proxy = await TcpProxy.start(cluster.url, { localAddress: options.clientAddress });
  const r = sdkClient(proxy.url, {
    transport: options.transport,
    claims: { userId: options.userId, accountIds: [options.accountId] },
    reconnectDelayMs: 50,
    reconnectDelayMaxMs: 300,
  });
  const sessions = watchSessions(r);
  const connectedCount = () => r.states.filter((s) => s === 'connected').length;
  const timeline: string[] = [];
  const note = (what: string) => timeline.push(`${Date.now() - started} ${what}`);
  /** Stream index of each notification id, known before it is sent. */
  const indexOf = new Map<string, number>();
  r.client.on('notification', (n) => note(`client notification w${indexOf.get(n.id) ?? n.id}`));
  r.client.on('state', (state) => note(`client state ${state}`));
  r.client.on('gap', (gap) => note(`client gap since w${indexOf.get(gap.since ?? '') ?? gap.since}`));
  r.client.on('error', (e) => note(`client error ${e.code}: ${e.message}`));
  r.client.on('authenticated', () => note('client authenticated'));
  r.client.on('frame', (frame) => {
    // Connection frames only: Engine.IO open/close, Socket.IO connect/disconnect/connect_error, raw WebSocket answers
    // other than notifications and heartbeats.
    const data = frame.data;
    if (/^(0|1|40|41|44)/.test(data) || (data.startsWith('{') && !/"type":"(webhook_event|heartbeat|heartbeat_response)"/.test(data))) {
      note(`client frame ${frame.direction} ${data.slice(0, 120)}`);
    }
  });

  /** Stops the instance the client is on, keeps it down until the client is back elsewhere, starts it again. */
  const restartClientInstance = async (kind: InstanceFault['kind'], atWebhook: number): Promise<InstanceFault> => {
    const instance = await cluster.locate();
    const before = connectedCount();
    const signalledAt = Date.now();
    note(`${kind} instance ${instance} (the client's)`);
    const stopping = kind === 'SIGKILL' ? cluster.kill(instance).then(() => ({ code: null })) : cluster.stopGracefully(instance);
    let clientBackOn: number | undefined;
    let clientBackAfterMs: number | undefined;
    try {
      // Its connections end with the process (SIGKILL) or with the drain's goodbye (SIGTERM); either way the next
      // connection cannot be to this instance until it is started again.
      await r.until(() => connectedCount() > before && r.client.state === 'connected', 'the client connected again', 15_000);
      clientBackAfterMs = Date.now() - signalledAt;
      clientBackOn = await cluster.locate();
      note(`client back on instance ${clientBackOn}`);
    } catch {
      // reported as clientBackWhileDown: false
    }
    const { code } = await stopping;
    note(`instance ${instance} exited ${code}`);
    await cluster.start(instance);
    const readyAt = Date.now();
    note(`instance ${instance} ready again`);
    const readmittedAfterMs = await cluster.awaitRotation(instance, options.senders[instance] as string);
    note(`instance ${instance} in nginx's rotation again`);
    return {
      kind,
      atWebhook,
      instance,
      exitCode: code,
      clientBackWhileDown: clientBackOn !== undefined,
      clientBackOn,
      clientBackAfterMs,
      downMs: readyAt - signalledAt,
      readmittedAfterMs,
    };
  };

  let report: Omit<ClusterChaosReport, 'clientPath' | 'clientRequestsFailed'>;
  try {
    await r.reached('connected', 1, 10_000);
    const cutAt = new Set<number>();
    while (cutAt.size < Math.min(options.cuts, options.webhooks - 10)) cutAt.add(5 + Math.floor(rand() * (options.webhooks - 10)));
    const faultsAt = Math.floor(options.webhooks / 4);

    const sent: { id: string; status: number }[] = [];
    let connectionsCut = 0;
    // One fault after the other, each once the previous instance is back in nginx's rotation.
    let faults: Promise<InstanceFault[]> | undefined;
    let faultsOverAt: number | undefined;
    let faultsFailed = false;
    for (let i = 0; i < options.maxWebhooks && !faultsFailed; i++) {
      if (i >= options.webhooks && faultsOverAt !== undefined && i >= faultsOverAt + options.tail) break;
      if (cutAt.has(i)) {
        proxy.pause();
        const cut = proxy.cut();
        connectionsCut += cut;
        const outageMs = Math.floor(rand() * options.maxOutageMs);
        note(`cut ${cut} connections, network down for ${outageMs} ms`);
        setTimeout(() => {
          proxy.resume();
          note('network up');
        }, outageMs);
      }
      if (i === faultsAt) {
        faults = (async () => {
          const restart = await restartClientInstance('SIGTERM', i);
          const kill = await restartClientInstance('SIGKILL', sent.length);
          faultsOverAt = sent.length;
          return [restart, kill];
        })();
        // Ends the stream; `await faults` below reports why.
        faults.catch(() => (faultsFailed = true));
      }
      const event = flatEvent({ accountId: options.accountId, comment: { text: `cluster chaos ${i}` } });
      indexOf.set(event.id as string, i);
      const sender = i % options.senders.length;
      const status = await cluster.postWebhook(options.senders[sender] as string, event);
      note(`w${i} ${status} via ${sender}`);
      sent.push({ id: event.id as string, status });
      await new Promise((resolve) => setTimeout(resolve, options.paceMs));
    }
    const injected = (await faults) ?? [];
    if (faultsOverAt === undefined) throw new Error(`the faults were not over after ${options.maxWebhooks} webhooks`);

    // A last one, so that the end is known: once it is delivered, everything before it that could be, has been.
    const control = flatEvent({ accountId: options.accountId, comment: { text: 'cluster chaos control' } });
    let controlStatus = 0;
    for (let tries = 0; tries < 50 && controlStatus !== 200; tries++) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      controlStatus = await cluster.postWebhook(options.senders[0] as string, control);
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
      timeline,
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
    missingDetail: sent
      .map((s, index) => ({ ...s, index }))
      .filter((s) => s.status === 200 && !seen.has(s.id))
      .slice(0, 3)
      .map(({ id, index }) => ({ index, id, around: around(r.log, sent, index, seen) })),
  };
}

/** The client's event log from the delivery of the last delivered notification before `index` to the first after. */
function around(log: readonly string[], sent: readonly { id: string }[], index: number, seen: ReadonlySet<string>): string[] {
  const before = sent.slice(0, index).findLast((s) => seen.has(s.id));
  const after = sent.slice(index + 1).find((s) => seen.has(s.id));
  const from = before === undefined ? 0 : log.indexOf(`notification ${before.id}`);
  const to = after === undefined ? log.length : log.indexOf(`notification ${after.id}`);
  const lines = log.slice(Math.max(0, from), to + 1);
  return lines.length > 40 ? [...lines.slice(0, 20), `... ${lines.length - 40} more ...`, ...lines.slice(-20)] : lines;
}

/**
 * The Socket.IO and raw WebSocket requests of a client address in nginx's access log, from line `from` of its lines,
 * once the client is closed. nginx writes a WebSocket's line when the connection ends, a moment after the client
 * closed it; no event says when, so the log is read until it stops growing (bounded). Only reports depend on it.
 */
export async function clientTraffic(cluster: NginxCluster, address: string, from = 0): Promise<AccessLine[]> {
  const read = () => cluster.linesOf(address).slice(from).filter((line) => line.path === '/socket.io/' || line.path === '/ws/notifications');
  let lines = read();
  for (let reads = 0; reads < 10; reads++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = read();
    if (again.length === lines.length) break;
    lines = again;
  }
  return lines;
}

/** The instances the client's requests reached, in order, and its requests nginx answered with an error status. */
async function clientPath(cluster: NginxCluster, address: string): Promise<Pick<ClusterChaosReport, 'clientPath' | 'clientRequestsFailed'>> {
  const path: number[] = [];
  const failed: Record<string, number> = {};
  for (const line of await clientTraffic(cluster, address)) {
    if (line.status >= 400) failed[line.status] = (failed[line.status] ?? 0) + 1;
    const instance = cluster.instanceOfUpstream(line.upstream);
    if (instance !== undefined && path.at(-1) !== instance) path.push(instance);
  }
  return { clientPath: path, clientRequestsFailed: failed };
}
