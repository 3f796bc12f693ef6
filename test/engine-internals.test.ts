import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { releaseUpgradeResponse, tcpSocketOf } from '../src/transports/socketio/engine-internals.js';
import { startServer, type RunningServer } from './helpers/server.js';

/** Engine.IO internals the gateway relies on, checked against the installed Engine.IO with a real connection. */
let http: HttpServer | undefined;
let io: Server | undefined;
let product: RunningServer | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (io ? io.close(() => resolve()) : resolve()));
  await product?.stop();
  http = undefined;
  io = undefined;
  product = undefined;
});

/** Whether Engine.IO's upgrade response still listens on the connection's TCP socket. */
const keepsUpgradeResponse = (socket: Socket): boolean =>
  ((tcpSocketOf(socket) as unknown as NodeJS.EventEmitter).rawListeners('close') as Array<{ listener?: unknown }>).some(
    (l) => String(l.listener ?? l) === '() => this.emit("close")',
  );

/** A socket.io-client with its default transports: long-polling first, then the upgrade to WebSocket. */
function upgradingClient(url: string) {
  const client = connect(url, { forceNew: true, reconnection: false });
  const upgraded = new Promise<void>((resolve) => client.io.engine.once('upgrade', () => resolve()));
  return { client, upgraded };
}

async function firstConnection(transports: ('polling' | 'websocket')[] = ['websocket']): Promise<{ socket: Socket; close: () => void }> {
  http = createServer();
  io = new Server(http, { transports });
  const connected = new Promise<Socket>((resolve) => io?.once('connection', resolve));
  await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
  const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  return { socket: await connected, close: () => client.disconnect() };
}

describe('Engine.IO internals', () => {
  it('a client that upgrades from long-polling leaves an upgrade response behind (what the gateway releases)', async () => {
    http = createServer();
    io = new Server(http);
    const connected = new Promise<Socket>((resolve) => io?.once('connection', resolve));
    await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
    const { client, upgraded } = upgradingClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}`);
    const socket = await connected;
    await upgraded;
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server side of the upgrade
    expect(socket.conn.transport.name).toBe('websocket');
    expect(keepsUpgradeResponse(socket)).toBe(true); // positive control of the next test
    client.disconnect();
  });

  it("the server's gateway releases it once a long-polling client has upgraded", async () => {
    product = await startServer();
    const { client, upgraded } = upgradingClient(product.url);
    await upgraded;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [socket] = [...product.server.io.of('/').sockets.values()];
    expect(socket?.conn.transport.name).toBe('websocket');
    expect(keepsUpgradeResponse(socket as unknown as Socket)).toBe(false);
    client.disconnect();
  });

  it('the upgrade response listener that keeps the request is found and removed; the connection still ends cleanly', async () => {
    const { socket, close } = await firstConnection();
    const tcp = tcpSocketOf(socket) as unknown as NodeJS.EventEmitter;
    const before = tcp.listenerCount('close');
    expect(releaseUpgradeResponse(socket)).toBe(true);
    expect(tcp.listenerCount('close')).toBe(before - 1);
    expect(releaseUpgradeResponse(socket)).toBe(false); // only that one listener was removed
    const reason = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    close();
    expect(['client namespace disconnect', 'transport close']).toContain(await reason);
  });
});
