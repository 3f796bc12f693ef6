import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, collect, nextEvent, subscribedClient } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

describe('smoke', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    closeAllClients();
    await srv.stop();
  });

  it('delivers a flat webhook to an entitled subscriber', async () => {
    const socket = await subscribedClient(srv.url, { userId: 'u1', accountIds: ['17841400000000001'] }, ['comments']);
    const got = collect(socket);
    const ev = flatEvent();
    const res = await postFlat(srv.url, ev);
    expect(res.status).toBe(200);
    expect(res.text).toBe('EVENT_RECEIVED');
    await nextEvent(socket, 'webhook_event').catch(() => undefined);
    expect(got.map((n) => n.id)).toEqual([ev.id]);
  });
});
