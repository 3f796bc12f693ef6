import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../protocol/errors.js';

/**
 * Most webhook bodies the server reads at once for one client address (an IPv6 /64). Each can hold up to
 * `WEBHOOK_BODY_LIMIT` until it is complete or cut off at `WEBHOOK_BODY_DEADLINE_MS`, so this bounds what one address
 * can make the server buffer.
 */
export const MAX_BODIES_READ_PER_CLIENT = 64;

/**
 * Requests of one address that wait, unread, for one of those places. A waiting request costs its headers and what
 * Node read ahead of it (at most one socket read, 64 KB: past its stream's high-water mark Node stops reading the
 * socket), so a burst of large bodies from Meta waits a few milliseconds instead of being refused. Its body deadline
 * runs while it waits.
 */
export const MAX_BODIES_QUEUED_PER_CLIENT = 256;

export interface UnfinishedBodiesOptions {
  readonly maxRead: number;
  readonly maxQueued: number;
  /** What one budget counts under (`limitKey` of the client address). */
  readonly keyOf: (req: Request) => string;
  /** Seconds a refused client is told to wait: by then the bodies it holds have finished or been cut off. */
  readonly retryAfterSeconds: number;
}

interface Budget {
  reading: number;
  /** Requests waiting for a place, oldest first: each one's continuation. */
  readonly queue: Set<() => void>;
}

/**
 * Lets at most `maxRead` bodies per client key be read at once; the next `maxQueued` wait for a place, first come
 * first served; beyond that a request is refused before its body is read: 429 `too_many_requests` with `Retry-After`
 * and `Connection: close`, so the body it may still send is not read either. A place is taken when the request is let
 * through and given back when its body is in (or the exchange ends, whichever comes first).
 */
export function unfinishedBodies(options: UnfinishedBodiesOptions): RequestHandler {
  // Only keys with a request in flight are present: the map is never larger than the open requests.
  const budgets = new Map<string, Budget>();

  const forgetIfIdle = (key: string, budget: Budget) => {
    if (budget.reading === 0 && budget.queue.size === 0) budgets.delete(key);
  };

  const wakeNext = (key: string, budget: Budget) => {
    const [waiting] = budget.queue;
    if (waiting !== undefined) waiting();
    else forgetIfIdle(key, budget);
  };

  const read = (key: string, budget: Budget, req: Request, res: Response, next: NextFunction) => {
    budget.reading += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      budget.reading -= 1;
      wakeNext(key, budget);
    };
    req.once('end', release);
    res.once('close', release);
    next();
  };

  return (req: Request, res: Response, next: NextFunction) => {
    const key = options.keyOf(req);
    let budget = budgets.get(key);
    if (budget === undefined) {
      budget = { reading: 0, queue: new Set() };
      budgets.set(key, budget);
    }
    if (budget.reading < options.maxRead) {
      read(key, budget, req, res, next);
      return;
    }
    if (budget.queue.size >= options.maxQueued) {
      res.set({ 'Retry-After': String(options.retryAfterSeconds), Connection: 'close' });
      throw new AppError('too_many_requests', 'Too many webhook bodies in flight from this address; retry later');
    }
    const held = budget;
    const takeTurn = () => {
      held.queue.delete(takeTurn);
      // Already answered (cut off by its deadline) and about to close: the place goes to the next in line.
      if (res.headersSent) wakeNext(key, held);
      else read(key, held, req, res, next);
    };
    held.queue.add(takeTurn);
    // Cut off by its deadline, or its client left, while waiting: it gives up its turn.
    res.once('close', () => {
      if (held.queue.delete(takeTurn)) forgetIfIdle(key, held);
    });
  };
}
