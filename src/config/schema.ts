import bytes from 'bytes';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';

/**
 * One schema for every environment variable of SPEC's configuration table. Each field parses the raw string (zod's
 * `.prefault()` feeds the default through the same parsing as a provided value) and the result is the typed config.
 */

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `expected a whole number between ${min} and ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));

/** Node clamps a longer setTimeout/setInterval delay to 1 ms: durations used as timers must stay below it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const duration = (min: number) => int(min, MAX_TIMER_MS);

const optionalSecret = z.string().min(1).optional();

const clientUrls = z
  .string()
  .transform((raw, ctx) => {
    const origins: string[] = [];
    for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
      let url: URL;
      try {
        url = new URL(part);
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not a URL (expected a comma-separated list of http(s) origins)` });
        return z.NEVER;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', message: `"${part}" must be an http or https URL` });
        return z.NEVER;
      }
      origins.push(url.origin);
    }
    if (origins.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected at least one http(s) origin' });
      return z.NEVER;
    }
    return origins;
  });

const byteSize = z.string().transform((raw, ctx) => {
  const value = bytes.parse(raw.trim());
  if (value === null || !Number.isFinite(value) || value <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a size (examples: 512kb, 1mb, 1048576)` });
    return z.NEVER;
  }
  return value;
});

/** Express `trust proxy`: true/false, a hop count, or a comma list of addresses, subnets or names like `loopback`. */
const trustProxy = z.string().transform((raw, ctx): boolean | number | string => {
  const value = raw.trim();
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  try {
    proxyAddr.compile(value.split(',').map((s) => s.trim()));
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not true, false, a hop count or a list of addresses/subnets` });
    return z.NEVER;
  }
  return value;
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).prefault('development'),
  PORT: int(0, 65535).prefault('3000'),
  HOST: z.string().trim().min(1).prefault('0.0.0.0'),
  JWT_SECRET: optionalSecret,
  JWT_PUBLIC_KEY: z.string().min(1).optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  INSTAGRAM_APP_SECRET: optionalSecret,
  INSTAGRAM_WEBHOOK_VERIFY_TOKEN: optionalSecret,
  CLIENT_URL: clientUrls.prefault('http://localhost:3000'),
  AUTH_TIMEOUT_MS: duration(1).prefault('10000'),
  HEARTBEAT_TIMEOUT_MS: duration(1).prefault('60000'),
  HEARTBEAT_SWEEP_MS: duration(1).prefault('30000'),
  MAX_CONNECTIONS_PER_USER: int(1).prefault('10'),
  WEBHOOK_BODY_LIMIT: byteSize.prefault('1mb'),
  SOCKET_EVENT_RATE_LIMIT: int(1).prefault('50'),
  CONNECT_RATE_LIMIT: int(0).prefault('600'),
  MAX_CLIENT_BUFFER_BYTES: int(1).prefault('1048576'),
  DEMO_PAGE: z.stringbool().optional(),
  DEDUPE_TTL_MS: int(1).prefault('86400000'),
  DEDUPE_MAX_ENTRIES: int(1).prefault('200000'),
  RECOVERY_WINDOW_MS: duration(0).prefault('120000'),
  HISTORY_SIZE: int(1).prefault('100'),
  HISTORY_MAX_ACCOUNTS: int(1).prefault('10000'),
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\/.+/, { error: 'expected a redis:// or rediss:// URL' })
    .optional(),
  ADMIN_TOKEN: optionalSecret,
  METRICS_TOKEN: optionalSecret,
  TRUST_PROXY: trustProxy.prefault('false'),
  LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
  SHUTDOWN_TIMEOUT_MS: duration(1).prefault('10000'),
});

export type RawEnv = z.infer<typeof envSchema>;
