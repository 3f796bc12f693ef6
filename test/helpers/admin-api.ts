import request from 'supertest';
import { openClient } from './clients.js';
import { TEST_ADMIN_TOKEN as ADMIN_TOKEN } from './server.js';

/** Something that serves the admin API: an in-process server or a spawned one. */
export interface Instance {
  readonly url: string;
}

export interface ListedClient {
  userId: string | null;
  socketId: string;
  transport: string;
  subscriptions: string[];
  accountIds: string[];
  connectedAt: string;
  lastActivityAt: string;
}

/** `GET /api/admin/clients` with the admin bearer. */
export async function listClients(instance: Instance): Promise<{ status: number; body: { clients: ListedClient[]; partial?: boolean } }> {
  const res = await request(instance.url).get('/api/admin/clients').set('Authorization', `Bearer ${ADMIN_TOKEN}`);
  return { status: res.status, body: res.body as { clients: ListedClient[]; partial?: boolean } };
}

/** The live connections `instance` lists (one entry each); throws unless the answer is 200. */
export async function connectedClients(instance: Instance): Promise<ListedClient[]> {
  const { status, body } = await listClients(instance);
  if (status !== 200) throw new Error(`GET /api/admin/clients answered ${status}`);
  return body.clients;
}

/** Publishes one flat-shape notification through `POST /api/admin/events`; resolves once it was accepted (202). */
export async function publishAsAdmin(instance: Instance, event: Record<string, unknown>): Promise<void> {
  const res = await request(instance.url).post('/api/admin/events').set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(event);
  if (res.status !== 202) throw new Error(`POST /api/admin/events answered ${res.status}: ${res.text}`);
}

/** `POST /api/admin/users/:userId/revoke`; `answeredAt` is when the answer came (a revocation is at or before it). */
export async function revokeUser(instance: Instance, userId: string, token = ADMIN_TOKEN) {
  const res = await request(instance.url)
    .post(`/api/admin/users/${encodeURIComponent(userId)}/revoke`)
    .set('Authorization', `Bearer ${token}`);
  return { status: res.status, body: res.body as Record<string, unknown>, answeredAt: Date.now() };
}

/**
 * Waits until `from` hears from `to` through the adapter (instances learn of each other from its heartbeat), so that
 * the admin API's server-side events reach it: a connection on `to` shows up in `from`'s client list.
 */
export async function knowEachOther(from: Instance, to: Instance, timeoutMs = 15_000): Promise<void> {
  const probe = openClient(to.url);
  try {
    await probe.connected();
    const deadline = Date.now() + timeoutMs;
    while (!(await listClients(from)).body.clients.some((c) => c.socketId === probe.id)) {
      if (Date.now() > deadline) throw new Error(`${from.url} did not hear from ${to.url} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    probe.close();
  }
}
