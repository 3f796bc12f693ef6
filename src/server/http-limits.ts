import type { ServerOptions } from 'node:http';

/**
 * How long Node's HTTP server waits for a request to arrive, so that a client trickling bytes cannot hold a
 * connection (and what it buffered) for Node's defaults of 60 s of headers and 300 s of request, checked only every
 * 30 s.
 *
 * Both bounds cover receiving the request only: Node stops timing a request once its last byte arrived, and drops an
 * upgraded connection from the check altogether. So a Socket.IO long-polling GET the engine holds for up to
 * `pingInterval` (25 s) and an open WebSocket are not cut (test/http-limits.test.ts checks both).
 */
export const HTTP_SERVER_LIMITS = {
  /** Request line and headers: a real client sends them in one go. */
  headersTimeout: 10_000,
  /**
   * The whole request, body included. Longer than the webhook route's own body deadline (`WEBHOOK_BODY_DEADLINE_MS`,
   * which answers Meta in JSON first), and enough for a Socket.IO polling POST (at most `maxHttpBufferSize`, 100 KB)
   * over a slow mobile uplink.
   */
  requestTimeout: 15_000,
  /** How often the two bounds above are checked; Node's default of 30 s would let a timeout fire up to 30 s late. */
  connectionsCheckingInterval: 1_000,
} as const satisfies ServerOptions;
