import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Transform } from 'node:stream';

/**
 * A TCP relay on 127.0.0.1 in front of a server: a client's network path. `cut()` resets every connection through it
 * at once (a Wi-Fi switch, a NAT or proxy timeout); the server and the client learn only what a TCP reset tells
 * them. New connections are relayed as before, to whatever listens on the target port by then.
 */
export class TcpProxy {
  #cuts = 0;

  private constructor(
    readonly url: string,
    private readonly server: Server,
    private readonly pairs: Set<[Socket, Socket]>,
    private readonly network: { down: boolean },
    private readonly route: { target: URL },
    private readonly replies: ReplyFault,
  ) {}

  /**
   * From the first chunk a client sends that `matches` on, what the server answers on the open connections is
   * dropped (requests still reach it): a write applied whose answer is lost. `start` it with `replyFaults: true`.
   */
  dropRepliesAfter(matches: (request: string) => boolean): void {
    this.replies.trigger = matches;
  }

  /** Answers flow again (on new connections; the ones that dropped an answer are left to their timeouts). */
  passReplies(): void {
    this.replies.trigger = undefined;
    this.replies.dropping.clear();
  }
  /** Relays new connections to `targetUrl` from now on (a client's path to another instance); open ones stay. */
  retarget(targetUrl: string): void {
    this.route.target = new URL(targetUrl);
  }

  /**
   * `localAddress`: the address the relayed connections come from (a 127.0.0.x of the loopback /8), so that a proxy
   * in front, hashing by client address, sees this relay as one client of its own.
   */
  static async start(targetUrl: string, options: { localAddress?: string; replyFaults?: boolean } = {}): Promise<TcpProxy> {
    const replies: ReplyFault = { trigger: undefined, dropping: new Set() };
    const route = { target: new URL(targetUrl) };
    const pairs = new Set<[Socket, Socket]>();
    const network = { down: false };
    const server = createServer((client) => {
      if (network.down) {
        client.resetAndDestroy();
        return;
      }
      const upstream = createConnection({
        host: route.target.hostname,
        port: Number(route.target.port),
        ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
      });
      const pair: [Socket, Socket] = [client, upstream];
      pairs.add(pair);
      const end = () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      if (options.replyFaults !== true) {
        client.pipe(upstream);
        upstream.pipe(client);
        return;
      }
      const requests = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          if (replies.trigger?.(chunk.toString('latin1'))) replies.dropping.add(client);
          done(null, chunk);
        },
      });
      const answers = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          done(null, replies.dropping.has(client) ? undefined : chunk);
        },
      });
      client.pipe(requests).pipe(upstream);
      upstream.pipe(answers).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    return new TcpProxy(`http://127.0.0.1:${port}`, server, pairs, network, route, replies);
  }

  /** While paused, new connections are reset at once (the network is down); `cut()` the open ones too. */
  get paused(): boolean {
    return this.network.down;
  }

  pause(): void {
    this.network.down = true;
  }

  resume(): void {
    this.network.down = false;
  }

  /** Connections relayed right now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Cuts that dropped at least one connection. */
  get cuts(): number {
    return this.#cuts;
  }

  /** Resets every relayed connection now; returns how many there were. */
  cut(): number {
    const pairs = [...this.pairs];
    this.pairs.clear();
    for (const [client, upstream] of pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    if (pairs.length > 0) this.#cuts++;
    return pairs.length;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface ReplyFault {
  trigger: ((request: string) => boolean) | undefined;
  /** Client sockets whose answers are being dropped. */
  readonly dropping: Set<Socket>;
}
