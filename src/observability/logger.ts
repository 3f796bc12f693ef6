import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log line: credentials in headers and in anything a module may log
 * by mistake. Message text never goes to `info` in the first place (callers log ids and counts, not content).
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hub-signature"]',
  'req.headers["x-hub-signature-256"]',
  'res.headers["set-cookie"]',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'signature',
  '*.signature',
  'authorization',
  '*.authorization',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'instantchat-notifications' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
