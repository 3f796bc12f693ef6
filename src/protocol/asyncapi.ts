import { z } from 'zod';
import { CLIENT_EVENTS, SERVER_PUSHES, type ClientEvent } from './events.js';
import { SERVER_MESSAGES, type ServerMessageName } from './server-messages.js';

/**
 * The AsyncAPI 3 document of both socket protocols, generated from the protocol table (the schemas the server
 * validates with and the shapes it sends), so that it cannot drift from the server. Served at `GET /asyncapi.json`.
 */

type JsonSchema = Record<string, unknown>;

/**
 * A zod schema as JSON Schema draft-07 (AsyncAPI's default schema format is a superset of it). Client payloads are
 * described as clients write them: keys a schema does not read are dropped by the server, not refused.
 */
function jsonSchema(schema: z.ZodType, options: { openObjects: boolean }): JsonSchema {
  const generated = z.toJSONSchema(schema, { target: 'draft-7', io: 'output' }) as JsonSchema;
  delete generated.$schema;
  return options.openObjects ? openObjects(generated) : generated;
}

function openObjects(node: unknown): JsonSchema {
  if (Array.isArray(node)) return node.map(openObjects) as unknown as JsonSchema;
  if (node === null || typeof node !== 'object') return node as JsonSchema;
  const copy: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'additionalProperties' && value === false) continue;
    copy[key] = openObjects(value);
  }
  return copy;
}

/** The object branch of a payload that may also be absent or null (`heartbeat`, `get_history`, ...). */
function objectPart(schema: JsonSchema): JsonSchema {
  const branches = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  return branches?.find((branch) => branch.type === 'object') ?? schema;
}

/** A raw WebSocket frame: the event name as `type` beside the payload's own fields. */
function asFrame(type: string, payload: JsonSchema): JsonSchema {
  const object = objectPart(payload);
  return {
    ...object,
    type: 'object',
    properties: { type: { const: type }, ...((object.properties as JsonSchema | undefined) ?? {}) },
    required: ['type', ...((object.required as string[] | undefined) ?? [])],
  };
}

const clientEvents = Object.keys(CLIENT_EVENTS) as ClientEvent[];
const serverMessages = Object.keys(SERVER_MESSAGES) as ServerMessageName[];

export function asyncApiDocument(version: string): Record<string, unknown> {
  const clientPayloads = Object.fromEntries(
    clientEvents.map((event) => [event, jsonSchema(CLIENT_EVENTS[event].payload, { openObjects: true })]),
  );
  const serverPayloads = Object.fromEntries(
    serverMessages.map((name) => [name, jsonSchema(SERVER_MESSAGES[name], { openObjects: false })]),
  );
  const messages: Record<string, unknown> = {};
  for (const event of clientEvents) {
    const { summary } = CLIENT_EVENTS[event];
    messages[`sio_${event}`] = { name: event, title: event, summary, payload: clientPayloads[event] };
    messages[`ws_${event}`] = { name: event, title: event, summary, payload: asFrame(event, clientPayloads[event] as JsonSchema) };
  }
  for (const name of serverMessages) {
    const payload = serverPayloads[name] as JsonSchema;
    messages[`sio_${name}`] = { name, title: name, payload };
    messages[`ws_${name}`] = {
      name,
      title: name,
      payload:
        name === 'webhook_event'
          ? {
              type: 'object',
              properties: { type: { const: 'webhook_event' }, payload, timestamp: { type: 'integer' } },
              required: ['type', 'payload', 'timestamp'],
            }
          : asFrame(name, payload),
    };
  }

  const transports = {
    socketio: {
      address: '/socket.io/',
      description:
        'Socket.IO 4 (Engine.IO over WebSocket or HTTP long-polling): each message is an event of that name with its payload ' +
        'as the first argument; every client event may pass an acknowledgement callback, which receives the answer too.',
    },
    websocket: {
      address: '/ws/notifications',
      description: 'Plain WebSocket, JSON text frames `{"type": <event>, ...payload}`; frames over 64 KiB close the connection (1009).',
    },
  } as const;
  const prefix = { socketio: 'sio', websocket: 'ws' } as const;

  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  for (const [transport, info] of Object.entries(transports) as Array<[keyof typeof transports, (typeof transports)[keyof typeof transports]]>) {
    const p = prefix[transport];
    const channelMessages: Record<string, unknown> = {};
    for (const name of [...clientEvents, ...serverMessages]) {
      channelMessages[name] = { $ref: `#/components/messages/${p}_${name}` };
    }
    channels[transport] = {
      address: info.address,
      description: info.description,
      servers: [{ $ref: `#/servers/${transport}` }],
      messages: channelMessages,
    };
    const message = (name: string) => ({ $ref: `#/channels/${transport}/messages/${name}` });
    for (const event of clientEvents) {
      const refusal = event === 'authenticate' ? 'auth_failed' : 'error';
      operations[`${transport}_${event}`] = {
        action: 'receive',
        channel: { $ref: `#/channels/${transport}` },
        summary: CLIENT_EVENTS[event].summary,
        messages: [message(event)],
        reply: { channel: { $ref: `#/channels/${transport}` }, messages: [message(CLIENT_EVENTS[event].answer), message(refusal)] },
      };
    }
    for (const name of SERVER_PUSHES) {
      operations[`${transport}_push_${name}`] = {
        action: 'send',
        channel: { $ref: `#/channels/${transport}` },
        summary: PUSH_SUMMARIES[name],
        messages: [message(name)],
      };
    }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'InstantChat notification server',
      version,
      description:
        'Real-time Instagram notifications (comments, DMs, mentions, live comments, ...) pushed to authenticated sockets, ' +
        'over Socket.IO or a plain WebSocket: the same client events and server answers on both. Generated from the ' +
        "server's protocol table.",
    },
    defaultContentType: 'application/json',
    servers: {
      socketio: { host: 'localhost:3000', protocol: 'ws', pathname: '/socket.io/', description: transports.socketio.description },
      websocket: { host: 'localhost:3000', protocol: 'ws', pathname: '/ws/notifications', description: transports.websocket.description },
    },
    channels,
    operations,
    components: { messages },
  };
}

const PUSH_SUMMARIES: Record<(typeof SERVER_PUSHES)[number], string> = {
  webhook_event: 'A notification, once per socket that is authenticated, entitled to its account and subscribed to its type',
  server_shutdown: 'The server is going away: reconnect (to another instance)',
  error: 'A refused event, or the announcement of a disconnect the server decided (heartbeat_timeout, slow_consumer, rate_limited)',
  auth_failed: 'Authentication failed or ended (expiry, revocation), then the disconnect',
};
