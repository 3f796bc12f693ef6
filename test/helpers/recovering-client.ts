import type { Notification } from '../../src/notifications/notification.js';
import { bounded, openClient, type TestClient, type TestSocket } from './clients.js';
import type { RunningServer } from './server.js';

/**
 * A Socket.IO client as a browser has it (reconnection on, connection state recovery), authenticated with a handshake
 * token and subscribed to `comments`, recording what it receives.
 */
export class RecoveringClient {
  readonly received: Notification[] = [];
  readonly client: TestClient;

  private constructor(url: string, token: string) {
    this.client = openClient(url, { reconnecting: true, token });
    this.socket.on('webhook_event', (n) => this.received.push(n));
  }

  static async open(url: string, token: string): Promise<RecoveringClient> {
    const recovering = new RecoveringClient(url, token);
    await recovering.client.next('auth_success');
    await recovering.client.request('subscribe', { eventTypes: ['comments'] });
    return recovering;
  }

  get socket(): TestSocket {
    return this.client.socket;
  }

  /**
   * Drops the transport as a network failure would (the server keeps the session for recovery) and holds the
   * reconnection until `comeBack`, so that what happens meanwhile is certainly missed.
   */
  async goDown(srv: RunningServer): Promise<void> {
    const serverSocket = srv.server.io.of('/').sockets.get(this.socket.id as string);
    if (serverSocket === undefined) throw new Error('the socket is not connected to this instance');
    const serverGone = bounded(new Promise<void>((resolve) => serverSocket.once('disconnect', () => resolve())), 'server-side disconnect');
    const gone = Promise.all([serverGone, this.client.disconnected()]);
    this.socket.io.reconnection(false);
    this.socket.io.engine.close();
    await gone;
  }

  /**
   * Reconnects with the session id and offset it kept (through `via`, as a load balancer would choose, when given),
   * with `token` in its handshake when given. Resolves with `connected` or the `connect_error` message.
   */
  async comeBack(options: { via?: RunningServer; token?: string } = {}): Promise<string> {
    if (options.via !== undefined) (this.socket.io as unknown as { uri: string }).uri = options.via.url;
    if (options.token !== undefined) this.socket.auth = { token: options.token };
    const outcome = bounded(
      new Promise<string>((resolve) => {
        const onConnect = () => {
          this.socket.off('connect_error', onError);
          resolve('connected');
        };
        const onError = (err: Error) => {
          this.socket.off('connect', onConnect);
          resolve(err.message);
        };
        this.socket.once('connect', onConnect);
        this.socket.once('connect_error', onError);
      }),
      'the reconnection',
      5000,
    );
    this.socket.io.reconnection(true);
    this.socket.connect();
    return outcome;
  }

  get recovered(): boolean {
    return this.socket.recovered;
  }

  close(): void {
    this.socket.disconnect();
  }
}
