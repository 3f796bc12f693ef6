import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANSWER_OF,
  CLIENT_EVENTS,
  FUZZ_ACCOUNTS,
  FUZZ_USER,
  fuzzCase,
  isClientEvent,
  SPEC_ERROR_CODES,
  toWire,
  type FuzzCase,
} from './helpers/fuzz-inputs.js';
import { spawnMeasuredServer, type SpawnedServer } from './helpers/server.js';
import { closeProtocolConnections, ProtocolConnection, TRANSPORTS, type ServerMessage, type Transport } from './helpers/protocol-connection.js';
import { ACCOUNT_A, bounded } from './helpers/clients.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

/**
 * Issue 9, SPEC "Limits and bad input" and the two protocols: whatever a client sends, on either transport, before or
 * after authentication, the process does not crash, every event on a connection that stays open is answered (its
 * answer event, or `error` with one of SPEC's codes), a disconnect is announced, an unauthenticated socket learns
 * nothing, other sockets keep being served, and a notification still reaches subscribed sockets at the end. Random
 * JSON values, Buffers, strings near the size limits, deep nesting (raw packets and frames), many keys, `__proto__`
 * keys, unknown event names, and plausible payloads with junk in their fields, for every event of SPEC's table.
 */

/** Cases per property (4 properties: 2 transports x before/after authentication): about 10 s in all on 2 cores. */
const NUM_RUNS = 150;
/**
 * Raised from SPEC's 50 a second: the cases follow each other as fast as they are answered, and rate limiting is not
 * what is tested here (a `rate_limited` answer would still pass).
 */
const SOCKET_EVENT_RATE_LIMIT = 100_000;
/** Waiting bound for one answer (the largest cases cost today's server tens of ms; the machine is shared). */
const ANSWER_TIMEOUT_MS = 10_000;
const TEST_TIMEOUT_MS = 300_000;

/** Before authentication, SPEC answers every event but `authenticate` and `heartbeat` with `not_authenticated`. */
const OPEN_BEFORE_AUTH = new Set(['authenticate', 'heartbeat']);

/** What may answer a message that carries `event` (undefined: nothing the server can decode as an event). */
function allowedAnswers(event: string | undefined): string[] {
  if (event === undefined || !isClientEvent(event)) return ['error'];
  return event === 'authenticate' ? [ANSWER_OF[event], 'auth_failed', 'error'] : [ANSWER_OF[event], 'error'];
}

/** One fuzzed connection, reopened when a case closed it or changed its authentication. */
class Target {
  #conn: ProtocolConnection | undefined;
  #authed = false;

  constructor(
    private readonly url: string,
    readonly transport: Transport,
    readonly authenticated: boolean,
  ) {}

  async ready(): Promise<ProtocolConnection> {
    if (this.#conn !== undefined && this.#conn.closed === undefined && this.#authed === this.authenticated) return this.#conn;
    this.#conn?.close();
    const auth = this.authenticated
      ? { token: mintToken({ userId: FUZZ_USER, accountIds: FUZZ_ACCOUNTS }, { expiresIn: 3600 }), userId: FUZZ_USER }
      : undefined;
    this.#conn = await ProtocolConnection.open(this.url, this.transport, auth);
    this.#authed = this.authenticated;
    return this.#conn;
  }

  /** After a case: whatever authenticated the connection counts (a pre-authentication target then reopens). */
  observe(received: ServerMessage[]): void {
    if (received.some((m) => m.type === 'auth_success')) this.#authed = true;
  }

  get authed(): boolean {
    return this.#authed;
  }
}

describe('client events fuzz: any input on either transport is answered, harms no one, and never crashes the process', () => {
  let srv: SpawnedServer;
  let bystander: ProtocolConnection;
  const watchers = new Map<Transport, ProtocolConnection>();
  const tally = new Map<string, number>();
  /** `transport before|after event`: what the properties actually sent, to show the generators reach every event. */
  const sent = new Set<string>();

  beforeAll(async () => {
    srv = await spawnMeasuredServer({
      SOCKET_EVENT_RATE_LIMIT: String(SOCKET_EVENT_RATE_LIMIT),
      // Cases reconnect the fuzz user often; closed connections must not count against it.
      MAX_CONNECTIONS_PER_USER: '1000',
      // Long-lived pre-authentication and silent connections: the deadlines are not under test here.
      AUTH_TIMEOUT_MS: '600000',
      HEARTBEAT_TIMEOUT_MS: '600000',
    });
    // The well-behaved: a socket that must be answered after every case, and one subscriber per transport.
    bystander = await ProtocolConnection.open(srv.url, 'socketio', {
      token: mintToken({ userId: 'bystander', accountIds: ['*'] }, { expiresIn: 3600 }),
      userId: 'bystander',
    });
    for (const transport of TRANSPORTS) {
      const watcher = await ProtocolConnection.open(srv.url, transport, {
        token: mintToken({ userId: 'watcher', accountIds: ['*'] }, { expiresIn: 3600 }),
        userId: 'watcher',
      });
      const from = watcher.mark();
      watcher.send('subscribe', { eventTypes: ['comments'] });
      await watcher.waitFor((m) => m.type === 'subscription_confirmed', { from });
      watchers.set(transport, watcher);
    }
  });

  afterAll(async () => {
    console.log(`client events fuzz, answers by kind: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);
    closeProtocolConnections();
    await srv?.stop();
  });

  /** Sends one case and checks SPEC's rules on what comes back; then that the server is alive and responsive. */
  async function runCase(target: Target, c: FuzzCase): Promise<void> {
    const conn = await target.ready();
    const authedBefore = target.authed;
    const { wire, carries, label } = toWire(c, target.transport);
    if (carries !== undefined) sent.add(`${target.transport} ${authedBefore ? 'after' : 'before'} ${carries}`);
    const from = conn.mark();
    let ack: Promise<unknown> | undefined;
    if (wire.via === 'emit') {
      if (c.withAck) ack = new Promise((resolve) => conn.emit(c.event, ...wire.args, resolve));
      else conn.emit(c.event, ...wire.args);
    } else {
      conn.sendRaw(wire.data);
    }

    const allowed = allowedAnswers(carries);
    let answer: ServerMessage | undefined;
    try {
      answer = await conn.waitFor((m) => allowed.includes(m.type), { from, timeoutMs: ANSWER_TIMEOUT_MS });
    } catch (err) {
      if (conn.closed === undefined) throw new Error(`${label}: ${(err as Error).message}`);
    }
    const received = conn.received.slice(from);
    target.observe(received);

    if (answer === undefined) {
      // Closed without an answer: only after the server announced why (SPEC: a disconnect it decides is announced).
      const announced = received.some((m) => m.type === 'auth_failed' || (m.type === 'error' && SPEC_ERROR_CODES.includes(m.code as string)));
      expect(announced, `${label}: the connection ended (${conn.closed}) without an answer or an announcement; received ${JSON.stringify(received).slice(0, 500)}`).toBe(true);
      count(`closed after ${received.map((m) => m.type).join('+')}`);
    } else {
      count(answer.type === 'error' ? `error:${String(answer.code)}` : answer.type);
      // SPEC: auth_failed, then the disconnect.
      if (answer.type === 'auth_failed') await conn.ended(ANSWER_TIMEOUT_MS);
      if (answer.type === 'error') {
        expect(answer, label).toMatchObject({ message: expect.any(String), timestamp: expect.any(Number) });
        expect(SPEC_ERROR_CODES, `${label}: ${JSON.stringify(answer)}`).toContain(answer.code);
      }
      // Before authentication, nothing but authenticate and heartbeat gets past the door: SPEC answers
      // `not_authenticated`; a payload refused as malformed before that check (`invalid_payload`) leaks nothing either.
      if (!authedBefore && carries !== undefined && isClientEvent(carries) && !OPEN_BEFORE_AUTH.has(carries)) {
        expect({ type: answer.type, code: answer.code }, label).toEqual({
          type: 'error',
          code: expect.stringMatching(/^(not_authenticated|invalid_payload|rate_limited)$/),
        });
      }
      // SPEC: an acknowledgement receives the same payload as the answer event.
      if (ack !== undefined && conn.closed === undefined) {
        const { type: _type, ...payload } = answer;
        expect(await bounded(ack, `the ack of ${label}`, ANSWER_TIMEOUT_MS), label).toEqual(payload);
      }
    }

    expect(srv.alive(), `${label}: the server process exited; output: ${srv.output().slice(-2000)}`).toBe(true);
    const mark = bystander.mark();
    bystander.send('heartbeat', { timestamp: Date.now(), clientId: 'bystander' });
    await bystander.waitFor((m) => m.type === 'heartbeat_response', { from: mark, timeoutMs: ANSWER_TIMEOUT_MS });
  }

  function count(kind: string): void {
    tally.set(kind, (tally.get(kind) ?? 0) + 1);
  }

  describe.each(TRANSPORTS)('%s', (transport) => {
    for (const authenticated of [false, true]) {
      it(
        `${authenticated ? 'after' : 'before'} authentication: every event of SPEC's table and others, with any payload`,
        async () => {
          const target = new Target(srv.url, transport, authenticated);
          await fc.assert(
            fc.asyncProperty(fuzzCase(transport), (c) => runCase(target, c)),
            // A failing case is printed with its seed; shrinking would replay it against a server it may have changed.
            { numRuns: NUM_RUNS, endOnFailure: true },
          );
        },
        TEST_TIMEOUT_MS,
      );
    }
  });

  it("the properties sent every event of SPEC's table on both transports, before and after authentication", () => {
    for (const transport of TRANSPORTS) {
      for (const phase of ['before', 'after']) {
        for (const event of CLIENT_EVENTS) expect(sent, `${transport} ${phase} ${event}`).toContain(`${transport} ${phase} ${event}`);
      }
    }
  });

  it('afterwards, a signed webhook still reaches a subscribed socket on each transport (positive control)', async () => {
    const event = flatEvent({ accountId: ACCOUNT_A, eventType: 'comments' });
    const marks = new Map([...watchers].map(([transport, w]) => [transport, w.mark()]));
    expect((await postFlat(srv.url, event)).status).toBe(200);
    for (const [transport, watcher] of watchers) {
      expect(watcher.closed, `${transport} watcher`).toBeUndefined();
      await watcher.waitFor((m) => m.type === 'webhook_event' && (m.payload as { id: string }).id === event.id, {
        from: marks.get(transport) as number,
      });
    }
    expect(srv.alive()).toBe(true);
  });
});
