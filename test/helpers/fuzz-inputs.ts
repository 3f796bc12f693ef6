import fc from 'fast-check';
import type { Transport } from './protocol-connection.js';
import { ACCOUNT_A, ACCOUNT_B, ACCOUNT_C } from './clients.js';
import { mintToken, unsignedToken } from './tokens.js';
import { ALL_EVENT_TYPES } from './webhook-deliveries.js';

/** The client events of SPEC's table, each with the event that answers it when it succeeds. */
export const ANSWER_OF = {
  authenticate: 'auth_success',
  subscribe: 'subscription_confirmed',
  unsubscribe: 'subscription_confirmed',
  get_subscriptions: 'connection_info',
  test_connection: 'connection_info',
  heartbeat: 'heartbeat_response',
  get_history: 'history',
} as const;
export type ClientEvent = keyof typeof ANSWER_OF;
export const CLIENT_EVENTS = Object.keys(ANSWER_OF) as ClientEvent[];
export const isClientEvent = (name: string): name is ClientEvent => Object.hasOwn(ANSWER_OF, name);

/** SPEC's socket error codes (answers, and announcements of a disconnect). */
export const SPEC_ERROR_CODES = [
  'not_authenticated',
  'invalid_payload',
  'invalid_event_type',
  'forbidden_account',
  'rate_limited',
  'unavailable',
  'heartbeat_timeout',
  'slow_consumer',
];

/** The user the fuzzed connections authenticate as, and what its token entitles it to. */
export const FUZZ_USER = 'fuzz';
export const FUZZ_ACCOUNTS = [ACCOUNT_A, ACCOUNT_B];

/** Names socket.io-client refuses to emit (Socket.IO's reserved events). */
const SOCKET_IO_RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/**
 * What a fuzzed event carries, as a small description: the bytes are built when sent (`toWire`), so that a failing
 * case prints in a few lines, not 99 KB.
 */
export type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: fc.JsonValue }
  | { kind: 'shaped'; value: Record<string, unknown> }
  | { kind: 'buffer'; length: number; byte: number }
  | { kind: 'hugeString'; length: number; field: string | undefined }
  | { kind: 'deep'; depth: number; container: 'object' | 'array'; field: string | undefined }
  | { kind: 'manyKeys'; count: number }
  | { kind: 'protoKeys' }
  | { kind: 'notJson'; text: string };

export interface FuzzCase {
  event: string;
  body: Body;
  /** Socket.IO: pass an acknowledgement callback (SPEC: it receives the answer's payload too). */
  withAck: boolean;
}

/** Bytes one message may have on each transport: under Socket.IO's 100 KB maxHttpBufferSize and the 64 KiB frame. */
const BUDGET: Record<Transport, number> = { socketio: 99_000, websocket: 64_000 };

const tokens = {
  valid: mintToken({ userId: FUZZ_USER, accountIds: FUZZ_ACCOUNTS }, { expiresIn: 3600 }),
  otherUser: mintToken({ userId: 'someone-else', accountIds: ['*'] }, { expiresIn: 3600 }),
  expired: mintToken({ userId: FUZZ_USER, accountIds: FUZZ_ACCOUNTS }, { expiresIn: -60 }),
  // Meta's ids overflow JSON numbers: a numeric id is a mistyped claim (SPEC: Invalid token).
  numericAccounts: mintToken({ userId: FUZZ_USER, accountIds: [Number(ACCOUNT_A)] }, { expiresIn: 3600 }),
  unsigned: unsignedToken({ userId: FUZZ_USER, accountIds: ['*'] }),
};

const junk = fc.jsonValue({ maxDepth: 3 });
/** Mostly `valid`, sometimes anything: each field of a plausible payload. */
const mostly = <T>(valid: fc.Arbitrary<T>, odd?: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 4, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: odd ?? junk });

/** Mostly sensible values for each field the schemas read, sometimes junk: reaches the branches behind validation. */
const shapedPayload: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    token: mostly(fc.constantFrom(...Object.values(tokens)), fc.oneof(fc.string(), junk)),
    userId: mostly(fc.constantFrom(FUZZ_USER, 'someone-else'), fc.oneof(fc.constant(''), fc.string({ maxLength: 300 }), junk)),
    timestamp: mostly(fc.integer({ min: 0 }), fc.oneof(fc.double(), fc.string({ maxLength: 80 }), junk)),
    eventTypes: mostly(
      fc.subarray(ALL_EVENT_TYPES, { minLength: 1 }),
      fc.oneof(fc.array(fc.constantFrom(...ALL_EVENT_TYPES, 'unknown_type'), { minLength: 1, maxLength: 40 }), junk),
    ),
    accountIds: mostly(
      // ACCOUNT_C is not the fuzz user's: `forbidden_account`.
      fc.subarray([...FUZZ_ACCOUNTS, '*', ACCOUNT_C], { minLength: 1 }),
      fc.oneof(fc.array(fc.constantFrom(ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, '*', ''), { maxLength: 8 }), junk),
    ),
    since: mostly(fc.constantFrom('evt_unknown', 'x'), fc.oneof(fc.string({ maxLength: 600 }), junk)),
    limit: mostly(fc.integer({ min: 1, max: 200 }), fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double(), junk)),
    clientId: mostly(fc.string({ maxLength: 30 }), fc.oneof(fc.string({ maxLength: 300 }), junk)),
    type: fc.oneof(fc.constantFrom(...CLIENT_EVENTS), fc.string()),
  },
  { requiredKeys: [] },
);

const field = fc.option(fc.constantFrom('token', 'eventTypes', 'accountIds', 'since', 'clientId', 'timestamp', 'x'), {
  nil: undefined,
});

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 4, arbitrary: junk.map((value) => ({ kind: 'json' as const, value })) },
  { weight: 6, arbitrary: shapedPayload.map((value) => ({ kind: 'shaped' as const, value })) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('buffer' as const), length: fc.integer({ min: 0, max: 99_000 }), byte: fc.nat(255) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('hugeString' as const), length: fc.integer({ min: 1000, max: 99_000 }), field }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('deep' as const),
      depth: fc.integer({ min: 100, max: 15_000 }),
      container: fc.constantFrom('object' as const, 'array' as const),
      field,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('manyKeys' as const), count: fc.integer({ min: 100, max: 10_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'protoKeys' as const }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'notJson' as const, text: `{${text}` })) },
);

/** Event names: mostly SPEC's, sometimes any string or one a careless dispatcher could trip on. */
export function fuzzCase(transport: Transport): fc.Arbitrary<FuzzCase> {
  const odd = ['error', 'webhook_event', 'auth_success', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'then', ''];
  const event = fc
    .oneof(
      { weight: 8, arbitrary: fc.constantFrom(...CLIENT_EVENTS) },
      { weight: 1, arbitrary: fc.constantFrom(...odd) },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    )
    .filter((name) => transport === 'websocket' || !SOCKET_IO_RESERVED.has(name));
  const bodies = transport === 'socketio' ? body.filter((b) => b.kind !== 'notJson') : body;
  return fc.record({ event, body: bodies, withAck: transport === 'socketio' ? fc.boolean() : fc.constant(false) });
}

/** How a case goes on the wire. */
export type Wire =
  | { via: 'emit'; args: unknown[] }
  | { via: 'raw'; data: string | Buffer };

export interface Materialized {
  wire: Wire;
  /** The client event the server can read from it, or undefined when the message carries none it can decode. */
  carries: string | undefined;
  /** A short description for failure messages. */
  label: string;
}

const deepText = (depth: number, container: 'object' | 'array'): string =>
  container === 'object' ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth);
const manyKeys = (count: number): Record<string, number> =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [i.toString(36), 0]));
/** A JSON text whose keys are `__proto__` and `constructor` (JSON.parse makes them own properties). */
const PROTO_TEXT = '{"__proto__":{"eventTypes":["comments"],"token":"x","userId":"fuzz"},"constructor":{"prototype":{"polluted":true}}';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Builds the bytes of `c` for `transport`, within that transport's size limit. */
export function toWire(c: FuzzCase, transport: Transport): Materialized {
  const budget = BUDGET[transport];
  const name = JSON.stringify(c.event);
  const b = c.body;
  const label = `${c.event} ${JSON.stringify(b).slice(0, 300)}`;
  // Text of the event's payload as a JSON value, for raw packets and frames (undefined: none).
  const withField = (text: string, f: string | undefined) => (f === undefined ? text : `{${JSON.stringify(f)}:${text}}`);

  if (transport === 'socketio') {
    const emit = (...args: unknown[]): Materialized => ({ wire: { via: 'emit', args }, carries: c.event, label });
    // With an ack id when asked: the server acknowledges (socket.io-client ignores an ack it did not register).
    const raw = (payloadText: string): Materialized => ({
      wire: { via: 'raw', data: `2${c.withAck ? '9999' : ''}[${name},${payloadText}]` },
      carries: c.event,
      label,
    });
    switch (b.kind) {
      case 'none':
        return emit();
      case 'json':
      case 'shaped':
        return emit(b.value);
      case 'buffer':
        return emit(Buffer.alloc(Math.min(b.length, budget), b.byte));
      case 'hugeString': {
        const text = 'x'.repeat(Math.min(b.length, budget - 200));
        return emit(b.field === undefined ? text : { [b.field]: text });
      }
      case 'deep':
        return raw(withField(deepText(Math.min(b.depth, b.container === 'object' ? 15_000 : 45_000), b.container), b.field));
      case 'manyKeys':
        return emit(manyKeys(Math.min(b.count, 10_000)));
      case 'protoKeys':
        return raw(`${PROTO_TEXT}}`);
      case 'notJson':
        throw new Error('not for Socket.IO: its parser closes the connection on a malformed packet');
    }
  }

  const frame = (fields: string | undefined): Materialized => ({
    wire: { via: 'raw', data: `{"type":${name}${fields === undefined || fields === '' ? '' : `,${fields}`}}` },
    carries: c.event,
    label,
  });
  const wholeFrame = (data: string | Buffer): Materialized => ({ wire: { via: 'raw', data }, carries: undefined, label });
  const inner = (value: Record<string, unknown>) => JSON.stringify({ ...value, type: c.event }).slice(1, -1);
  switch (b.kind) {
    case 'none':
      return frame(undefined);
    case 'json':
      // A frame is an object: another JSON value cannot carry an event.
      return isPlainObject(b.value) ? { ...frame(undefined), wire: { via: 'raw', data: `{${inner(b.value)}}` } } : wholeFrame(JSON.stringify(b.value));
    case 'shaped':
      return { ...frame(undefined), wire: { via: 'raw', data: `{${inner(b.value)}}` } };
    case 'buffer':
      return wholeFrame(Buffer.alloc(Math.min(b.length, budget), b.byte));
    case 'hugeString': {
      const text = JSON.stringify('x'.repeat(Math.min(b.length, budget - 200)));
      return b.field === undefined ? wholeFrame(text) : frame(`${JSON.stringify(b.field)}:${text}`);
    }
    case 'deep': {
      const text = deepText(Math.min(b.depth, b.container === 'object' ? 10_000 : 30_000), b.container);
      return b.field === undefined ? wholeFrame(text) : frame(`${JSON.stringify(b.field)}:${text}`);
    }
    case 'manyKeys':
      return frame(JSON.stringify(manyKeys(Math.min(b.count, 7000))).slice(1, -1));
    case 'protoKeys':
      return frame(PROTO_TEXT.slice(1));
    case 'notJson':
      return wholeFrame(b.text);
  }
}
