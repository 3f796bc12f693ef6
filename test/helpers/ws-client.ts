import { WebSocket } from 'ws';
import { Wire, type ServerMessage } from './protocol-connection.js';

export type WsFrame = ServerMessage;

/**
 * A raw WebSocket client of `/ws/notifications` that queues frames so tests can await the next of a type (taking it
 * off the queue). The wire is `ProtocolConnection`'s; this is its queue-shaped view for raw-WebSocket-only tests.
 */
export class WsTestClient {
  readonly ws: WebSocket;
  readonly frames: WsFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #wire: Wire;
  #waiters: Array<() => void> = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    const wake = () => {
      for (const waiter of this.#waiters.splice(0)) waiter();
    };
    this.#wire = new Wire(url, 'websocket', {
      headers,
      onMessage: (frame) => {
        this.frames.push(frame);
        wake();
      },
      onEnd: wake,
    });
    this.ws = this.#wire.ws as WebSocket;
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  /** Resolves once open (at once if it is); rejects with `HTTP <status>` when the upgrade is refused. */
  opened(): Promise<void> {
    return this.#wire.opened;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Removes and returns the first queued frame of `type`, waiting up to `timeoutMs` for it. */
  async next(type: string, timeoutMs = 3000): Promise<WsFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((f) => f.type === type);
      if (index !== -1) return this.frames.splice(index, 1)[0] as WsFrame;
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code and reason (already closed or to come); rejects after `timeoutMs`. */
  closedWithin(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.#wire.close();
  }
}
