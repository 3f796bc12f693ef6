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
    // The auth scheme is case-insensitive (RFC 7235).
    const match = typeof header === 'string' ? /^bearer\s+(.+)$/i.exec(header.trim()) : null;
    const given = match?.[1] ?? '';
    if (!timingSafeEqual(sha256(given), expected)) throw new AppError('unauthorized', 'A valid bearer token is required');
    next();
  };
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time string comparison that does not reveal the expected value's length. */
export const safeEqual = (given: string, expected: string): boolean => timingSafeEqual(sha256(given), sha256(expected));
