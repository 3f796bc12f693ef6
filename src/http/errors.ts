import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../observability/logger.js';
import { isBodyParserError } from './body-parser-errors.js';

export function notFound(req: Request): never {
  throw new AppError('not_found', `No route for ${req.method} ${req.path}`);
}

/** The one error path: operational errors answer their code; body-parser errors map to theirs; the rest is a 500. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const error = toAppError(err);
    if (error.code === 'internal_error') {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(error.status).json({ error: error.code, message: error.message });
  };
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isBodyParserError(err)) {
    if (err.status === 413) return new AppError('payload_too_large', 'The request body is too large');
    if (err.status >= 400 && err.status < 500) return new AppError('invalid_body', 'The request body could not be read');
  }
  return new AppError('internal_error', 'Something went wrong on our side');
}
