/**
 * The reference the product is judged against (issue 14): Express 5 + Socket.IO 4 at their least, speaking the
 * same client protocol as the product for what the bench uses (SPEC "Socket.IO protocol": the token in the
 * handshake `auth`, `auth_success`, `subscribe` with an ack, `webhook_event` pushes), so that one client works
 * against both. Per webhook: the HMAC over the raw body, JSON.parse, one `io.to(room).emit` per change or messaging
 * item. Rooms (one per entitled account) are joined at authentication. No dedupe, history, recovery, metrics, logs,
 * limits or event-type filtering: what the product adds on top of this is what the ratios price.
 *
 *   PORT=3001 JWT_SECRET=... INSTAGRAM_APP_SECRET=... node reference-server.mjs
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import express from 'express';
import jwt from 'jsonwebtoken';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 3001);
const host = process.env.HOST ?? '127.0.0.1';
/**
 * A KeyObject made once: given the secret as a string, jsonwebtoken tries to parse it as a PEM public key first (an
 * OpenSSL decode that throws, about a millisecond) on every verify; the least a server must do is not that.
 */
const jwtKey = createSecretKey(Buffer.from(process.env.JWT_SECRET ?? ''));
const appSecret = process.env.INSTAGRAM_APP_SECRET ?? '';

const app = express();
const httpServer = createServer(app);
const io = new Server(httpServer, { path: '/socket.io', serveClient: false, maxHttpBufferSize: 100_000 });

interface Claims {
  userId?: string;
  accountIds?: string[];
}

io.use((socket, next) => {
  try {
    const claims = jwt.verify(String((socket.handshake.auth as { token?: unknown }).token), jwtKey, {
      algorithms: ['HS256'],
    }) as Claims;
    socket.data = { userId: claims.userId, accountIds: claims.accountIds ?? [] };
    next();
  } catch {
    next(new Error('Invalid token'));
  }
});

io.on('connection', (socket) => {
  const { userId, accountIds } = socket.data as { userId: string; accountIds: string[] };
  void socket.join(accountIds.map((a) => `account:${a}`));
  socket.emit('auth_success', { message: 'Authentication successful', userId, accountIds, timestamp: Date.now() });
  socket.on('subscribe', (payload: { eventTypes?: string[] }, ack?: (answer: unknown) => void) => {
    ack?.({ eventTypes: payload?.eventTypes ?? [], accountIds, timestamp: Date.now() });
  });
});

interface Entry {
  id?: string;
  time?: number;
  changes?: { field?: string; value?: { id?: string } }[];
  messaging?: { message?: { mid?: string } }[];
}

app.post('/api/webhooks/instagram', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  const body = req.body as Buffer;
  const header = req.get('x-hub-signature-256') ?? '';
  const given = Buffer.from(header.replace(/^sha256=/, ''), 'hex');
  const expected = createHmac('sha256', appSecret).update(body).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    res.status(401).json({ error: 'invalid_signature' });
    return;
  }
  let parsed: { entry?: Entry[] };
  try {
    parsed = JSON.parse(body.toString('utf8')) as { entry?: Entry[] };
  } catch {
    res.status(400).json({ error: 'invalid_body' });
    return;
  }
  for (const entry of parsed.entry ?? []) {
    const room = `account:${entry.id}`;
    for (const change of entry.changes ?? []) {
      io.to(room).emit('webhook_event', {
        id: change.value?.id,
        eventType: change.field,
        accountId: entry.id,
        timestamp: entry.time,
        value: change.value,
      });
    }
    for (const item of entry.messaging ?? []) {
      io.to(room).emit('webhook_event', {
        id: item.message?.mid,
        eventType: 'messages',
        accountId: entry.id,
        timestamp: entry.time,
        value: item,
      });
    }
  }
  res.type('text/plain').send('EVENT_RECEIVED');
});

app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});

/** What the product's /metrics says as `nodejs_heap_size_used_bytes`. */
app.get('/heap', (_req, res) => {
  res.json({ heapUsed: process.memoryUsage().heapUsed });
});

httpServer.listen(port, host, () => {
  const address = httpServer.address();
  console.log(`reference listening on ${host}:${typeof address === 'object' && address !== null ? address.port : port}`);
});

process.on('SIGTERM', () => {
  io.close();
  httpServer.closeAllConnections();
  setTimeout(() => process.exit(0), 200).unref();
});
