import * as ws from 'ws';

/**
 * Whole WebSocket frames written straight to a `ws` connection's TCP socket: a fan-out encodes its frame once and
 * hands the same bytes to every connection, instead of `ws` framing the text again for each (a copy of the payload, a
 * header and a write callback per connection). Used by both transports: Socket.IO's adapter makes the frame itself
 * (`wsPreEncodedFrame`), the raw WebSocket transport with `textFrame`.
 */

/** `ws`'s frame encoder, as `ws` 8 has it (not in its type definitions). */
type FrameEncoder = (data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }) => Buffer[];
const encodeFrame = (ws as unknown as { Sender?: { frame?: FrameEncoder } }).Sender?.frame;

const TEXT = 1;

/** Whether this `ws` still has its frame encoder (`textFrame` throws without it). */
export const canEncodeFrames = (): boolean => typeof encodeFrame === 'function';

/** A server-to-client text frame, header and payload in one buffer (unmasked, uncompressed: this server's frames). */
export function textFrame(text: string): Buffer {
  if (encodeFrame === undefined) throw new Error('ws internals this server relies on are gone: Sender.frame');
  const parts = encodeFrame(Buffer.from(text), { fin: true, rsv1: false, opcode: TEXT, mask: false, readOnly: false });
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** What `writeWholeFrame` reads of a `ws` WebSocket. */
export interface WsInternals {
  readyState?: number;
  _sender?: { _bufferedBytes?: number };
  _socket?: { destroyed?: boolean; write(chunk: Buffer): boolean; cork(): void; uncork(): void };
}

/** `ws`'s WebSocket.OPEN. */
const OPEN = 1;

let members: 'unchecked' | 'present' | 'missing' = 'unchecked';

/**
 * Writes a whole frame to an open `ws` connection's TCP socket when `ws` has nothing of its own queued before it (it
 * queues only while compressing or reading a Blob: never on this server, which sends text without compression). The
 * bytes are what `ws` would write, in the same order as what it writes itself; `bufferedAmount` counts them. False
 * leaves the write to the caller's usual path: a connection not open, something queued, or a `ws` that no longer has
 * these members (checked on the first call; `onMissing` is told that once).
 */
export function writeWholeFrame(socket: WsInternals | undefined, frame: Buffer, onMissing: (what: string) => void): boolean {
  if (socket === undefined) return false;
  if (members === 'unchecked') members = checkMembers(socket, onMissing);
  const tcp = socket._socket;
  if (
    members === 'missing' ||
    socket.readyState !== OPEN ||
    socket._sender?._bufferedBytes !== 0 ||
    tcp === undefined ||
    tcp.destroyed === true
  ) {
    return false;
  }
  tcp.write(frame);
  return true;
}

function checkMembers(socket: WsInternals, onMissing: (what: string) => void): 'present' | 'missing' {
  const missing = [
    typeof socket.readyState !== 'number' && 'ws WebSocket#readyState',
    typeof socket._sender?._bufferedBytes !== 'number' && 'ws Sender#_bufferedBytes',
    typeof socket._socket?.write !== 'function' && 'ws WebSocket#_socket',
  ].filter((name): name is string => typeof name === 'string');
  if (missing.length === 0) return 'present';
  onMissing(missing.join(', '));
  return 'missing';
}

/**
 * The frame of the text last asked for, kept for the next connections of the same fan-out: one encode per
 * notification, whatever the number of receivers (a fan-out hands every member the same string).
 */
export class LastTextFrame {
  #text: string | undefined;
  #frame: Buffer | undefined;

  of(text: string): Buffer {
    if (this.#frame === undefined || text !== this.#text) {
      this.#text = text;
      this.#frame = textFrame(text);
    }
    return this.#frame;
  }
}
