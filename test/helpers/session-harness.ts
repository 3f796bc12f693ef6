import { expect } from 'vitest';
import type { VerifiedToken } from '../../src/auth/claims.js';
import { loadConfig } from '../../src/config/config.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { MemoryHistoryStore } from '../../src/notifications/history.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import type { Transport } from '../../src/protocol/codes.js';
import type { Ack, Session } from '../../src/session/session.js';
import { SessionHub, type SessionHubOptions } from '../../src/session/session-hub.js';
import { newSessionState, type SessionState } from '../../src/session/state.js';
import { FakeTransport } from './fake-transport.js';
import { mintToken, TEST_JWT_SECRET } from './tokens.js';

/**
 * The session core on its own: a real SessionHub (token verifier, history store, metrics, rate limiters) whose
 * connections are fake transports, for tests that drive time with vitest's fake timers (test/session-core.test.ts).
 */

/** Captured when this module loads, before a test installs a fake `setImmediate`. */
const realSetImmediate = globalThis.setImmediate;
/** Runs every pending promise continuation (those that do not wait for a fake timer). */
export const flush = (): Promise<void> => new Promise((resolve) => realSetImmediate(resolve));

/**
 * The configuration's defaults (SPEC), as the server would run with them. Built here rather than with server.ts's
 * `testConfig`, so that these tests do not load the whole server.
 */
export const sessionTestConfig = loadConfig({
  NODE_ENV: 'test',
  JWT_SECRET: TEST_JWT_SECRET,
  INSTAGRAM_APP_SECRET: 'unused-by-the-session-core',
  INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'unused-by-the-session-core',
  LOG_LEVEL: 'silent',
});

export const ACCOUNTS = ['17841400000000001', '17841400000000002', '17841400000000003'] as const;

/** One client of the core: a session on a fake transport, and the events the client sends. */
export class SessionClient {
  constructor(
    readonly session: Session,
    readonly transport: FakeTransport,
  ) {}

  /** Sends one client event; resolves once the core has handled it. */
  emit(event: string, payload?: unknown, ack?: Ack): Promise<void> {
    return this.session.handle(event, payload, ack);
  }

  /** Sends one client event with an acknowledgement; resolves with what the ack received (undefined: not called). */
  async emitWithAck(event: string, payload?: unknown): Promise<unknown> {
    let answer: unknown;
    await this.session.handle(event, payload, (p) => (answer = p));
    return answer;
  }

  /** `authenticate` with a token of the test secret; `expiresIn` in seconds (none: no `exp`). */
  async authenticate(userId: string, claims: { accountIds?: unknown } = {}, expiresIn?: number): Promise<void> {
    const token = mintToken({ userId, ...claims }, expiresIn === undefined ? {} : { expiresIn });
    await this.emit('authenticate', { token, userId });
  }

  get closed(): boolean {
    return this.session.closed;
  }
}

export interface ConnectOptions {
  readonly state?: SessionState;
  readonly kind?: Transport;
  /** Socket.IO state recovery: the state and the rooms of the session come back with the socket. */
  readonly recovered?: boolean;
  /** Rooms the transport already holds when the session opens (Socket.IO restores a recovered socket's rooms). */
  readonly heldRooms?: Iterable<string>;
  /** A token the gateway verified at the handshake (`hub.verifyHandshake`). */
  readonly handshake?: VerifiedToken;
}

export interface Harness {
  readonly hub: SessionHub;
  readonly metrics: Metrics;
  readonly history: MemoryHistoryStore;
  connect(options?: ConnectOptions): SessionClient;
  /** A client authenticated with the `authenticate` event (default: entitled to the first of ACCOUNTS). */
  authed(userId: string, claims?: { accountIds?: unknown }, expiresIn?: number): Promise<SessionClient>;
}

const open: Array<{ hub: SessionHub; transports: FakeTransport[] }> = [];

/** A hub with the configuration's defaults, some overridden; closed by `closeSessionHarnesses()`. */
export function sessionHarness(overrides: Partial<SessionHubOptions> = {}): Harness {
  const config = sessionTestConfig;
  const metrics = createMetrics();
  const history = new MemoryHistoryStore({ size: 100, maxAccounts: 100 });
  const hub = new SessionHub({
    verifier: createTokenVerifier(config),
    history,
    metrics,
    logger: createLogger('silent'),
    authTimeoutMs: config.AUTH_TIMEOUT_MS,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    heartbeatSweepMs: config.HEARTBEAT_SWEEP_MS,
    maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER,
    socketEventRateLimit: config.SOCKET_EVENT_RATE_LIMIT,
    maxClientBufferBytes: config.MAX_CLIENT_BUFFER_BYTES,
    ...overrides,
  });
  const transports: FakeTransport[] = [];
  open.push({ hub, transports });
  const connect: Harness['connect'] = (options = {}) => {
    const transport = new FakeTransport(options.kind);
    transports.push(transport);
    for (const room of options.heldRooms ?? []) transport.rooms.add(room);
    const session = hub.open(options.state ?? newSessionState(Date.now()), transport, {
      ...(options.recovered !== undefined && { recovered: options.recovered }),
      ...(options.handshake !== undefined && { handshake: options.handshake }),
    });
    return new SessionClient(session, transport);
  };
  return {
    hub,
    metrics,
    history,
    connect,
    async authed(userId, claims = { accountIds: [ACCOUNTS[0]] }, expiresIn) {
      const client = connect();
      await client.authenticate(userId, claims, expiresIn);
      expect(client.transport.events()).toEqual(['auth_success']);
      return client;
    },
  };
}

/**
 * Disposes every session of every harness and stops their hubs; returns the transport contract breaches the core
 * committed meanwhile (none expected).
 */
export function closeSessionHarnesses(): string[] {
  const violations: string[] = [];
  for (const { hub, transports } of open.splice(0)) {
    for (const session of [...hub.registry.values()]) session.dispose();
    hub.stop();
    for (const transport of transports) violations.push(...transport.violations);
  }
  return violations;
}

/** A metric's value for these labels, read from the server's registry as /metrics would. */
export async function counterValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value));
  if (found === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return found.value;
}
