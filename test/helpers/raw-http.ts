import { connect, type Socket } from 'node:net';

/** A response as it came off the wire. */
export interface RawResponse {
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * One HTTP/1.1 exchange over a raw TCP socket, so that a test sends exactly the bytes it wants, when it wants:
 * headers without a body, a body that stops halfway, a body one chunk at a time.
 */
export interface RawExchange {
  readonly socket: Socket;
  /** Resolves once the socket is connected. */
  readonly connected: Promise<void>;
  /** The first complete response, or `undefined` when the connection ended (or was reset) before one came. */
  readonly response: Promise<RawResponse | undefined>;
  /** Resolves once the server closed (or reset) the connection. */
  readonly closed: Promise<void>;
  /** Writes bytes; resolves once they were handed to the kernel. */
  write(bytes: string | Buffer): Promise<void>;
}

/** The request line and headers of a request, ending with the blank line. */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return [`${method} ${path} HTTP/1.1`, ...lines, '', ''].join('\r\n');
}

const open = new Set<Socket>();

/** Opens a connection to `url`'s host and port and sends `initial` (a request head, perhaps part of a body). */
export function rawExchange(url: string, initial: string | Buffer): RawExchange {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  open.add(socket);
  socket.on('error', () => undefined); // a reset is an outcome here, seen as `closed` without a response
  let received = Buffer.alloc(0);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  closed.then(() => open.delete(socket), () => undefined);
  const response = new Promise<RawResponse | undefined>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseResponse(received);
      if (parsed !== undefined) resolve(parsed);
    });
    void closed.then(() => resolve(parseResponse(received)));
  });
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const write = (bytes: string | Buffer) =>
    new Promise<void>((resolve, reject) => socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  // Written at once: a socket queues writes made before it connects, in order.
  write(initial).catch(() => undefined);
  return { socket, connected, response, closed, write };
}

/**
 * The first complete final response in `bytes` (Content-Length framed, or none), else `undefined`. Interim answers
 * (`100 Continue`) are skipped.
 */
function parseResponse(bytes: Buffer): RawResponse | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  if (/^HTTP\/1\.1 1\d\d /.test(statusLine)) return parseResponse(bytes.subarray(end + 4));
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = bytes.subarray(end + 4);
  if (body.length < length) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body: body.subarray(0, length).toString('utf8') };
}

/** Destroys every socket these helpers opened (afterEach/afterAll). */
export function destroyRawSockets(): void {
  for (const socket of open) socket.destroy();
  open.clear();
}
