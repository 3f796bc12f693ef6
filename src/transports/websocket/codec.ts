import type { RawData } from 'ws';
import { isClientEvent, type ClientEvent } from '../../protocol/events.js';
import type { ServerMessageName, ServerMessages } from '../../protocol/server-messages.js';

/**
 * The raw WebSocket protocol's frames: JSON text `{"type": <event>, ...payload}` both ways, except notifications,
 * which come as `{"type": "webhook_event", "payload": <notification>, "timestamp": <ms>}` (SPEC).
 */
export function encode<E extends ServerMessageName>(event: E, payload: ServerMessages[E]): string {
  if (event === 'webhook_event') return encodeNotification(payload as ServerMessages['webhook_event']);
  return JSON.stringify({ type: event, ...payload });
}

export const encodeNotification = (notification: ServerMessages['webhook_event']): string =>
  JSON.stringify({ type: 'webhook_event', payload: notification, timestamp: Date.now() });

/**
 * A client frame as `{type, payload}`, or the reason it cannot be used. The frame itself is the payload (the event's
 * schema reads only its own keys and drops `type`): never copied, whatever the number of keys it carries.
 */
export function decode(data: RawData, isBinary: boolean): { type: ClientEvent; payload: Record<string, unknown> } | string {
  if (isBinary) return 'Binary frames are not supported; send JSON text';
  let value: unknown;
  try {
    value = JSON.parse(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
  } catch {
    return 'Invalid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'Expected a JSON object';
  const payload = value as Record<string, unknown>;
  const type = payload.type;
  if (typeof type !== 'string' || !isClientEvent(type)) return 'Unknown message type';
  return { type, payload };
}
