import type { NextFunction, Request, Response } from 'express';
import { safeEqual } from '../auth/secrets.js';
import { AppError } from '../protocol/errors.js';

/** Requires `Authorization: Bearer <token>`, compared in constant time. */
export function requireBearer(token: string) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    // The auth scheme is case-insensitive (RFC 7235).
    const match = typeof header === 'string' ? /^bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (!safeEqual(match?.[1] ?? '', token)) throw new AppError('unauthorized');
    next();
  };
}
