import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../protocol/errors.js';

/**
 * Longest time a webhook body may take to arrive once its headers have. Meta sends each body whole, at once; a body
 * still arriving after this is a client holding a connection and what it buffered (up to `WEBHOOK_BODY_LIMIT`).
 * Shorter than the server-wide `requestTimeout` (src/server/http-limits.ts), so that the answer is SPEC's JSON
 * error rather than Node's bare 408.
 */
export const WEBHOOK_BODY_DEADLINE_MS = 5_000;

/**
 * Cuts off a request whose body is not complete `deadlineMs` after its headers: 408 `request_timeout` with
 * `Connection: close`, after which Node closes the socket, and what was buffered is released. `onTimeout` counts it.
 * Mounted before the body parser, whose own "request aborted" error then reaches handlers that must see the answer
 * is already sent (`res.headersSent`).
 */
export function bodyDeadline(options: { deadlineMs: number; onTimeout: () => void }): RequestHandler {
  const seconds = options.deadlineMs / 1000;
  return (req: Request, res: Response, next: NextFunction) => {
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      options.onTimeout();
      // Answered here, not through the error handler: the body parser still holds the request, and reports its own
      // "aborted" once the socket closes. Same answer the error handler gives: SPEC's code, status and shape.
      const error = new AppError('request_timeout', `The request body did not arrive within ${seconds} s`);
      res.set('Connection', 'close');
      res.status(error.status).json({ error: error.code, message: error.message });
    }, options.deadlineMs);
    // Once the body is in (or the exchange is over), the time the handler takes is not the client's.
    const clear = () => clearTimeout(timer);
    req.once('end', clear);
    res.once('close', clear);
    next();
  };
}
