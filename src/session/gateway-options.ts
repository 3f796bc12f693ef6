import type { IncomingMessage } from 'node:http';
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { OriginPolicy } from '../http/origins.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SessionHub } from './session-hub.js';

/** What every transport (Socket.IO, raw WebSocket) needs to admit connections and open them on the session core. */
export interface GatewayOptions {
  readonly hub: SessionHub;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Browser origins allowed to connect (WebSocket upgrades included). */
  readonly origins: OriginPolicy;
  /** The client IP of a request, honouring `TRUST_PROXY` (for logs). */
  readonly clientAddress: (req: IncomingMessage) => string;
  /** What per-address limits count under: the client IP, an IPv6 one as its /64 (`limitKey`). */
  readonly clientKey: (req: IncomingMessage) => string;
  /** Per-IP connection budget, or undefined when `CONNECT_RATE_LIMIT=0`. */
  readonly connectLimiter: RateLimiterMemory | undefined;
  /**
   * Per-IP budget of Engine.IO handshakes (twice the connection budget, so that a client over it is told so by the
   * connection limit first): a handshake that never connects to a namespace still holds a session for 45 s.
   */
  readonly handshakeLimiter: RateLimiterMemory | undefined;
  /** Unsent bytes past which a connection is closed as a slow consumer. */
  readonly maxClientBufferBytes: number;
  /** True once shutdown began: new connections are refused. */
  readonly isDraining: () => boolean;
}
