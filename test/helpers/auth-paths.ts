import { expect } from 'vitest';
import { openClient, unauthenticatedClient } from './clients.js';
import { WsTestClient, type WsFrame } from './ws-client.js';

/** What authenticating with a token came to: `auth_success`, or the refusal's sentence. */
export const SUCCESS = 'auth_success';

/** The Socket.IO handshake path: `auth_success`, or the `connect_error` message. */
export async function handshakeOutcome(url: string, token: string): Promise<string> {
  const client = openClient(url, { token });
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('neither auth_success nor connect_error within 8 s')), 8000);
      const done = (outcome: string) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      client.socket.once('auth_success', () => done(SUCCESS));
      client.socket.once('connect_error', (err) => done(err.message));
    });
  } finally {
    client.close();
  }
}

/** The Socket.IO `authenticate` event: `auth_success`, or the `auth_failed` reason (the socket then disconnected). */
export async function eventOutcome(url: string, token: string, userId: string): Promise<string> {
  const client = await unauthenticatedClient(url);
  try {
    const answer = (await client.request('authenticate', { token, userId, timestamp: Date.now() }, 8000)) as {
      message?: string;
      reason?: string;
    };
    if (answer.reason === undefined) return SUCCESS;
    expect(await client.disconnected(3000)).toBe('io server disconnect');
    return answer.reason;
  } finally {
    client.close();
  }
}

/** The first frame of one of these types a raw WebSocket client receives (bounded). */
export function firstFrame(client: WsTestClient, types: string[], timeoutMs = 8000): Promise<WsFrame> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const frame = client.frames.find((f) => types.includes(f.type));
      if (frame === undefined) return false;
      finish();
      resolve(frame);
      return true;
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`none of ${types.join(', ')} within ${timeoutMs} ms; got ${client.frames.map((f) => f.type).join(', ')}`));
    }, timeoutMs);
    // WsTestClient records a frame in its own listener, registered first: by the time this one runs, it is there.
    const onMessage = () => void check();
    const finish = () => {
      clearTimeout(timer);
      client.ws.off('message', onMessage);
    };
    client.ws.on('message', onMessage);
    check();
  });
}

/** The raw WebSocket `authenticate` frame: `auth_success`, or the `auth_failed` reason (then close 1008). */
export async function websocketOutcome(url: string, token: string, userId: string): Promise<string> {
  const client = new WsTestClient(url);
  try {
    await client.opened();
    client.send({ type: 'authenticate', token, userId, timestamp: Date.now() });
    const frame = await firstFrame(client, ['auth_success', 'auth_failed']);
    if (frame.type === 'auth_success') return SUCCESS;
    const closed = await client.closedWithin();
    expect(closed.code).toBe(1008);
    return String(frame.reason);
  } finally {
    client.close();
  }
}

/** The outcome of one token on every authentication path: handshake, `authenticate` event, raw WebSocket. */
export async function everyPath(url: string, token: string, userId: string) {
  const [handshake, event, websocket] = await Promise.all([
    handshakeOutcome(url, token),
    eventOutcome(url, token, userId),
    websocketOutcome(url, token, userId),
  ]);
  return { handshake, event, websocket };
}

/** The same outcome on every path. */
export const onEveryPath = (outcome: string) => ({ handshake: outcome, event: outcome, websocket: outcome });
