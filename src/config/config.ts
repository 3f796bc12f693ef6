import { createPublicKey } from 'node:crypto';
import { DEV_SECRETS, type DevSecretName } from './dev-defaults.js';
import { envSchema, type LOG_LEVELS } from './schema.js';

export type LogLevel = (typeof LOG_LEVELS)[number];

/** The typed, frozen configuration every module receives. Read once at start-up; nothing else reads process.env. */
export interface Config {
  readonly env: 'development' | 'test' | 'production';
  readonly port: number;
  readonly host: string;
  readonly jwt: {
    readonly secret: string;
    /** PEM public key; when set, tokens are RS256/ES256 and `secret` is unused. */
    readonly publicKey?: string;
    readonly issuer?: string;
    readonly audience?: string;
  };
  readonly instagram: { readonly appSecret: string; readonly verifyToken: string };
  /** Allowed browser origins (normalized to `scheme://host[:port]`). */
  readonly clientOrigins: readonly string[];
  readonly authTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly heartbeatSweepMs: number;
  readonly maxConnectionsPerUser: number;
  readonly webhookBodyLimitBytes: number;
  readonly socketEventRateLimit: number;
  readonly connectRateLimit: number;
  readonly maxClientBufferBytes: number;
  readonly demoPage: boolean;
  readonly dedupeTtlMs: number;
  readonly dedupeMaxEntries: number;
  readonly recoveryWindowMs: number;
  readonly historySize: number;
  readonly historyMaxAccounts: number;
  readonly redisUrl?: string;
  readonly adminToken?: string;
  readonly metricsToken?: string;
  readonly trustProxy: boolean | number | string;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  /** Names of the development secrets in use (empty in production), so start-up can warn about them. */
  readonly devSecretsInUse: readonly DevSecretName[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Turns an environment (process.env after dotenv) into a Config, or throws a ConfigError with one clear line. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  // An empty value in a .env file (`REDIS_URL=`) means "unset", as with most twelve-factor tools.
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    // Never echo a secret's value, even a malformed one.
    const secretLike = /SECRET|TOKEN|KEY/.test(name);
    const given = env[name] === undefined || secretLike ? '' : ` (got ${JSON.stringify(truncate(env[name]))})`;
    throw new ConfigError(`Invalid configuration: ${name}: ${issue?.message ?? 'invalid value'}${given}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const publicKey = e.JWT_PUBLIC_KEY?.replace(/\\n/g, '\n');

  const devSecretsInUse: DevSecretName[] = [];
  const secret = (name: DevSecretName, required = true): string => {
    const value = e[name];
    if (production) {
      if (value === undefined && required) {
        throw new ConfigError(`Invalid configuration: ${name} is required when NODE_ENV=production`);
      }
      if (value === DEV_SECRETS[name]) {
        throw new ConfigError(
          `Invalid configuration: ${name} still has its development default; set a real secret for production`,
        );
      }
      return value ?? '';
    }
    if (value === undefined) {
      if (required) devSecretsInUse.push(name);
      return DEV_SECRETS[name];
    }
    return value;
  };

  if (publicKey !== undefined) checkPublicKey(publicKey);

  const config: Config = {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    jwt: {
      secret: secret('JWT_SECRET', publicKey === undefined),
      ...(publicKey !== undefined && { publicKey }),
      ...(e.JWT_ISSUER !== undefined && { issuer: e.JWT_ISSUER }),
      ...(e.JWT_AUDIENCE !== undefined && { audience: e.JWT_AUDIENCE }),
    },
    instagram: {
      appSecret: secret('INSTAGRAM_APP_SECRET'),
      verifyToken: secret('INSTAGRAM_WEBHOOK_VERIFY_TOKEN'),
    },
    clientOrigins: Object.freeze([...e.CLIENT_URL]),
    authTimeoutMs: e.AUTH_TIMEOUT_MS,
    heartbeatTimeoutMs: e.HEARTBEAT_TIMEOUT_MS,
    heartbeatSweepMs: e.HEARTBEAT_SWEEP_MS,
    maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
    webhookBodyLimitBytes: e.WEBHOOK_BODY_LIMIT,
    socketEventRateLimit: e.SOCKET_EVENT_RATE_LIMIT,
    connectRateLimit: e.CONNECT_RATE_LIMIT,
    maxClientBufferBytes: e.MAX_CLIENT_BUFFER_BYTES,
    demoPage: e.DEMO_PAGE ?? !production,
    dedupeTtlMs: e.DEDUPE_TTL_MS,
    dedupeMaxEntries: e.DEDUPE_MAX_ENTRIES,
    recoveryWindowMs: e.RECOVERY_WINDOW_MS,
    historySize: e.HISTORY_SIZE,
    historyMaxAccounts: e.HISTORY_MAX_ACCOUNTS,
    ...(e.REDIS_URL !== undefined && { redisUrl: e.REDIS_URL }),
    ...(e.ADMIN_TOKEN !== undefined && { adminToken: e.ADMIN_TOKEN }),
    ...(e.METRICS_TOKEN !== undefined && { metricsToken: e.METRICS_TOKEN }),
    trustProxy: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    devSecretsInUse: Object.freeze(devSecretsInUse),
  };
  return deepFreeze(config);
}

function checkPublicKey(pem: string): void {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError('Invalid configuration: JWT_PUBLIC_KEY: expected a PEM public key (-----BEGIN PUBLIC KEY-----)');
  }
  const type = key.asymmetricKeyType;
  // ES256 is P-256 only: a key on another curve would start and then refuse every token.
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type !== 'rsa' && !(type === 'ec' && curve === 'prime256v1')) {
    const what = type === 'ec' ? `EC keys on ${String(curve)}` : `${String(type)} keys`;
    throw new ConfigError(`Invalid configuration: JWT_PUBLIC_KEY: ${what} are not supported (RSA for RS256, EC P-256 for ES256)`);
  }
}

function truncate(value: string | undefined): string | undefined {
  return value !== undefined && value.length > 60 ? `${value.slice(0, 57)}...` : value;
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object' && !Object.isFrozen(inner)) deepFreeze(inner as object);
  }
  return Object.freeze(value);
}
