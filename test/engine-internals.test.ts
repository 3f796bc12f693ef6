import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { releaseUpgradeResponse, tcpSocketOf } from '../src/transports/socketio/engine-internals.js';

/** Engine.IO internals the gateway relies on, checked against the installed Engine.IO with a real connection. */
let http: HttpServer | undefined;
let io: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (io ? io.close(() => resolve()) : resolve()));
  http = undefined;
  io = undefined;
});

async function firstConnection(): Promise<{ socket: Socket; close: () => void }> {
  http = createServer();
  io = new Server(http, { transports: ['websocket'] });
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
