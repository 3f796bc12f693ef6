import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors/app-error.js';

/**
 * Requires `Authorization: Bearer <token>`. Both sides are hashed first so that the constant-time compare works on
 * equal lengths and does not reveal the token's length.
 */
export function requireBearer(token: string) {
  const expected = sha256(token);
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!timingSafeEqual(sha256(given), expected)) throw new AppError('unauthorized', 'A valid bearer token is required');
    next();
  };
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();
