import { WebSocket } from 'ws';

/**
 * A Socket.IO client at its least: Engine.IO v4 over one `ws` WebSocket (no polling, no upgrade, no reconnection, no
 * parser objects), so that the bench's client processes spend little of the machine's cores. It speaks what the
 * product's and the reference's clients speak (SPEC "Socket.IO protocol"): the token in the handshake `auth`, then
 * `auth_success`, `subscribe` with an acknowledgement, and `webhook_event` pushes.
 *
 * Frames: Engine.IO `0` open, `2` ping (answered `3` pong), `4` message; inside a message, Socket.IO `0` connect,
 * `4` connect_error, `2` event, `3` ack (with the ack id right after the type).
 */
export interface WireSocketEvents {
  /** A `webhook_event`'s raw Socket.IO frame (`42["webhook_event",{...}]`, possibly with a recovery offset). */
  onNotification(frame: string): void;
  onClose(): void;
}

export class WireSocket {
  readonly #ws: WebSocket;
  readonly #events: WireSocketEvents;
  #nextAck = 0;
  readonly #acks = new Map<number, (payload: string) => void>();
  #authenticated: ((error?: Error) => void) | undefined;

  private constructor(url: string, events: WireSocketEvents) {
    this.#events = events;
    this.#ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: false,
    });
    this.#ws.on('message', (data, isBinary) => {
      if (!isBinary) this.#frame(data.toString());
    });
    this.#ws.on('close', () => {
      this.#authenticated?.(new Error('closed before auth_success'));
      this.#authenticated = undefined;
      events.onClose();
    });
    this.#ws.on('error', () => undefined);
  }

  /** Opens a socket authenticated with `token` at the handshake; resolves at `auth_success`. */
  static connect(url: string, token: string, events: WireSocketEvents, timeoutMs = 30_000): Promise<WireSocket> {
    const socket = new WireSocket(url, events);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error('no auth_success in time'));
      }, timeoutMs);
      socket.#authenticated = (error) => {
        clearTimeout(timer);
        if (error === undefined) resolve(socket);
        else {
          socket.close();
          reject(error);
        }
      };
      socket.#ws.on('open', () => socket.#ws.send(`40${JSON.stringify({ token })}`));
    });
  }

  /** Emits `event` with an acknowledgement; resolves with the ack's raw JSON array. */
  request(event: string, payload: unknown, timeoutMs = 30_000): Promise<string> {
    const id = this.#nextAck++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#acks.delete(id);
        reject(new Error(`no ack to ${event} in time`));
      }, timeoutMs);
      this.#acks.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.#ws.send(`42${id}${JSON.stringify([event, payload])}`);
    });
  }

  close(): void {
    this.#ws.terminate();
  }

  #frame(text: string): void {
    const engine = text.charCodeAt(0);
    if (engine === 0x32 /* 2: ping */) {
      this.#ws.send('3');
      return;
    }
    if (engine !== 0x34 /* 4: message */) return;
    const type = text.charCodeAt(1);
    if (type === 0x32 /* 2: event */) {
      if (text.startsWith('42["webhook_event"')) this.#events.onNotification(text);
      else if (text.startsWith('42["auth_success"')) {
        this.#authenticated?.();
        this.#authenticated = undefined;
      } else if (text.startsWith('42["auth_failed"')) {
        this.#authenticated?.(new Error(`auth_failed: ${text.slice(2, 200)}`));
        this.#authenticated = undefined;
      }
      return;
    }
    if (type === 0x33 /* 3: ack */) {
      const bracket = text.indexOf('[');
      const id = Number(text.slice(2, bracket));
      const done = this.#acks.get(id);
      this.#acks.delete(id);
      done?.(text.slice(bracket));
      return;
    }
    if (type === 0x34 /* 4: connect_error */) {
      this.#authenticated?.(new Error(`connect_error: ${text.slice(2, 200)}`));
      this.#authenticated = undefined;
    }
  }
}
