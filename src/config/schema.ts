import { createPublicKey } from 'node:crypto';
import bytes from 'bytes';
import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { DEV_SECRETS, type DevSecretName } from './dev-defaults.js';

/**
 * Every environment variable of SPEC's configuration table, once: its parsing, its default, its meaning. The typed
 * configuration every module receives is this schema's output (`Config`); nothing else reads `process.env`. Each field
 * parses the raw string (`.prefault()` feeds a default through the same parsing as a given value); defaults that depend
 * on another variable, and production's refusals, are resolved at the end of the same pipeline.
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

const text = z.string().trim().min(1);

/** A comma-separated list of secrets (rotation: every one is accepted, the first one is used to sign). */
const secretList = z
  .string()
  .transform((raw) => raw.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.string()).min(1, { error: 'expected at least one value' }));

const clientUrls = z.string().transform((raw, ctx) => {
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

const PEM_BLOCK = /-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g;

/**
 * One PEM public key, or several one after the other (rotation), `\n` escapes accepted. RSA keys verify RS256, EC
 * keys ES256, and ES256 is P-256 only: a key on another curve would start and then refuse every token.
 */
const pemKeys = z.string().transform((raw, ctx) => {
  const blocks = raw.replace(/\\n/g, '\n').match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a PEM public key (-----BEGIN PUBLIC KEY-----), or several one after the other' });
    return z.NEVER;
  }
  for (const pem of blocks) {
    let key: ReturnType<typeof createPublicKey>;
    try {
      key = createPublicKey(pem);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a PEM public key (-----BEGIN PUBLIC KEY-----)' });
      return z.NEVER;
    }
    const type = key.asymmetricKeyType;
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (type !== 'rsa' && !(type === 'ec' && curve === 'prime256v1')) {
      const what = type === 'ec' ? `EC keys on ${String(curve)}` : `${String(type)} keys`;
      ctx.addIssue({ code: 'custom', message: `${what} are not supported (RSA for RS256, EC P-256 for ES256)` });
      return z.NEVER;
    }
  }
  return blocks;
});

/** The identity provider's JWKS endpoint: https, or http for a local one only. */
const jwksUrl = z.string().transform((raw, ctx) => {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a URL` });
    return z.NEVER;
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    ctx.addIssue({ code: 'custom', message: 'must be an https URL (http only for localhost)' });
    return z.NEVER;
  }
  return url.href;
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Production refuses an HS256 secret shorter than this (SPEC). */
export const MIN_PRODUCTION_JWT_SECRET = 32;

/**
 * Each variable on its own: its parsing and its default. `configSchema` adds what depends on several of them.
 */
export const envSchema = z.object({
  /** `development`, `test` (development defaults, quiet logs) or `production` (real secrets required). @default development */
  NODE_ENV: z.enum(['development', 'test', 'production']).prefault('development'),
  /** Port of HTTP, Socket.IO and the raw WebSocket endpoint (one port; 0: any free port). @default 3000 */
  PORT: int(0, 65535).prefault('3000'),
  /** Address to listen on. @default 0.0.0.0 */
  HOST: text.prefault('0.0.0.0'),
  /** HMAC secrets of HS256 tokens, comma-separated (any verifies, the first signs). @default a documented dev value */
  JWT_SECRET: secretList.optional(),
  /** PEM public keys (any verifies); tokens are then RS256 (RSA) or ES256 (EC P-256). @default unset */
  JWT_PUBLIC_KEY: pemKeys.optional(),
  /** The identity provider's JWKS endpoint; keys chosen by `kid`, cached, refetched on an unknown one. @default unset */
  JWT_JWKS_URL: jwksUrl.optional(),
  /** Required `iss` of tokens. @default unset */
  JWT_ISSUER: text.optional(),
  /** Required `aud` of tokens. @default unset */
  JWT_AUDIENCE: text.optional(),
  /** Keys of Meta's X-Hub-Signature-256, comma-separated (any verifies). @default a documented dev value */
  INSTAGRAM_APP_SECRET: secretList.optional(),
  /** Answer to Meta's verification handshake. @default a documented dev value */
  INSTAGRAM_WEBHOOK_VERIFY_TOKEN: text.optional(),
  /** Allowed browser origins, comma-separated (CORS and WebSocket upgrades). @default http://localhost:3000 */
  CLIENT_URL: clientUrls.prefault('http://localhost:3000'),
  /** A socket not authenticated by then is told `auth_failed` and disconnected. @default 10000 */
  AUTH_TIMEOUT_MS: duration(1).prefault('10000'),
  /** A socket silent (no client event) for longer is disconnected. @default 60000 */
  HEARTBEAT_TIMEOUT_MS: duration(1).prefault('60000'),
  /** How often silent sockets are looked for. @default 30000 */
  HEARTBEAT_SWEEP_MS: duration(1).prefault('30000'),
  /** Authenticated connections per user; one more is refused with `Too many connections`. @default 10 */
  MAX_CONNECTIONS_PER_USER: int(1).prefault('10'),
  /** Largest webhook body (larger: 413). @default 1mb */
  WEBHOOK_BODY_LIMIT: byteSize.prefault('1mb'),
  /** Client events per second per socket before `rate_limited`. @default 50 */
  SOCKET_EVENT_RATE_LIMIT: int(1).prefault('50'),
  /** New connections per client address per minute (0: off). @default 600 */
  CONNECT_RATE_LIMIT: int(0).prefault('600'),
  /** Unsent bytes past which a socket is disconnected as a slow consumer. @default 1048576 */
  MAX_CLIENT_BUFFER_BYTES: int(1).prefault('1048576'),
  /** Serve the demo page at `/`. @default true in development, false in production */
  DEMO_PAGE: z.stringbool().optional(),
  /** A notification id seen within this window is not delivered again. @default 86400000 */
  DEDUPE_TTL_MS: int(1).prefault('86400000'),
  /** Ids remembered for dedupe in memory (oldest forgotten first). @default 200000 */
  DEDUPE_MAX_ENTRIES: int(1).prefault('200000'),
  /** How long a dropped Socket.IO connection can come back and receive what it missed (0: off). @default 120000 */
  RECOVERY_WINDOW_MS: duration(0).prefault('120000'),
  /** Notifications kept per Instagram account for `get_history`. @default 100 */
  HISTORY_SIZE: int(1).prefault('100'),
  /** Accounts whose history is kept (least recently active forgotten first). @default 10000 */
  HISTORY_MAX_ACCOUNTS: int(1).prefault('10000'),
  /** `redis://` or `rediss://` URL: cluster mode. @default unset */
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\/.+/, { error: 'expected a redis:// or rediss:// URL' })
    .optional(),
  /** Bearer token of the admin API (off while unset). @default unset */
  ADMIN_TOKEN: text.optional(),
  /** Bearer token of `/metrics` (open while unset). @default unset */
  METRICS_TOKEN: text.optional(),
  /** Express `trust proxy`: false, true, a hop count, or addresses/subnets. @default false */
  TRUST_PROXY: trustProxy.prefault('false'),
  /** pino level. @default info (silent in test) */
  LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
  /** After SIGTERM, `/readyz` answers 503 for this long before the drain begins. @default 2000 in production, else 0 */
  SHUTDOWN_DELAY_MS: duration(0).optional(),
  /** Longest graceful shutdown, delay included; past it the process exits 1. @default 10000 */
  SHUTDOWN_TIMEOUT_MS: duration(1).prefault('10000'),
  /** How long a revocation (admin API) is remembered. @default 86400000 */
  REVOCATION_TTL_MS: int(1).prefault('86400000'),
});

/** The variables' names, as SPEC, README and `.env.example` list them. */
export const VARIABLES = Object.keys(envSchema.shape) as Array<keyof typeof envSchema.shape>;

type Variables = z.output<typeof envSchema>;

/**
 * Defaults that depend on `NODE_ENV`, the development secrets outside production, and production's refusals: every
 * missing, weak or development secret is reported at once, each under its variable's name.
 */
function resolve(env: Variables, ctx: z.core.$RefinementCtx<Variables>) {
  const production = env.NODE_ENV === 'production';
  const devSecretsInUse: DevSecretName[] = [];
  const refuse = (name: string, message: string) => ctx.addIssue({ code: 'custom', path: [name], message });
  const hs256 = env.JWT_PUBLIC_KEY === undefined && env.JWT_JWKS_URL === undefined;
  if (env.JWT_PUBLIC_KEY !== undefined && env.JWT_JWKS_URL !== undefined) {
    refuse('JWT_JWKS_URL', 'set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both');
  }
  const secret = <T extends string | string[]>(name: DevSecretName, value: T | undefined, dev: T, required: boolean): T => {
    if (!production) {
      if (value === undefined && required) devSecretsInUse.push(name);
      return value ?? dev;
    }
    const values: string[] = value === undefined ? [] : Array.isArray(value) ? value : [value];
    if (values.length === 0 && required) refuse(name, 'required when NODE_ENV=production');
    if (values.includes(DEV_SECRETS[name])) refuse(name, 'still the development default; set a real secret for production');
    return value ?? dev;
  };
  const jwtSecrets = secret('JWT_SECRET', env.JWT_SECRET, [DEV_SECRETS.JWT_SECRET], hs256);
  if (production && hs256 && env.JWT_SECRET?.some((s) => s.length < MIN_PRODUCTION_JWT_SECRET && s !== DEV_SECRETS.JWT_SECRET)) {
    refuse('JWT_SECRET', `each secret must be at least ${MIN_PRODUCTION_JWT_SECRET} characters in production`);
  }
  return {
    ...env,
    JWT_SECRET: jwtSecrets,
    INSTAGRAM_APP_SECRET: secret('INSTAGRAM_APP_SECRET', env.INSTAGRAM_APP_SECRET, [DEV_SECRETS.INSTAGRAM_APP_SECRET], true),
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: secret(
      'INSTAGRAM_WEBHOOK_VERIFY_TOKEN',
      env.INSTAGRAM_WEBHOOK_VERIFY_TOKEN,
      DEV_SECRETS.INSTAGRAM_WEBHOOK_VERIFY_TOKEN,
      true,
    ),
    DEMO_PAGE: env.DEMO_PAGE ?? !production,
    LOG_LEVEL: env.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
    SHUTDOWN_DELAY_MS: env.SHUTDOWN_DELAY_MS ?? (production ? 2000 : 0),
    /** Names of the development secrets in use (empty in production), so that start-up warns about them. */
    devSecretsInUse,
  };
}

export const configSchema = envSchema.transform(resolve);

/** The typed configuration every module receives: the schema's output, frozen. */
export type Config = Readonly<z.output<typeof configSchema>>;
