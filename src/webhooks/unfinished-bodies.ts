import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../errors/app-error.js';

/**
 * Most webhook bodies one client address (an IPv6 /64) may have in flight at once. Each can hold up to
 * `WEBHOOK_BODY_LIMIT` for up to `WEBHOOK_BODY_DEADLINE_MS`, so this bounds what one address can make the server
 * buffer. A body that arrives whole is read as soon as its bytes land and frees its place at once, so a burst of
 * parallel POSTs from Meta holds only a few places at any moment (test/webhook-trickle.test.ts sends 200).
 */
export const MAX_UNFINISHED_BODIES_PER_CLIENT = 64;

export interface UnfinishedBodiesOptions {
  readonly max: number;
  /** What one budget counts under (`limitKey` of the client address). */
  readonly keyOf: (req: Request) => string;
  /** Seconds a refused client is told to wait: by then the bodies it holds have finished or been cut off. */
  readonly retryAfterSeconds: number;
}

/**
 * Refuses a request, before its body is read, while its client already has `max` bodies in flight: 429
 * `too_many_requests` with `Retry-After`, and `Connection: close` so that the body it may still send is not read.
 * A place is taken when the headers are in and given back when the body is (or the exchange ends).
 */
export function unfinishedBodies(options: UnfinishedBodiesOptions): RequestHandler {
  // Only keys with a body in flight are present: the map is as large as the open requests, never larger.
  const inFlight = new Map<string, number>();
  return (req: Request, res: Response, next: NextFunction) => {
    const key = options.keyOf(req);
    const held = inFlight.get(key) ?? 0;
    if (held >= options.max) {
      res.set({ 'Retry-After': String(options.retryAfterSeconds), Connection: 'close' });
      throw new AppError('too_many_requests', 'Too many webhook bodies in flight from this address; retry later');
    }
    inFlight.set(key, held + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left > 0) inFlight.set(key, left);
      else inFlight.delete(key);
    };
    req.once('end', release);
    res.once('close', release);
    next();
  };
}
