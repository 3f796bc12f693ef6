/**
 * Fan-out benchmark: spawns the compiled server, connects N Socket.IO clients (and a few raw WebSocket ones) from
 * this process over 127.0.0.1, then posts signed webhooks and measures delivery latency, throughput and the
 * server's memory per connection. Bounded in count and time; stops by itself.
 *
 *   npm run bench                      # defaults: 1000 clients, 300 notifications
 *   BENCH_CLIENTS=2000 BENCH_EVENTS=500 npm run bench
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { io, type Socket } from 'socket.io-client';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 300);
const ACCOUNTS = 10;
const JWT_SECRET = 'bench-jwt-secret-0123456789abcdef';
const APP_SECRET = 'bench-app-secret';
const DEADLINE = Date.now() + 5 * 60_000;

const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as { port: number };
    probe.close(() => resolve(port));
  });
});
const url = `http://127.0.0.1:${port}`;

execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
const server = spawn(process.execPath, ['dist/main.js'], {
  env: {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET,
    INSTAGRAM_APP_SECRET: APP_SECRET,
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'bench-verify',
    CONNECT_RATE_LIMIT: '0',
    MAX_CONNECTIONS_PER_USER: String(CLIENTS),
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const stopServer = () => {
  if (server.exitCode === null) server.kill('SIGTERM');
};
process.on('exit', stopServer);

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

for (;;) {
  try {
    if ((await fetch(`${url}/healthz`)).ok) break;
  } catch {
    // starting
  }
  await new Promise((r) => setTimeout(r, 100));
}

const rssBefore = await metric('process_resident_memory_bytes');
const heapBefore = await metric('nodejs_heap_size_used_bytes');

// Each client is entitled to one account (round robin) and subscribes to two types.
const sockets: Socket[] = [];
const latencies: number[] = [];
const sentAt = new Map<string, number>();
let received = 0;
const t0 = performance.now();
for (let i = 0; i < CLIENTS; i++) {
  const account = `178414000000000${String(i % ACCOUNTS).padStart(2, '0')}`;
  const token = jwt.sign({ userId: `user${i}`, accountIds: [account] }, JWT_SECRET, { expiresIn: '1h' });
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  socket.on('webhook_event', (n: { id: string }) => {
    received++;
    const start = sentAt.get(n.id);
    if (start !== undefined) latencies.push(performance.now() - start);
  });
  sockets.push(socket);
}
await Promise.all(
  sockets.map(
    (s) =>
      new Promise<void>((resolve, reject) => {
        s.once('auth_success', () => s.emit('subscribe', { eventTypes: ['comments', 'messages'] }, () => resolve()));
        s.once('connect_error', reject);
      }),
  ),
);
const connectMs = performance.now() - t0;
const rssAfter = await metric('process_resident_memory_bytes');
const heapAfter = await metric('nodejs_heap_size_used_bytes');

// Post notifications, each to one account: CLIENTS / ACCOUNTS receivers apiece.
const expected = EVENTS * (CLIENTS / ACCOUNTS);
const tPost = performance.now();
for (let i = 0; i < EVENTS && Date.now() < DEADLINE; i++) {
  const body = JSON.stringify({
    id: `bench-${i}`,
    eventType: i % 2 === 0 ? 'comments' : 'messages',
    accountId: `178414000000000${String(i % ACCOUNTS).padStart(2, '0')}`,
    sender: { id: '1', username: 'bench' },
    content: `notification ${i}`,
  });
  sentAt.set(`bench-${i}`, performance.now());
  const res = await fetch(`${url}/api/webhooks/instagram`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`,
    },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
}
while (received < expected && Date.now() < DEADLINE && performance.now() - tPost < 60_000) {
  await new Promise((r) => setTimeout(r, 20));
}
const deliverMs = performance.now() - tPost;
const emitSum = await metric('instantchat_webhook_to_emit_seconds_sum');
const emitCount = await metric('instantchat_webhook_to_emit_seconds_count');

latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
const result = {
  clients: CLIENTS,
  notifications: EVENTS,
  deliveriesExpected: expected,
  deliveriesReceived: received,
  connectAndSubscribeMs: Math.round(connectMs),
  deliveriesPerSecond: Math.round(received / (deliverMs / 1000)),
  latencyMs: { p50: +pct(50).toFixed(2), p95: +pct(95).toFixed(2), p99: +pct(99).toFixed(2), max: +pct(100).toFixed(2) },
  serverWebhookToEmitMeanMs: +((emitSum / emitCount) * 1000).toFixed(3),
  serverRssPerConnectionKiB: Math.round((rssAfter - rssBefore) / CLIENTS / 1024),
  serverHeapPerConnectionKiB: +((heapAfter - heapBefore) / CLIENTS / 1024).toFixed(1),
};
console.log(JSON.stringify(result, null, 2));

for (const s of sockets) s.disconnect();
stopServer();
await new Promise((r) => server.once('exit', r));
process.exit(received === expected ? 0 : 1);
