import { parseArgs, type ParseArgsConfig } from 'node:util';
import dotenv from 'dotenv';
import { ConfigError, loadConfig, type Config } from '../config/config.js';

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A problem the user can fix (missing file, unreachable server, wrong key): printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** The configuration exactly as the server reads it: `.env` (never overriding the environment), then the schema. */
export function loadCliConfig(): Config {
  dotenv.config({ quiet: true });
  return loadConfig(process.env);
}

/** `node:util` parseArgs whose own errors (unknown option, missing value) become usage errors. */
export function parseCliArgs<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ ...config, args: config.args ?? process.argv.slice(2), strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_TTL_SECONDS = 366 * 86_400;

/** `90`, `90s`, `15m`, `1h`, `7d` → seconds (at least 1, at most a year). */
export function parseTtl(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (match === null) throw new UsageError(`--ttl "${text}" is not a duration (examples: 90s, 15m, 1h, 7d)`);
  const seconds = Number(match[1]) * (TTL_UNITS[match[2] || 's'] ?? 1);
  if (seconds < 1 || seconds > MAX_TTL_SECONDS) throw new UsageError(`--ttl must be between 1s and 366d (got ${text})`);
  return seconds;
}

/** A comma-separated list of ids; empty items are dropped. */
export const splitList = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/**
 * Runs a CLI's main function: user errors become one line on stderr (usage errors add the usage and exit 2), never a
 * stack trace; anything unexpected is reported with its message and exit code 1.
 */
export function runCli(usage: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        // The synopsis only: the full text is one --help away.
        console.error(`error: ${err.message}\n\n${usage.split('\n\n')[0]}\n(--help for every option)`);
        process.exitCode = 2;
        return;
      }
      const known = err instanceof CliError || err instanceof ConfigError;
      const message = err instanceof Error ? err.message : String(err);
      console.error(known ? `error: ${message}` : `unexpected error: ${message}`);
      process.exitCode = 1;
    },
  );
}
