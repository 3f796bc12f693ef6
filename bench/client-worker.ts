/**
 * One client process of the bench (forked by bench/client-pool.ts): opens authenticated, subscribed Socket.IO
 * connections with the light WireSocket and counts the `webhook_event`s they receive, with each one's latency
 * (the sender wrote its send time, epoch microseconds, into the notification id: same machine, same clock).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { WireSocket } from './wire-socket.js';
import type { PoolReply, PoolRequest } from './client-protocol.js';

const sockets = new Set<WireSocket>();
let prefix = '\u0000';
let received = 0;
let latencies: number[] = [];
let dropped = 0;
/** Set while the pool closes its own sockets: those closes are not drops. */
let closing = false;

const nowMicros = () => (performance.timeOrigin + performance.now()) * 1000;

function onNotification(frame: string): void {
  const key = `"id":"${prefix}`;
  const at = frame.indexOf(key);
  if (at === -1) return;
  const end = frame.indexOf('"', at + key.length);
  const id = frame.slice(at + 6, end);
  received++;
  const sentMicros = Number(id.slice(id.lastIndexOf('_') + 1));
  if (Number.isFinite(sentMicros)) latencies.push((nowMicros() - sentMicros) / 1000);
}

const events = {
  onNotification,
  onClose: () => {
    if (!closing) dropped++;
  },
};

const keys = new Map<string, KeyObject>();

/**
 * An HS256 token. The key is a KeyObject made once: given a string, jsonwebtoken first tries to read it as a PEM key
 * (an OpenSSL decode that fails, about a millisecond) on every call.
 */
function token(secret: string, userId: string, accountIds: string[]): string {
  let key = keys.get(secret);
  if (key === undefined) keys.set(secret, (key = createSecretKey(Buffer.from(secret))));
  return jwt.sign({ userId, accountIds }, key, { algorithm: 'HS256', expiresIn: 3600 });
}

async function connectMany(request: Extract<PoolRequest, { type: 'connect' }>): Promise<PoolReply> {
  const started = performance.now();
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  let next = 0;
  const one = async (index: number) => {
    const user = request.firstUser + index;
    const accountIds = [request.accounts[index % request.accounts.length] as string];
    try {
      const socket = await WireSocket.connect(request.url, token(request.secret, `bench-user-${user}`, accountIds), events);
      sockets.add(socket);
      if (request.eventTypes.length > 0) await socket.request('subscribe', { eventTypes: request.eventTypes });
      ok++;
    } catch (err) {
      failed++;
      if (errors.length < 3) errors.push((err as Error).message);
    }
  };
  const lanes = Array.from({ length: Math.min(request.concurrency, request.count) }, async () => {
    while (next < request.count) await one(next++);
  });
  await Promise.all(lanes);
  return { type: 'done', id: request.id, ok, failed, errors, ms: performance.now() - started };
}

process.on('message', (message: PoolRequest) => {
  void (async () => {
    let reply: PoolReply;
    switch (message.type) {
      case 'connect':
        closing = false;
        reply = await connectMany(message);
        break;
      case 'count':
        prefix = message.prefix;
        received = 0;
        latencies = [];
        reply = { type: 'done', id: message.id };
        break;
      case 'report':
        reply = { type: 'done', id: message.id, received, latencies: message.withLatencies ? latencies : [], dropped };
        break;
      case 'close':
        closing = true;
        for (const socket of sockets) socket.close();
        sockets.clear();
        dropped = 0;
        reply = { type: 'done', id: message.id };
        break;
    }
    process.send?.(reply);
  })();
});

process.on('disconnect', () => {
  for (const socket of sockets) socket.close();
  process.exit(0);
});
