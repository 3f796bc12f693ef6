import { Parser } from '@asyncapi/parser';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_EVENTS } from '../src/protocol/events.js';
import { SERVER_MESSAGES } from '../src/protocol/server-messages.js';
import { startServer, type RunningServer } from './helpers/server.js';

describe('GET /asyncapi.json: the AsyncAPI 3 document of both socket protocols', () => {
  let srv: RunningServer;
  let doc: Record<string, unknown>;
  beforeAll(async () => {
    srv = await startServer();
    const res = await request(srv.url).get('/asyncapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.body as Record<string, unknown>;
  });
  afterAll(() => srv.stop());

  it('is a valid AsyncAPI 3 document (@asyncapi/parser finds no error)', async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
    const errors = diagnostics.filter((d) => d.severity === 0);
    expect(errors.map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
  });

  it('lists every client event the server accepts and every message it sends, on both transports', async () => {
    const { document } = await new Parser().parse(JSON.stringify(doc));
    for (const transport of ['socketio', 'websocket']) {
      const channel = document?.channels().get(transport);
      expect(channel, transport).toBeDefined();
      const names = channel?.messages().all().map((m) => m.name()) ?? [];
      expect(new Set(names)).toEqual(new Set([...Object.keys(CLIENT_EVENTS), ...Object.keys(SERVER_MESSAGES)]));
    }
    const operations = document?.operations().all() ?? [];
    for (const event of Object.keys(CLIENT_EVENTS)) {
      for (const transport of ['socketio', 'websocket']) {
        const op = operations.find((o) => o.id() === `${transport}_${event}`);
        expect(op?.isReceive(), `${transport}_${event}`).toBe(true);
        const answers = op?.reply()?.messages().all().map((m) => m.name());
        expect(answers).toContain(CLIENT_EVENTS[event as keyof typeof CLIENT_EVENTS].answer);
      }
    }
    expect(operations.filter((o) => o.isSend()).map((o) => o.id())).toEqual(
      expect.arrayContaining(['socketio_push_webhook_event', 'websocket_push_webhook_event']),
    );
  });

  it('describes payloads with the schemas the server validates with: limits, required fields, the raw frame shape', () => {
    const messages = (doc.components as { messages: Record<string, { payload: Record<string, unknown> }> }).messages;
    const subscribe = messages.sio_subscribe?.payload as { required: string[]; properties: Record<string, { maxItems?: number }> };
    expect(subscribe.required).toEqual(['eventTypes']);
    expect(subscribe.properties.accountIds?.maxItems).toBe(1000);
    const frame = messages.ws_subscribe?.payload as { required: string[]; properties: Record<string, unknown> };
    expect(frame.required).toEqual(['type', 'eventTypes']);
    expect(frame.properties.type).toEqual({ const: 'subscribe' });
    const notification = messages.ws_webhook_event?.payload as { required: string[] };
    expect(notification.required).toEqual(['type', 'payload', 'timestamp']);
    const authSuccess = messages.sio_auth_success?.payload as { required: string[] };
    expect(authSuccess.required).toContain('heartbeatTimeoutMs');
  });
});
