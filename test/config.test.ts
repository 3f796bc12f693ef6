import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { DEV_SECRETS } from '../src/config/dev-defaults.js';

const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: 'prod-jwt-secret-0123456789',
  INSTAGRAM_APP_SECRET: 'prod-app-secret',
  INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'prod-verify-token',
};

const failure = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration', () => {
  it('with no environment at all, starts in development with SPEC defaults and the documented dev secrets', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      port: 3000,
      host: '0.0.0.0',
      clientOrigins: ['http://localhost:3000'],
      authTimeoutMs: 10_000,
      heartbeatTimeoutMs: 60_000,
      heartbeatSweepMs: 30_000,
      maxConnectionsPerUser: 10,
      webhookBodyLimitBytes: 1024 * 1024,
      socketEventRateLimit: 50,
      connectRateLimit: 600,
      maxClientBufferBytes: 1_048_576,
      demoPage: true,
      dedupeTtlMs: 86_400_000,
      dedupeMaxEntries: 200_000,
      recoveryWindowMs: 120_000,
      historySize: 100,
      historyMaxAccounts: 10_000,
      trustProxy: false,
      logLevel: 'info',
      shutdownTimeoutMs: 10_000,
    });
    expect(config.jwt.secret).toBe(DEV_SECRETS.JWT_SECRET);
    expect(config.instagram).toEqual({
      appSecret: DEV_SECRETS.INSTAGRAM_APP_SECRET,
      verifyToken: DEV_SECRETS.INSTAGRAM_WEBHOOK_VERIFY_TOKEN,
    });
    expect(config.devSecretsInUse).toEqual(['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN']);
    expect(config.redisUrl).toBeUndefined();
    expect(config.adminToken).toBeUndefined();
  });

  it('is frozen, so no module can change it at run time', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.jwt)).toBe(true);
    expect(Object.isFrozen(config.clientOrigins)).toBe(true);
  });

  it('parses every variable it is given', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      CLIENT_URL: 'https://app.example.com, http://localhost:5173/',
      WEBHOOK_BODY_LIMIT: '512kb',
      DEMO_PAGE: 'false',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      LOG_LEVEL: 'debug',
      REDIS_URL: 'redis://127.0.0.1:6379',
      ADMIN_TOKEN: 'admin',
      METRICS_TOKEN: 'metrics',
      JWT_ISSUER: 'instantchat',
      JWT_AUDIENCE: 'notifications',
      CONNECT_RATE_LIMIT: '0',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      clientOrigins: ['https://app.example.com', 'http://localhost:5173'],
      webhookBodyLimitBytes: 512 * 1024,
      demoPage: false,
      trustProxy: 'loopback, 10.0.0.0/8',
      logLevel: 'debug',
      redisUrl: 'redis://127.0.0.1:6379',
      adminToken: 'admin',
      metricsToken: 'metrics',
      jwt: { issuer: 'instantchat', audience: 'notifications' },
      connectRateLimit: 0,
    });
  });

  it('reads TRUST_PROXY as Express does: booleans, hop counts or address lists', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('treats an empty value as unset, as a .env file with `NAME=` means', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' })).toMatchObject({ port: 3000 });
    expect(loadConfig({ REDIS_URL: '' }).redisUrl).toBeUndefined();
  });

  it('in test mode keeps development defaults with quiet logs', () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    expect(config.logLevel).toBe('silent');
    expect(config.jwt.secret).toBe(DEV_SECRETS.JWT_SECRET);
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT: .*whole number.*\(got "abc"\)$/],
    [{ PORT: '70000' }, /^Invalid configuration: PORT: must be at most 65535/],
    [{ CLIENT_URL: 'not a url' }, /^Invalid configuration: CLIENT_URL: "not a url" is not a URL/],
    [{ CLIENT_URL: 'ftp://example.com' }, /^Invalid configuration: CLIENT_URL: .*http or https/],
    [{ NODE_ENV: 'staging' }, /^Invalid configuration: NODE_ENV: /],
    [{ AUTH_TIMEOUT_MS: '-5' }, /^Invalid configuration: AUTH_TIMEOUT_MS: /],
    [{ MAX_CONNECTIONS_PER_USER: '0' }, /^Invalid configuration: MAX_CONNECTIONS_PER_USER: must be at least 1/],
    [{ WEBHOOK_BODY_LIMIT: 'huge' }, /^Invalid configuration: WEBHOOK_BODY_LIMIT: "huge" is not a size/],
    [{ DEMO_PAGE: 'maybe' }, /^Invalid configuration: DEMO_PAGE: /],
    [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL: /],
    [{ REDIS_URL: 'localhost:6379' }, /^Invalid configuration: REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/],
    [{ TRUST_PROXY: 'not-an-ip' }, /^Invalid configuration: TRUST_PROXY: /],
    [{ JWT_PUBLIC_KEY: 'not a key' }, /^Invalid configuration: JWT_PUBLIC_KEY: expected a PEM public key/],
    [{ SHUTDOWN_TIMEOUT_MS: '1.5' }, /^Invalid configuration: SHUTDOWN_TIMEOUT_MS: /],
  ])('rejects a malformed value with one line naming the variable: %o', (env, message) => {
    const text = failure(env as Record<string, string>);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  it('accepts DEMO_PAGE written as true/false/1/0/yes/no', () => {
    expect(loadConfig({ DEMO_PAGE: '0' }).demoPage).toBe(false);
    expect(loadConfig({ DEMO_PAGE: 'yes' }).demoPage).toBe(true);
  });

  describe('in production', () => {
    it('starts with real secrets, the demo page off and no dev secret in use', () => {
      const config = loadConfig(PRODUCTION);
      expect(config.env).toBe('production');
      expect(config.demoPage).toBe(false);
      expect(config.devSecretsInUse).toEqual([]);
      expect(config.jwt.secret).toBe(PRODUCTION.JWT_SECRET);
    });

    it.each(['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN'] as const)(
      'refuses to start without %s',
      (name) => {
        const env: Record<string, string> = { ...PRODUCTION };
        delete env[name];
        expect(failure(env)).toBe(`Invalid configuration: ${name} is required when NODE_ENV=production`);
      },
    );

    it.each(['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN'] as const)(
      'refuses %s left at its development default',
      (name) => {
        expect(failure({ ...PRODUCTION, [name]: DEV_SECRETS[name] })).toMatch(
          new RegExp(`^Invalid configuration: ${name} still has its development default`),
        );
      },
    );

    it('never echoes a secret value in an error', () => {
      expect(failure({ ...PRODUCTION, JWT_SECRET: DEV_SECRETS.JWT_SECRET })).not.toContain(DEV_SECRETS.JWT_SECRET);
    });

    it('does not need JWT_SECRET when JWT_PUBLIC_KEY is set', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const env: Record<string, string> = { ...PRODUCTION, JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n') };
      delete env.JWT_SECRET;
      const config = loadConfig(env);
      expect(config.jwt.publicKey).toBe(pem);
    });
  });
});

describe('configuration bounds', () => {
  it.each(['AUTH_TIMEOUT_MS', 'HEARTBEAT_TIMEOUT_MS', 'HEARTBEAT_SWEEP_MS', 'SHUTDOWN_TIMEOUT_MS', 'RECOVERY_WINDOW_MS'])(
    'refuses %s beyond what a Node timer can wait (it would fire after 1 ms)',
    (name) => {
      expect(() => loadConfig({ [name]: '3000000000' })).toThrow(new RegExp(`^Invalid configuration: ${name}: must be at most 2147483647`));
      expect(loadConfig({ [name]: '2147483647' })).toBeDefined();
    },
  );

  it('refuses an EC public key on a curve other than P-256 (ES256), accepts P-256', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = (namedCurve: string) =>
      generateKeyPairSync('ec', { namedCurve }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => loadConfig({ JWT_PUBLIC_KEY: pem('secp384r1') })).toThrow(/JWT_PUBLIC_KEY: EC keys on secp384r1 are not supported/);
    expect(loadConfig({ JWT_PUBLIC_KEY: pem('prime256v1') }).jwt.publicKey).toContain('BEGIN PUBLIC KEY');
  });
});
