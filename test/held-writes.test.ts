import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { Server } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { HeldWrites } from '../src/transports/held-writes.js';
import { batchFlushedPackets } from '../src/transports/socketio/engine-internals.js';
import { heldFrameWriter } from '../src/transports/socketio/gateway.js';
import { takeOverBroadcastWrites } from '../src/transports/socketio/socketio-internals.js';
import type { IoServer } from '../src/transports/socketio/types.js';

/**
 * A broadcast's writes as the server's Socket.IO gateway makes them: held while the broadcasting code runs, released
 * after it, every frame a socket got in the meantime in one system call. Real Socket.IO server and clients on a real
 * port; the server's TCP sockets are observed (their `writev`/`write` calls counted), not replaced.
 */
let http: HttpServer | undefined;
let io: Server | undefined;
const clients: ClientSocket[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await new Promise<void>((resolve) => (io ? io.close(() => resolve()) : resolve()));
  http = undefined;
  io = undefined;
});

/**
 * A Socket.IO server with the gateway's write handling, and `count` clients in room `r`; counts each TCP write of the
 * websocket transport.
 */
async function serverWithClients(count: number, transports: Array<'websocket' | 'polling'> = ['websocket']) {
  batchFlushedPackets();
  http = createServer();
  io = new Server(http, { transports });
  const held = new HeldWrites();
  const missing: string[] = [];
  takeOverBroadcastWrites(io as unknown as IoServer, heldFrameWriter(held, (what) => missing.push(what)));
  const writes = new Map<string, number>();
  io.on('connection', (socket) => {
    void socket.join('r');
    const tcp = (socket.conn as unknown as { transport: { socket?: { _socket: NetSocket } } }).transport.socket?._socket;
    if (tcp === undefined) return; // long-polling: no TCP socket of its own
    const id = socket.id;
    writes.set(id, 0);
    const writev = (tcp as unknown as { _writev: (...args: unknown[]) => void })._writev.bind(tcp);
    const write = (tcp as unknown as { _write: (...args: unknown[]) => void })._write.bind(tcp);
    Object.assign(tcp, {
      _writev: (...args: unknown[]) => (writes.set(id, (writes.get(id) ?? 0) + 1), writev(...args)),
      _write: (...args: unknown[]) => (writes.set(id, (writes.get(id) ?? 0) + 1), write(...args)),
    });
  });
  await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const received: string[][] = [];
  for (let i = 0; i < count; i++) {
    const client = connect(url, { transports, forceNew: true, reconnection: false });
    clients.push(client);
    const got: string[] = [];
    received.push(got);
    client.on('n', (id: string) => got.push(id));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  }
  while ((io.of('/').adapter.rooms.get('r')?.size ?? 0) < count) await new Promise((resolve) => setTimeout(resolve, 5));
  return { io, writes, received, held, missing, clients: clients.slice(-count) };
}

const settled = async (received: string[][], total: number) => {
  for (let i = 0; i < 200 && received.some((got) => got.length < total); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('HeldWrites (a fan-out does not hold the event loop with its system calls)', () => {
  it('writes nothing while the broadcasting code runs, then each socket gets every frame, in order, in two writes', async () => {
    const { io, writes, received, held } = await serverWithClients(3);
    const before = new Map(writes);
    for (let i = 0; i < 20; i++) io.to('r').emit('n', `m${i}`);
    // Nothing was written during the broadcasts: the writes are held for after this code returns.
    expect(writes).toEqual(before);
    expect(held.backlogged).toBe(false); // three sockets: far less than a turn's worth
    await settled(received, 20);
    const expected = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const got of received) expect(got).toEqual(expected);
    // Positive control and the point: 20 frames each, in one write (every frame was written to the held socket as
    // encoded, none waited in Engine.IO for a write in flight), not 20.
    for (const [id, count] of writes) expect(count - (before.get(id) ?? 0)).toBe(1);
  });

  it('keeps the order of broadcasts and of what Socket.IO writes itself (an answer, a packet with a binary part)', async () => {
    const { io, received, missing } = await serverWithClients(2);
    const [first] = [...io.of('/').sockets.values()];
    io.to('r').emit('n', 'm0'); // written as encoded
    first?.emit('n', 'a1'); // Socket.IO's own write: in flight (in the held TCP socket, after m0)
    first?.emit('n', 'a2'); // kept by Engine.IO until that write completes
    io.to('r').emit('n', 'm1'); // behind a2: left to Engine.IO for `first`, written as encoded for the other
    io.to('r').emit('n', 'm2', Buffer.from('binary')); // two frames: always Engine.IO's
    io.to('r').emit('n', 'm3');
    await settled(received, 4);
    expect(received[0]).toEqual(['m0', 'a1', 'a2', 'm1', 'm2', 'm3']);
    expect(received[1]).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(missing).toEqual([]); // Engine.IO and ws still have what the direct write reads
  });

  it('tells onAnyOutgoing listeners, keeps broadcast acks working, and delivers on long-polling too', async () => {
    const { io, received, clients: [client] } = await serverWithClients(1, ['polling']);
    const outgoing: unknown[][] = [];
    for (const socket of io.of('/').sockets.values()) socket.onAnyOutgoing((...args: unknown[]) => outgoing.push(args));
    client?.on('q', (ack: (answer: string) => void) => ack('pong'));
    io.to('r').emit('n', 'm0');
    const answers = await io.to('r').timeout(5000).emitWithAck('q');
    await settled(received, 1);
    expect(received[0]).toEqual(['m0']);
    expect(answers).toEqual(['pong']);
    expect(outgoing).toEqual([['n', 'm0'], ['q']]);
  });

  it('tells onAnyOutgoing listeners of what it writes as encoded', async () => {
    const { io, received } = await serverWithClients(1);
    const outgoing: unknown[][] = [];
    for (const socket of io.of('/').sockets.values()) socket.onAnyOutgoing((...args: unknown[]) => outgoing.push(args));
    io.to('r').emit('n', 'm0');
    await settled(received, 1);
    expect(received[0]).toEqual(['m0']);
    expect(outgoing).toEqual([['n', 'm0']]);
  });

  it('a socket that leaves while its writes are held is skipped, the others still get theirs', async () => {
    const { io, received } = await serverWithClients(2);
    io.to('r').emit('n', 'm0');
    const leaving = [...io.of('/').sockets.values()][0];
    leaving?.conn.close();
    await settled(received.slice(1), 1);
    expect(received[1]).toEqual(['m0']);
  });
});

describe('HeldWrites release', () => {
  /** A TCP socket's cork count, as Node keeps it: writes leave when it is back to 0. */
  const tcp = (failing = false) => {
    const socket = {
      corked: 0,
      released: 0,
      cork: () => void socket.corked++,
      uncork: () => {
        socket.corked--;
        socket.released++;
        if (failing) throw new Error('write after end');
      },
    };
    return socket;
  };

  it('releases 500 sockets a turn, is backlogged while more are held, and goes on past a socket whose write throws', async () => {
    const held = new HeldWrites();
    const sockets = Array.from({ length: 1200 }, (_, i) => tcp(i === 3));
    for (const socket of sockets) held.hold(socket);
    held.hold(sockets[0] as (typeof sockets)[0]); // held once, whatever the number of broadcasts reaching it
    expect(held.backlogged).toBe(true);
    expect(sockets.every((s) => s.corked === 1)).toBe(true);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(sockets.filter((s) => s.released === 1)).toHaveLength(500); // the first slice, right after this code
    expect(held.backlogged).toBe(true); // 700 left
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.backlogged).toBe(false); // 200 left: less than a turn's worth
    for (let turn = 0; turn < 5 && sockets.some((s) => s.corked > 0); turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(sockets.every((s) => s.corked === 0 && s.released === 1)).toBe(true);
  });
});

describe('HeldWrites afterRelease', () => {
  it('runs once per held socket, after its writes were released (a backlog check then sees only what the client has not read)', async () => {
    const held = new HeldWrites();
    const steps: string[] = [];
    const socket = { cork: () => steps.push('cork'), uncork: () => steps.push('uncork') };
    held.hold(socket, () => steps.push('check'));
    held.hold(socket, () => steps.push('second check')); // already held: one release, one check
    expect(steps).toEqual(['cork']);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(steps).toEqual(['cork', 'uncork', 'check']);
  });
});
