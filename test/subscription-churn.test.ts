import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnMeasuredServer, type SpawnedServer } from './helpers/server.js';
import { describeUsage, measureUsage, type UsageDelta } from './helpers/process-usage.js';
import { closeProtocolConnections, ProtocolConnection, TRANSPORTS, type ServerMessage, type Transport } from './helpers/protocol-connection.js';
import { mintToken } from './helpers/tokens.js';
import { ALL_EVENT_TYPES } from './helpers/webhook-deliveries.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

/**
 * Issue 9, SPEC "Limits and bad input": no subscription change can hold the event loop for more than a few
 * milliseconds. One socket, at the allowed event rate, alternates its scope between two large disjoint sets of
 * accounts (with `subscribe`, then with re-`authenticate` and tokens of many accounts); today each change costs tens of
 * ms, so one socket saturates the server. Judged by the server process's CPU time (from /proc) against a control of
 * as many heartbeats at the same pace; a well-behaved socket must be answered throughout, and afterwards the
 * attacker's subscription state must be right (a webhook of its final scope reaches it, one outside does not).
 */

/** One change every 25 ms: 40 a second, under SPEC's default SOCKET_EVENT_RATE_LIMIT of 50 (the server's here). */
const PACE_MS = 25;
/** Changes per storm: about 3 s at that pace. */
const CHANGES = 120;
/**
 * CPU one change may cost beyond a heartbeat: SPEC's "a few milliseconds" at most (decoding a 20 KB or 16 KB event is
 * well under 1 ms). Today about 40 ms (1 000 accounts x 12 types of Socket.IO rooms left and joined).
 */
const MAX_CPU_MS_PER_CHANGE = 5;
/** /proc counts CPU in clock ticks (10 ms), plus scheduling noise over a few seconds. */
const CPU_SLACK_MS = 100;
/** Accounts per subscribe: the schema's largest list today (SPEC: `invalid_payload` for oversized arrays). */
const SCOPE_SIZE = 1000;
/** Tokens as large as `authenticate` accepts (its schema bounds `token` at 16 384 characters). */
const MAX_TOKEN_CHARS = 16_384;
/** A token's `accountIds` claim holds at most this many accounts (README, limits: more is an invalid token). */
const MAX_TOKEN_ACCOUNTS = 1000;
/** The well-behaved socket's heartbeat period during a storm. */
const BYSTANDER_EVERY_MS = 250;
/** Waiting bound for the storm's answers: today's server needs several seconds of CPU to catch up. */
const ANSWERS_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 150_000;

/** SPEC's codes a storm event may be refused with (the brief: nothing more specific is asserted). */
const STORM_ERROR_CODES = ['rate_limited', 'invalid_payload'];

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Meta-like account ids (17 digits), `count` of them from `start`. */
const accountIds = (start: number, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `178414${String(start + i).padStart(11, '0')}`);

/** The longest list of ids `prefix` + base 36 (up to the claim's bound) whose token still fits in MAX_TOKEN_CHARS. */
function largestScopeToken(userId: string, prefix: string): { token: string; ids: string[] } {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36)}`);
  const token = (n: number) => mintToken({ userId, accountIds: ids(n) }, { expiresIn: 3600 });
  let low = 1;
  let high = MAX_TOKEN_ACCOUNTS;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (token(mid).length <= MAX_TOKEN_CHARS) low = mid;
    else high = mid - 1;
  }
  return { token: token(low), ids: ids(low) };
}

/** What may answer each event sent here (SPEC's table, or `error`). */
const ANSWER_TYPES: Record<string, string[]> = {
  heartbeat: ['heartbeat_response', 'error'],
  subscribe: ['subscription_confirmed', 'error'],
  authenticate: ['auth_success', 'auth_failed', 'error'],
};

describe.each(TRANSPORTS)('subscription churn on %s: a scope change has a bounded cost', (transport: Transport) => {
  let srv: SpawnedServer;
  const report: string[] = [];

  beforeAll(async () => {
    srv = await spawnMeasuredServer();
  });
  afterEach(() => closeProtocolConnections());
  afterAll(async () => {
    console.log(`subscription churn on ${transport}:\n  ${report.join('\n  ')}`);
    await srv?.stop();
  });

  /** `CHANGES` events from `next(i)` at PACE_MS on `conn`, and every answer to them; the server's CPU meanwhile. */
  async function paced(conn: ProtocolConnection, next: (i: number) => [string, Record<string, unknown>]): Promise<{
    usage: UsageDelta;
    answers: ServerMessage[];
  }> {
    const from = conn.mark();
    const types = ANSWER_TYPES[next(0)[0]] ?? [];
    const isAnswer = (m: ServerMessage) => types.includes(m.type);
    const { usage } = await measureUsage(srv.pid, async () => {
      for (let i = 0; i < CHANGES; i++) {
        conn.send(...next(i));
        await pause(PACE_MS);
      }
      try {
        await conn.waitForCount(isAnswer, CHANGES, { from, timeoutMs: ANSWERS_TIMEOUT_MS });
      } catch (err) {
        // A server that fell behind reads a backlog at once and rate-limits it, answering one `rate_limited` a
        // second and dropping the rest (no ack to answer): then fewer answers come, after as much work.
        const rateLimited = conn.received.slice(from).some((m) => m.type === 'error' && m.code === 'rate_limited');
        if (!rateLimited) throw err;
      }
    });
    return { usage, answers: conn.received.slice(from).filter(isAnswer) };
  }

  /**
   * A well-behaved socket sending heartbeats while `storm` runs. Returns the storm's result and a check, to run after
   * the CPU bound, that every heartbeat was answered with `heartbeat_response` (not `rate_limited`: a server that
   * fell behind reads a backlog of heartbeats at once) and the socket is still connected.
   */
  async function withBystander<T>(storm: () => Promise<T>): Promise<{ result: T; expectBystanderServed: () => Promise<void> }> {
    const bystander = await ProtocolConnection.open(srv.url, transport, {
      token: mintToken({ userId: 'bystander', accountIds: ['*'] }, { expiresIn: 3600 }),
      userId: 'bystander',
    });
    const from = bystander.mark();
    let sent = 0;
    let running = true;
    const beats = (async () => {
      while (running) {
        bystander.send('heartbeat', { timestamp: Date.now(), clientId: 'bystander' });
        sent++;
        await pause(BYSTANDER_EVERY_MS);
      }
    })();
    let result: T;
    try {
      result = await storm();
    } finally {
      running = false;
      await beats;
    }
    return {
      result,
      async expectBystanderServed() {
        const since = () => bystander.received.slice(from);
        const answered = () => since().filter((m) => m.type === 'heartbeat_response').length;
        const errors = () => since().filter((m) => m.type === 'error');
        // Until all are answered, or an error says some never will be (rate-limited events beyond the first a
        // second are dropped unanswered).
        await bystander.until(() => answered() >= sent || errors().length > 0, `${sent} heartbeat answers`, ANSWERS_TIMEOUT_MS);
        expect(errors(), `the bystander's heartbeats during the storm: ${answered()} of ${sent} answered`).toEqual([]);
        expect(bystander.closed).toBeUndefined();
      },
    };
  }

  /**
   * The storm's answers are its own answers or SPEC's refusals, and the attacker is still connected. Returns the
   * scope the server last confirmed: the storm's last success, else `before` (a server may refuse scopes this large
   * as `invalid_payload`, SPEC's "oversized arrays"; then the scope must not have changed).
   */
  function confirmedScope(attacker: ProtocolConnection, answers: ServerMessage[], success: string, before: string[]): string[] {
    expect(attacker.closed, 'the attacker was disconnected').toBeUndefined();
    const refused = answers.filter((m) => m.type !== success);
    for (const m of refused) {
      expect(m.type, JSON.stringify(m)).toBe('error');
      expect(STORM_ERROR_CODES, JSON.stringify(m)).toContain(m.code);
    }
    report.push(`  ${answers.length - refused.length} of ${answers.length} changes confirmed, ${refused.length} refused`);
    const last = answers.filter((m) => m.type === success).at(-1);
    return last === undefined ? before : (last.accountIds as string[]);
  }

  function expectBoundedCpu(what: string, attack: UsageDelta, control: UsageDelta): void {
    report.push(describeUsage(`${CHANGES} heartbeats (control)`, control), describeUsage(`${CHANGES} ${what}`, attack));
    expect(srv.alive(), srv.output()).toBe(true);
    expect(attack.cpuMs, `server CPU ms for ${CHANGES} ${what} (control: ${control.cpuMs} ms)`).toBeLessThanOrEqual(
      control.cpuMs + CHANGES * MAX_CPU_MS_PER_CHANGE + CPU_SLACK_MS,
    );
  }

  /**
   * The attacker's state as the server reports it equals what it last confirmed, and delivery follows it: a webhook
   * of an account in scope reaches it, one of an account it left does not (posted first, so that once the one in
   * scope arrived, the other would have too).
   */
  async function expectScope(attacker: ProtocolConnection, confirmed: string[], left: string[]): Promise<void> {
    const from = attacker.mark();
    attacker.send('get_subscriptions', {});
    const info = await attacker.waitFor((m) => m.type === 'connection_info', { from });
    expect(new Set(info.accountIds as string[])).toEqual(new Set(confirmed));
    expect(new Set(info.subscriptions as string[])).toEqual(new Set(ALL_EVENT_TYPES));

    const outside = left.find((id) => !confirmed.includes(id)) as string;
    const inside = confirmed[confirmed.length - 1] as string;
    expect(outside).toBeDefined();
    const mark = attacker.mark();
    const notInScope = flatEvent({ accountId: outside, eventType: 'comments' });
    const inScope = flatEvent({ accountId: inside, eventType: 'messages' });
    expect((await postFlat(srv.url, notInScope)).status).toBe(200);
    expect((await postFlat(srv.url, inScope)).status).toBe(200);
    await attacker.waitFor((m) => m.type === 'webhook_event' && (m.payload as { id: string }).id === inScope.id, { from: mark });
    expect(attacker.deliveredIds(mark)).toEqual([inScope.id]);
  }

  it(
    'subscribe alternating between two sets of 1 000 accounts x 12 types at the allowed rate: CPU bounded, others answered, state right',
    async () => {
      const scopes = [accountIds(0, SCOPE_SIZE), accountIds(SCOPE_SIZE, SCOPE_SIZE)] as const;
      const attacker = await ProtocolConnection.open(srv.url, transport, {
        token: mintToken({ userId: 'churner', accountIds: ['*'] }, { expiresIn: 3600 }),
        userId: 'churner',
      });
      // A small scope first, which any server confirms: the state to fall back on if the storm's are refused.
      const initial = [scopes[0][0] as string];
      const from = attacker.mark();
      attacker.send('subscribe', { eventTypes: ALL_EVENT_TYPES, accountIds: initial });
      await attacker.waitFor((m) => m.type === 'subscription_confirmed', { from });
      const control = await paced(attacker, () => ['heartbeat', { timestamp: Date.now(), clientId: 'control' }]);

      const { result: storm, expectBystanderServed } = await withBystander(() =>
        paced(attacker, (i) => ['subscribe', { eventTypes: ALL_EVENT_TYPES, accountIds: i % 2 === 0 ? scopes[1] : scopes[0] }]),
      );
      expectBoundedCpu('subscribe changes of 1 000 accounts', storm.usage, control.usage);
      await expectBystanderServed();
      const confirmed = confirmedScope(attacker, storm.answers, 'subscription_confirmed', initial);
      expect([initial, scopes[0], scopes[1]].map((s) => JSON.stringify([...s].sort()))).toContain(JSON.stringify([...confirmed].sort()));
      await expectScope(attacker, confirmed, [...scopes[0], ...scopes[1]]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    're-authenticate alternating between two tokens of as many accounts as 16 KB holds, subscribed to every type: CPU bounded, others answered, state right',
    async () => {
      const tokens = [largestScopeToken('reauth', 'a'), largestScopeToken('reauth', 'b')] as const;
      const attacker = await ProtocolConnection.open(srv.url, transport, { token: tokens[0].token, userId: 'reauth' });
      const from = attacker.mark();
      attacker.send('subscribe', { eventTypes: ALL_EVENT_TYPES });
      await attacker.waitFor((m) => m.type === 'subscription_confirmed', { from, timeoutMs: 10_000 });
      const control = await paced(attacker, () => ['heartbeat', { timestamp: Date.now(), clientId: 'control' }]);

      const { result: storm, expectBystanderServed } = await withBystander(() =>
        paced(attacker, (i) => ['authenticate', { token: (i % 2 === 0 ? tokens[1] : tokens[0]).token, userId: 'reauth', timestamp: Date.now() }]),
      );
      expectBoundedCpu(`re-authentications of ${tokens[0].ids.length} accounts`, storm.usage, control.usage);
      await expectBystanderServed();
      const confirmed = confirmedScope(attacker, storm.answers, 'auth_success', tokens[0].ids);
      await expectScope(attacker, confirmed, [...tokens[0].ids, ...tokens[1].ids]);
    },
    TEST_TIMEOUT_MS,
  );
});
