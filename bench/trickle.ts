/**
 * Trickling webhook bodies, as an attacker sends them (issue 9): spawns the compiled server, then from this process
 * over 127.0.0.1
 *   1. one POST declaring 1 000 000 bytes that sends 10 and stops: how long until the server answers, and what;
 *   2. 150 such POSTs at once, each sending 999 999 of its 1 000 000 bytes under a bogus but well-formed signature:
 *      the server's resident memory (its own `process_resident_memory_bytes`) before and at its peak, and what each
 *      connection was answered;
 *   3. the server's event-loop lag meanwhile (its own `nodejs_eventloop_lag_max_seconds`, reset at every scrape).
 * Bounded in count and time (about 40 s); stops the server by itself.
 *
 *   npx tsx bench/trickle.ts
 */
import { execFileSync, spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

const CONNECTIONS = Number(process.env.TRICKLE_CONNECTIONS ?? 150);
const DECLARED = 1_000_000;
const WAIT_MS = 20_000;

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
    JWT_SECRET: 'bench-jwt-secret-0123456789abcdef',
    INSTAGRAM_APP_SECRET: 'bench-app-secret',
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'bench-verify',
    CONNECT_RATE_LIMIT: '0',
    LOG_LEVEL: 'error',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const stopServer = () => {
  if (server.exitCode === null) server.kill('SIGKILL');
};
process.on('exit', stopServer);

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

for (let i = 0; i < 150; i++) {
  try {
    if ((await fetch(`${url}/healthz`)).ok) break;
  } catch {
    // starting
  }
  await new Promise((r) => setTimeout(r, 100));
}

interface Outcome {
  status: string;
  afterMs: number;
}

/** Opens a POST declaring DECLARED bytes, sends `send` of them, then waits; resolves with what came back. */
function trickle(send: number): { socket: Socket; outcome: Promise<Outcome>; sentAt: () => number } {
  const socket = connect(port, '127.0.0.1');
  let sentAt = performance.now();
  let head = '';
  const outcome = new Promise<Outcome>((resolve) => {
    const finish = (status: string) => resolve({ status, afterMs: Math.round(performance.now() - sentAt) });
    const timer = setTimeout(() => finish('no answer'), WAIT_MS);
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const line = head.split('\r\n')[0] ?? '';
      if (line.startsWith('HTTP/1.1 ')) {
        clearTimeout(timer);
        finish(line.slice(9, 12));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      finish(head === '' ? 'closed without answer' : (head.split('\r\n')[0] ?? '').slice(9, 12));
    });
  });
  socket.on('connect', () => {
    socket.write(
      'POST /api/webhooks/instagram HTTP/1.1\r\n' +
        `Host: 127.0.0.1:${port}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${DECLARED}\r\n` +
        `X-Hub-Signature-256: sha256=${'ab'.repeat(32)}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(send, 0x20), () => (sentAt = performance.now()));
  });
  return { socket, outcome, sentAt: () => sentAt };
}

// 1. One trickling body: time to an answer.
const single = trickle(10);
const singleOutcome = await single.outcome;
single.socket.destroy();

// 2. 150 of them, nearly whole.
const rssBefore = await metric('process_resident_memory_bytes');
await metric('nodejs_eventloop_lag_max_seconds'); // resets the window
const t0 = performance.now();
let answered = 0;
const many = Array.from({ length: CONNECTIONS }, () => trickle(DECLARED - 1));
for (const m of many) void m.outcome.then((o) => o.status !== 'no answer' && answered++);
/** Peak while every body is held (before the first answer), and over the whole run (cut-off buffers await GC). */
let rssHeld = rssBefore;
let rssPeak = rssBefore;
let loopLagMaxMs = 0;
const sampler = (async () => {
  while (performance.now() - t0 < 12_000) {
    const rss = await metric('process_resident_memory_bytes');
    loopLagMaxMs = Math.max(loopLagMaxMs, (await metric('nodejs_eventloop_lag_max_seconds')) * 1000);
    rssPeak = Math.max(rssPeak, rss);
    if (answered === 0) rssHeld = Math.max(rssHeld, rss);
    await new Promise((r) => setTimeout(r, 200));
  }
})();
const outcomes = await Promise.all(many.map((m) => m.outcome));
await sampler;
for (const m of many) m.socket.destroy();

const byStatus: Record<string, number> = {};
for (const o of outcomes) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
const answerTimes = outcomes.filter((o) => /^\d+$/.test(o.status)).map((o) => o.afterMs);
const MiB = (n: number) => Math.round(n / 1024 / 1024);
console.log(
  JSON.stringify(
    {
      singleTrickle: singleOutcome,
      connections: CONNECTIONS,
      answers: byStatus,
      slowestAnswerMs: answerTimes.length > 0 ? Math.max(...answerTimes) : null,
      serverRssMiB: {
        before: MiB(rssBefore),
        whileHeld: MiB(rssHeld),
        peak: MiB(rssPeak),
        growthWhileHeld: MiB(rssHeld - rssBefore),
        growthPeak: MiB(rssPeak - rssBefore),
      },
      serverEventLoopLagMaxMs: Math.round(loopLagMaxMs),
    },
    null,
    2,
  ),
);
stopServer();
process.exit(0);
