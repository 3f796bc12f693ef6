import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { LastTextFrame, textFrame, type WsInternals, writeWholeFrame } from '../src/transports/ws-frames.js';

/**
 * A fan-out's frame, encoded once and written as is to every connection: real `ws` server and clients on a real port
 * (what the client parses is the proof that the bytes are a valid frame, in order with what `ws` writes itself).
 */
let http: HttpServer | undefined;
const opened: WebSocket[] = [];

afterEach(async () => {
  for (const socket of opened.splice(0)) socket.terminate();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  http = undefined;
});

async function pair(): Promise<{ server: WebSocket; received: string[] }> {
  http = createServer();
  const wss = new WebSocketServer({ server: http });
  await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
  const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  opened.push(client);
  const received: string[] = [];
  client.on('message', (data) => received.push(String(data)));
  const server = await serverSide;
  opened.push(server);
  return { server, received };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('whole WebSocket frames', () => {
  it('are read by a client as the texts they encode, in order with what ws sends itself, short and long', async () => {
    const { server, received } = await pair();
    const missing: string[] = [];
    const long = 'x'.repeat(70_000); // a 64-bit length header
    const texts = ['one', 'é'.repeat(200), long];
    expect(writeWholeFrame(server as unknown as WsInternals, textFrame(texts[0] as string), (m) => missing.push(m))).toBe(true);
    server.send('answer');
    for (const text of texts.slice(1)) writeWholeFrame(server as unknown as WsInternals, textFrame(text), (m) => missing.push(m));
    await until(() => received.length === 4);
    expect(received).toEqual(['one', 'answer', texts[1], long]);
    expect(missing).toEqual([]);
  });

  it('are left to ws when the connection is closing (false), and written again on an open one (positive control)', async () => {
    const { server, received } = await pair();
    expect(writeWholeFrame(server as unknown as WsInternals, textFrame('before'), () => undefined)).toBe(true);
    server.close();
    expect(writeWholeFrame(server as unknown as WsInternals, textFrame('after'), () => undefined)).toBe(false);
    await until(() => received.length === 1);
    expect(received).toEqual(['before']);
  });

  it('are encoded once per text by LastTextFrame, and again for a new text', () => {
    const frames = new LastTextFrame();
    const first = frames.of('notification 1');
    expect(frames.of('notification 1')).toBe(first); // the same bytes, not a new encode
    const second = frames.of('notification 2');
    expect(second).not.toBe(first);
    expect(second.subarray(2).toString()).toBe('notification 2');
  });
});
