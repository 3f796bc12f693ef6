import jwt from 'jsonwebtoken';
import { type Delivered, type SoakConnection, sleep, SoakConnection as Connection, type Transport, withTimeout } from './connection.js';
import { EVENT_TYPES } from '../../src/notifications/notification.js';
import { ACCOUNTS } from './feeder.js';


const USERS = 40;
/**
 * Lifetime of the expiry scenario's tokens. `exp` is in whole seconds, so a token lives between this and one second
 * less: long enough to authenticate and subscribe on a loaded machine, short enough to expire while connected.
 */
const EXPIRING_TOKEN_S = 4;
const HEARTBEAT_EVERY_MS = 10_000;

export interface SoakContext {
  readonly urls: readonly string[];
  readonly jwtSecret: string;
  /** Bearer token of the admin API: `GET /api/admin/clients` says when the server has seen a connection go. */
  readonly adminToken: string;
  readonly authTimeoutMs: number;
  readonly recoveryWindowMs: number;
  /** Socket.IO events per second per connection before `rate_limited`. */
  readonly eventRateLimit: number;
  /** False once the load phase ends: loops finish their current step and stop. */
  running(): boolean;
}

export function mint(userId: string, expiresInS: number, secret: string): string {
  return jwt.sign({ userId, accountIds: ACCOUNTS }, secret, { algorithm: 'HS256', expiresIn: expiresInS });
}

/** Sleeps `ms`, or less once the load phase is over (so that the soak stops promptly). */
async function pause(ctx: SoakContext, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (ctx.running() && Date.now() < until) await sleep(Math.min(250, until - Date.now()));
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
const between = (min: number, max: number) => min + Math.random() * (max - min);

/** Counts by outcome, for the report: `scenario.outcome` → n. */
export class Tally {
  readonly counts: Record<string, number> = {};
  #printed = 0;
  /** `say`: unexpected outcomes are printed as they happen (the first 50), so that a long soak shows them at once. */
  constructor(private readonly say: (line: string) => void = () => undefined) {}
  /** The first few unexpected outcomes, with their error, for the report. */
  readonly samples: string[] = [];
  add(key: string, error?: unknown): void {
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    if (error === undefined) return;
    const line = `${key}: ${error instanceof Error ? error.message : String(error)}`;
    if (this.samples.length < 20) this.samples.push(line);
    if (key.endsWith('.unexpected') && this.#printed++ < 50) this.say(`  unexpected: ${line} (at ${new Date().toISOString()})`);
  }
  get anomalies(): number {
    return Object.entries(this.counts)
      .filter(([key]) => key.endsWith('.unexpected'))
      .reduce((sum, [, n]) => sum + n, 0);
  }
  /** Client scenarios and recoveries run (deliveries to churning clients left out). */
  get scenarios(): number {
    return Object.entries(this.counts)
      .filter(([key]) => !key.startsWith('churn_delivery.'))
      .reduce((sum, [, n]) => sum + n, 0);
  }
  get total(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }
}

/** Deliveries of one tracked client: how many times each notification key arrived. */
export class Ledger {
  readonly received = new Map<string, number>();
  lastAt = 0;
  record = (n: Delivered): void => {
    this.lastAt = Date.now();
    const key = `${n.eventType}:${n.id}`;
    this.received.set(key, (this.received.get(key) ?? 0) + 1);
  };
}

/** Authenticates (Socket.IO: handshake token or the guide's `authenticate`; raw WebSocket: `authenticate`). */
async function authenticated(
  ctx: SoakContext,
  transport: Transport,
  userId: string,
  token: string,
  options: { viaHandshake?: boolean; reconnecting?: boolean; url?: string; onNotification?: (n: Delivered) => void } = {},
): Promise<SoakConnection> {
  const url = options.url ?? pick(ctx.urls);
  const handshake = transport === 'socketio' && options.viaHandshake !== false;
  const conn = await Connection.open(url, transport, {
    ...(handshake && { handshakeToken: token }),
    ...(options.reconnecting !== undefined && { reconnecting: options.reconnecting }),
    ...(options.onNotification !== undefined && { onNotification: options.onNotification }),
  });
  if (!handshake) conn.send('authenticate', { token, userId, timestamp: Date.now() });
  const answer = await conn.waitFor((m) => m.type === 'auth_success' || m.type === 'auth_failed', 20_000, 'auth_success', true);
  if (answer.type === 'auth_failed') {
    conn.close();
    throw new Error(`auth_failed ${String(answer.reason)}`);
  }
  return conn;
}

async function subscribed(conn: SoakConnection, eventTypes: readonly string[]): Promise<void> {
  conn.send('subscribe', { eventTypes, timestamp: Date.now() });
  await conn.waitFor((m) => m.type === 'subscription_confirmed', 10_000, 'subscription_confirmed');
}

function heartbeats(conn: SoakConnection): NodeJS.Timeout {
  return setInterval(() => conn.send('heartbeat', { timestamp: Date.now(), clientId: 'soak' }), HEARTBEAT_EVERY_MS);
}

/**
 * A client that stays for the whole load phase, subscribed to every type: it must receive every notification of
 * every accepted webhook, once.
 */
export class SteadyClient {
  readonly ledger = new Ledger();
  #conn: SoakConnection | undefined;
  #beat: NodeJS.Timeout | undefined;

  constructor(readonly transport: Transport, private readonly index: number) {}

  async open(ctx: SoakContext): Promise<void> {
    const userId = `steady-${this.index}`;
    this.#conn = await authenticated(ctx, this.transport, userId, mint(userId, 24 * 3600, ctx.jwtSecret), {
      url: ctx.urls[this.index % ctx.urls.length] as string,
      onNotification: this.ledger.record,
    });
    await subscribed(this.#conn, EVENT_TYPES);
    this.#beat = heartbeats(this.#conn);
  }

  get closedReason(): string | undefined {
    return this.#conn?.closedReason;
  }

  close(): void {
    clearInterval(this.#beat);
    this.#conn?.close();
  }
}

/**
 * A Socket.IO client that stays, but whose transport is cut again and again (as a network failure would: the server
 * keeps its session) and that comes back within the recovery window, in cluster mode to either instance. It must
 * recover every time and receive every notification once, across the cuts.
 */
export class RecoveringClient {
  readonly ledger = new Ledger();
  /** Why this client no longer counts for deliveries (it came back after the recovery window), if it does not. */
  retired: string | undefined;
  #conn: SoakConnection | undefined;
  #beat: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;

  constructor(private readonly index: number, private readonly tally: Tally) {}

  async open(ctx: SoakContext): Promise<void> {
    const userId = `recovering-${this.index}`;
    this.#conn = await authenticated(ctx, 'socketio', userId, mint(userId, 24 * 3600, ctx.jwtSecret), {
      url: ctx.urls[this.index % ctx.urls.length] as string,
      reconnecting: true,
      onNotification: this.ledger.record,
    });
    await subscribed(this.#conn, EVENT_TYPES);
    this.#beat = heartbeats(this.#conn);
    this.#loop = this.#cutAndComeBack(ctx);
  }

  /** Waits for the cut-and-recover loop to finish its current round. */
  async settle(): Promise<void> {
    await this.#loop;
  }

  get closedReason(): string | undefined {
    return this.#conn?.closedReason;
  }

  close(): void {
    clearInterval(this.#beat);
    this.#conn?.close();
  }

  async #serverSawTheDrop(ctx: SoakContext): Promise<void> {
    const userId = `recovering-${this.index}`;
    const until = Date.now() + 10_000;
    for (;;) {
      const res = await fetch(`${ctx.urls[0]}/api/admin/clients`, {
        headers: { authorization: `Bearer ${ctx.adminToken}` },
        signal: AbortSignal.timeout(5000),
      });
      const { clients } = (await res.json()) as { clients: Array<{ userId: string | null }> };
      if (!clients.some((c) => c.userId === userId)) return;
      if (Date.now() > until) throw new Error('the server still lists the connection 10 s after the drop');
      await sleep(50);
    }
  }

  async #cutAndComeBack(ctx: SoakContext): Promise<void> {
    const socket = this.#conn?.socket;
    if (socket === undefined) return;
    for (let round = 0; ; round++) {
      // The first cut comes early, so that even a short soak (the smoke test) recovers every client once.
      await pause(ctx, round === 0 ? between(1500, 4000) : between(4000, 15_000));
      if (!ctx.running()) return;
      // A client that has received no broadcast yet has no offset and cannot be recovered (TRAPS): wait for one.
      if (this.ledger.received.size === 0) continue;
      const crossInstance = ctx.urls.length > 1 && round % 2 === 1;
      const what = crossInstance ? 'recovery_other_instance' : 'recovery';
      const cutAt = Date.now();
      const quietMs = cutAt - this.ledger.lastAt;
      try {
        const dropped = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
        socket.io.reconnection(false);
        socket.io.engine.close();
        await withTimeout(dropped, 5000, 'the drop');
        // Socket.IO keeps a session for recovery once the server has seen the connection go; a client back before
        // that connects afresh. A dropped network is noticed by the server after its ping timeout, long after such a
        // client would retry: wait for the server, as the test helpers do, then stay away a little longer.
        const downFor = between(200, Math.min(3000, ctx.recoveryWindowMs / 3));
        await this.#serverSawTheDrop(ctx);
        await sleep(Math.max(0, cutAt + downFor - Date.now()));
        if (crossInstance) {
          const manager = socket.io as unknown as { uri: string };
          manager.uri = ctx.urls.find((u) => u !== manager.uri) ?? manager.uri;
        }
        const back = new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', (err) => reject(err));
        });
        socket.io.reconnection(true);
        socket.connect();
        await withTimeout(back, 20_000, 'the reconnection');
        const downMs = Date.now() - cutAt;
        if (socket.recovered) {
          this.tally.add(`${what}.recovered`);
          continue;
        }
        if (downMs >= ctx.recoveryWindowMs) {
          // Away longer than the window (a loaded machine: the server was slow to see the drop): not recovering is
          // right, and this client, which does not catch up by history, leaves the delivery count.
          this.retired = `came back after ${downMs} ms, past the ${ctx.recoveryWindowMs} ms window`;
          this.tally.add(`${what}.past_window`);
          return;
        }
        this.tally.add(`${what}.unexpected`, `not recovered (down ${downMs} ms, last delivery ${quietMs} ms before the cut)`);
        return;
      } catch (err) {
        this.tally.add(`${what}.unexpected`, err);
        return;
      }
    }
  }
}

type Scenario = (ctx: SoakContext, transport: Transport, tally: Tally) => Promise<string>;

/** A user id for a churning client: a few dozen users, so that per-user bookkeeping is exercised and bounded. */
const churnUser = () => `churn-${Math.floor(Math.random() * USERS)}`;

/** Dup check for a churning client: one notification must not reach one connection twice. */
function dupChecker(tally: Tally): (n: Delivered) => void {
  const seen = new Set<string>();
  return (n) => {
    const key = `${n.eventType}:${n.id}`;
    if (seen.has(key)) tally.add('churn_delivery.duplicate', `duplicate ${key}`);
    else seen.add(key);
    tally.add('churn_delivery.received');
  };
}

const SCENARIOS: Record<string, { weight: number; run: Scenario }> = {
  /** Authenticate, subscribe, read history, stay a while, unsubscribe, leave. */
  session: {
    weight: 45,
    run: async (ctx, transport, tally) => {
      const userId = churnUser();
      const conn = await authenticated(ctx, transport, userId, mint(userId, 3600, ctx.jwtSecret), {
        viaHandshake: Math.random() < 0.5,
        onNotification: dupChecker(tally),
      });
      try {
        await subscribed(conn, [pick(EVENT_TYPES), pick(EVENT_TYPES), 'comments']);
        conn.send('get_history', { limit: 20 });
        await conn.waitFor((m) => m.type === 'history', 10_000, 'history');
        await pause(ctx, between(500, 8000));
        conn.send('unsubscribe', { eventTypes: ['comments'] });
        await conn.waitFor((m) => m.type === 'subscription_confirmed', 10_000, 'subscription_confirmed after unsubscribe');
        conn.send('heartbeat', { timestamp: Date.now(), clientId: 'soak' });
        await conn.waitFor((m) => m.type === 'heartbeat_response', 10_000, 'heartbeat_response');
        return 'completed';
      } finally {
        conn.close();
      }
    },
  },
  /** Authenticate and subscribe, then drop the transport without a goodbye (leaves a session for recovery behind). */
  abrupt: {
    weight: 15,
    run: async (ctx, transport, tally) => {
      const userId = churnUser();
      const conn = await authenticated(ctx, transport, userId, mint(userId, 3600, ctx.jwtSecret), { onNotification: dupChecker(tally) });
      await subscribed(conn, EVENT_TYPES);
      await pause(ctx, between(200, 4000));
      if (conn.socket !== undefined) conn.socket.io.engine.close();
      conn.close();
      return 'dropped';
    },
  },
  /**
   * A token that expires while connected: `auth_failed {Token expired}`, then the server disconnects. On a loaded
   * machine the token may expire before the authentication is through: the same answer, counted apart.
   */
  expiry: {
    weight: 10,
    run: async (ctx, transport) => {
      const userId = churnUser();
      const token = mint(userId, EXPIRING_TOKEN_S, ctx.jwtSecret);
      const handshake = transport === 'socketio' && Math.random() < 0.5;
      let conn: SoakConnection;
      try {
        conn = await Connection.open(pick(ctx.urls), transport, handshake ? { handshakeToken: token } : {});
      } catch (err) {
        if ((err as Error).message === 'Token expired') return 'expired_before_auth';
        throw err;
      }
      try {
        if (!handshake) conn.send('authenticate', { token, userId, timestamp: Date.now() });
        conn.send('subscribe', { eventTypes: ['comments'], timestamp: Date.now() });
        const failed = await conn.waitFor((m) => m.type === 'auth_failed', 15_000, 'auth_failed on expiry', true);
        if (failed.reason !== 'Token expired') throw new Error(`auth_failed reason ${String(failed.reason)}`);
        await conn.ended(5000);
        const authenticatedFirst = await conn.waitFor((m) => m.type === 'auth_success', 1, 'auth_success', true).then(
          () => true,
          () => false,
        );
        return authenticatedFirst ? 'expired' : 'expired_before_auth';
      } finally {
        conn.close();
      }
    },
  },
  /** A burst of events past the per-connection budget: `rate_limited`, and the connection still answers after. */
  rate_limit: {
    weight: 10,
    run: async (ctx, transport) => {
      const userId = churnUser();
      const conn = await authenticated(ctx, transport, userId, mint(userId, 3600, ctx.jwtSecret));
      try {
        for (let i = 0; i < ctx.eventRateLimit * 2; i++) conn.send('test_connection', { timestamp: Date.now() });
        await conn.waitFor((m) => m.type === 'error' && m.code === 'rate_limited', 10_000, 'rate_limited');
        // The budget refills within a second: a heartbeat afterwards is answered again.
        await sleep(1500);
        conn.send('heartbeat', { timestamp: Date.now(), clientId: 'soak' });
        await conn.waitFor((m) => m.type === 'heartbeat_response', 10_000, 'heartbeat_response after the burst');
        return 'limited';
      } finally {
        conn.close();
      }
    },
  },
  /** Connects and never authenticates: `auth_failed {Authentication timeout}` after AUTH_TIMEOUT_MS, then closed. */
  auth_timeout: {
    weight: 10,
    run: async (ctx, transport) => {
      const conn = await Connection.open(pick(ctx.urls), transport);
      try {
        const failed = await conn.waitFor((m) => m.type === 'auth_failed', ctx.authTimeoutMs + 10_000, 'auth_failed on timeout', true);
        if (failed.reason !== 'Authentication timeout') throw new Error(`auth_failed reason ${String(failed.reason)}`);
        await conn.ended(5000);
        return 'timed_out';
      } finally {
        conn.close();
      }
    },
  },
  /** A token signed with another secret: refused (Socket.IO: `connect_error`; raw WebSocket: `auth_failed`, 1008). */
  bad_token: {
    weight: 10,
    run: async (ctx, transport) => {
      const userId = churnUser();
      const token = mint(userId, 3600, `${ctx.jwtSecret}-not-it`);
      if (transport === 'socketio') {
        try {
          const conn = await Connection.open(pick(ctx.urls), transport, { handshakeToken: token });
          conn.close();
          throw new Error('a bad handshake token was accepted');
        } catch (err) {
          if ((err as Error).message !== 'Invalid token') throw err;
          return 'refused';
        }
      }
      const conn = await Connection.open(pick(ctx.urls), transport);
      try {
        conn.send('authenticate', { token, userId, timestamp: Date.now() });
        const failed = await conn.waitFor((m) => m.type === 'auth_failed', 10_000, 'auth_failed', true);
        if (failed.reason !== 'Invalid token') throw new Error(`auth_failed reason ${String(failed.reason)}`);
        const closed = await conn.ended(5000);
        if (!closed.startsWith('close 1008')) throw new Error(`closed with ${closed}`);
        return 'refused';
      } finally {
        conn.close();
      }
    },
  },
};

const WEIGHTED = Object.entries(SCENARIOS).flatMap(([name, { weight }]) => Array<string>(weight).fill(name));

/** Whatever happens, one scenario ends within this (a stuck one is an anomaly, not a hang). */
const SCENARIO_LIMIT_MS = 45_000;

/** One churn slot: scenarios one after another, on either transport, until the load phase ends. */
export async function churn(ctx: SoakContext, tally: Tally): Promise<void> {
  while (ctx.running()) {
    const name = pick(WEIGHTED);
    const transport: Transport = Math.random() < 0.5 ? 'socketio' : 'websocket';
    const key = `${name}.${transport}`;
    try {
      const outcome = await withTimeout((SCENARIOS[name] as { run: Scenario }).run(ctx, transport, tally), SCENARIO_LIMIT_MS, key);
      tally.add(`${key}.${outcome}`);
    } catch (err) {
      tally.add(`${key}.unexpected`, err);
    }
    await sleep(between(50, 500));
  }
}
