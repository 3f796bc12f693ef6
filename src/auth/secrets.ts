import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Constant-time comparison of a secret a client sent with the expected one. Both are hashed first, so that the
 * compare runs on equal lengths and reveals neither the expected value nor its length.
 */
export const safeEqual = (given: string, expected: string): boolean => timingSafeEqual(sha256(given), sha256(expected));
