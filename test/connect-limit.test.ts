import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.js';

/** Connects (no token) from a pretended client address and resolves with 'ok' or the connect_error message. */
function connectFrom(url: string, forwardedFor: string): Promise<string> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { 'X-Forwarded-For': forwardedFor },
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.disconnect();
      resolve('timeout');
    }, 3000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.disconnect();
      resolve('ok');
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.disconnect();
      resolve(err.message);
    });
  });
}

describe('CONNECT_RATE_LIMIT per client address', () => {
  let srv: RunningServer | undefined;
  afterEach(async () => {
    await srv?.stop();
    srv = undefined;
  });

  it('behind a trusted proxy, limits each forwarded client address separately', async () => {
    srv = await startServer({ CONNECT_RATE_LIMIT: '2', TRUST_PROXY: 'loopback' });
    expect(await connectFrom(srv.url, '203.0.113.7')).toBe('ok');
    expect(await connectFrom(srv.url, '203.0.113.7')).toBe('ok');
    expect(await connectFrom(srv.url, '203.0.113.7')).toBe('Too many connection attempts');
    // Positive control: another client behind the same proxy still connects.
    expect(await connectFrom(srv.url, '203.0.113.8')).toBe('ok');
  });

  it('without TRUST_PROXY, ignores X-Forwarded-For (a client cannot pick its own address)', async () => {
    srv = await startServer({ CONNECT_RATE_LIMIT: '2' });
    expect(await connectFrom(srv.url, '203.0.113.1')).toBe('ok');
    expect(await connectFrom(srv.url, '203.0.113.2')).toBe('ok');
    expect(await connectFrom(srv.url, '203.0.113.3')).toBe('Too many connection attempts');
  });

  it('CONNECT_RATE_LIMIT=0 turns the limit off', async () => {
    srv = await startServer({ CONNECT_RATE_LIMIT: '0' });
    for (let i = 0; i < 5; i++) expect(await connectFrom(srv.url, '203.0.113.9')).toBe('ok');
  });
});

describe('Engine.IO handshakes per client address', () => {
  it('are limited too (at twice CONNECT_RATE_LIMIT): sessions that never connect cannot pile up', async () => {
    const srv = await startServer({ CONNECT_RATE_LIMIT: '2' });
    try {
      const handshake = () => fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`).then((r) => r.status);
      // Positive control: the first four (2 × 2) are answered.
      for (let i = 0; i < 4; i++) expect(await handshake()).toBe(200);
      expect(await handshake()).toBe(403);
    } finally {
      await srv.stop();
    }
  });
});
