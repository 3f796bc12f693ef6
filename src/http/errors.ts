import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../observability/logger.js';
import { AppError, toAppError } from '../protocol/errors.js';

export function notFound(req: Request): never {
  throw new AppError('not_found', `No route for ${req.method} ${req.path}`);
}

/** The one error path: operational errors answer their code; body-parser errors map to theirs; the rest is a 500. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const error = toAppError(err);
    if (error.code === 'internal_error') {
      const log = (req as Request & { log?: Logger }).log ?? logger;
      log.error({ err, method: req.method, path: req.path }, 'unhandled error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(error.status).json({ error: error.code, message: error.message });
  };
}
