import type { IncomingMessage } from 'node:http';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { HttpErrorCode } from '../protocol/codes.js';
import type { OriginPolicy } from './origins.js';

/** Why a connection attempt is refused: the HTTP code a raw upgrade answers and the sentence Socket.IO clients see. */
export interface Refusal {
  readonly code: Extract<HttpErrorCode, 'not_ready' | 'forbidden' | 'too_many_requests'>;
  readonly message: string;
}

const REFUSALS = {
  draining: { code: 'not_ready', message: 'Server shutting down' },
  origin: { code: 'forbidden', message: 'Origin not allowed' },
  rate: { code: 'too_many_requests', message: 'Too many connection attempts' },
} as const satisfies Record<string, Refusal>;

/**
 * Who may open a connection, for both transports: not while draining, not from a foreign browser origin (cross-site
 * WebSocket hijacking: CORS does not cover upgrades), not past a client address's budget (`CONNECT_RATE_LIMIT`,
 * honouring `TRUST_PROXY`). Socket.IO asks twice: at the Engine.IO handshake (`handshakes`, twice the budget, so that
 * sessions that never join a namespace cannot pile up) and at the namespace connection (`connections`).
 */
export function createConnectionAdmission(options: {
  readonly isDraining: () => boolean;
  readonly origins: OriginPolicy;
  /** The key per-address budgets count under (the client address, honouring TRUST_PROXY). */
  readonly clientKey: (req: IncomingMessage) => string;
  /** Connections per client address per minute; 0 turns the budgets off. */
  readonly connectRateLimit: number;
}) {
  const budget = (points: number) =>
    options.connectRateLimit > 0 ? new RateLimiterMemory({ points, duration: 60 }) : undefined;
  const limiters = { connections: budget(options.connectRateLimit), handshakes: budget(options.connectRateLimit * 2) };

  return {
    isDraining: options.isDraining,
    /** The first check a request fails, or undefined when it may connect. */
    async admit(req: IncomingMessage, budgetName: keyof typeof limiters, checkOrigin = true): Promise<Refusal | undefined> {
      if (options.isDraining()) return REFUSALS.draining;
      if (checkOrigin && !options.origins.isAllowed(req.headers.origin, req)) return REFUSALS.origin;
      const limiter = limiters[budgetName];
      if (limiter === undefined) return undefined;
      try {
        await limiter.consume(options.clientKey(req));
        return undefined;
      } catch {
        return REFUSALS.rate;
      }
    },
    /** A browser origin allowed by CORS (Socket.IO's `cors.origin`). */
    isOriginAllowed: (origin: string | undefined) => options.origins.isAllowed(origin),
  };
}

export type ConnectionAdmission = ReturnType<typeof createConnectionAdmission>;
