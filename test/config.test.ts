import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { DEV_SECRETS } from '../src/config/dev-defaults.js';

const STRONG = 'prod-jwt-secret-0123456789abcdef0123';
const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: STRONG,
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

const pem = (type: 'rsa' | 'ec', namedCurve = 'prime256v1'): string =>
  (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve })).publicKey
    .export({ type: 'spki', format: 'pem' })
    .toString();

describe('configuration', () => {
  it('with no environment at all, starts in development with SPEC defaults and the documented dev secrets', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      HOST: '0.0.0.0',
      CLIENT_URL: ['http://localhost:3000'],
      AUTH_TIMEOUT_MS: 10_000,
      HEARTBEAT_TIMEOUT_MS: 60_000,
      HEARTBEAT_SWEEP_MS: 30_000,
      MAX_CONNECTIONS_PER_USER: 10,
      WEBHOOK_BODY_LIMIT: 1024 * 1024,
      SOCKET_EVENT_RATE_LIMIT: 50,
      CONNECT_RATE_LIMIT: 600,
      MAX_CLIENT_BUFFER_BYTES: 1_048_576,
      DEMO_PAGE: true,
      DEDUPE_TTL_MS: 86_400_000,
      DEDUPE_MAX_ENTRIES: 200_000,
      RECOVERY_WINDOW_MS: 120_000,
      HISTORY_SIZE: 100,
      HISTORY_MAX_ACCOUNTS: 10_000,
      TRUST_PROXY: false,
      LOG_LEVEL: 'info',
      SHUTDOWN_DELAY_MS: 0,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      REVOCATION_TTL_MS: 86_400_000,
    });
    expect(config.JWT_SECRET).toEqual([DEV_SECRETS.JWT_SECRET]);
    expect(config.INSTAGRAM_APP_SECRET).toEqual([DEV_SECRETS.INSTAGRAM_APP_SECRET]);
    expect(config.INSTAGRAM_WEBHOOK_VERIFY_TOKEN).toBe(DEV_SECRETS.INSTAGRAM_WEBHOOK_VERIFY_TOKEN);
    expect(config.devSecretsInUse).toEqual(['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN']);
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.ADMIN_TOKEN).toBeUndefined();
  });

  it('is frozen, so no module can change it at run time', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.JWT_SECRET)).toBe(true);
    expect(Object.isFrozen(config.CLIENT_URL)).toBe(true);
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
      SHUTDOWN_DELAY_MS: '500',
      REVOCATION_TTL_MS: '60000',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      HOST: '127.0.0.1',
      CLIENT_URL: ['https://app.example.com', 'http://localhost:5173'],
      WEBHOOK_BODY_LIMIT: 512 * 1024,
      DEMO_PAGE: false,
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      LOG_LEVEL: 'debug',
      REDIS_URL: 'redis://127.0.0.1:6379',
      ADMIN_TOKEN: 'admin',
      METRICS_TOKEN: 'metrics',
      JWT_ISSUER: 'instantchat',
      JWT_AUDIENCE: 'notifications',
      CONNECT_RATE_LIMIT: 0,
      SHUTDOWN_DELAY_MS: 500,
      REVOCATION_TTL_MS: 60_000,
    });
  });

  it('reads TRUST_PROXY as Express does: booleans, hop counts or address lists', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
  });

  it('treats an empty value as unset, as a .env file with `NAME=` means', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' })).toMatchObject({ PORT: 3000 });
    expect(loadConfig({ REDIS_URL: '' }).REDIS_URL).toBeUndefined();
  });

  it('in test mode keeps development defaults with quiet logs', () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    expect(config.LOG_LEVEL).toBe('silent');
    expect(config.JWT_SECRET).toEqual([DEV_SECRETS.JWT_SECRET]);
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
    [{ JWT_JWKS_URL: 'http://idp.example.com/jwks' }, /^Invalid configuration: JWT_JWKS_URL: must be an https URL/],
    [{ JWT_JWKS_URL: 'nonsense' }, /^Invalid configuration: JWT_JWKS_URL: "nonsense" is not a URL/],
    [{ SHUTDOWN_TIMEOUT_MS: '1.5' }, /^Invalid configuration: SHUTDOWN_TIMEOUT_MS: /],
    [{ SHUTDOWN_DELAY_MS: 'soon' }, /^Invalid configuration: SHUTDOWN_DELAY_MS: /],
    [{ REVOCATION_TTL_MS: '0' }, /^Invalid configuration: REVOCATION_TTL_MS: must be at least 1/],
    [{ JWT_SECRET: ' , ' }, /^Invalid configuration: JWT_SECRET: expected at least one value/],
  ])('rejects a malformed value with one line naming the variable: %o', (env, message) => {
    const text = failure(env as Record<string, string>);
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  it('names every malformed variable of one start in its one line', () => {
    const text = failure({ PORT: 'abc', LOG_LEVEL: 'loud', REDIS_URL: 'nope' });
    expect(text).toMatch(/^Invalid configuration: PORT: /);
    expect(text).toMatch(/; LOG_LEVEL: /);
    expect(text).toMatch(/; REDIS_URL: /);
    expect(text).not.toContain('\n');
  });

  it('accepts DEMO_PAGE written as true/false/1/0/yes/no', () => {
    expect(loadConfig({ DEMO_PAGE: '0' }).DEMO_PAGE).toBe(false);
    expect(loadConfig({ DEMO_PAGE: 'yes' }).DEMO_PAGE).toBe(true);
  });

  describe('keys and secrets', () => {
    it('reads JWT_SECRET and INSTAGRAM_APP_SECRET as comma-separated lists (rotation: the first one signs)', () => {
      const config = loadConfig({ JWT_SECRET: 'new-secret, old-secret', INSTAGRAM_APP_SECRET: 'login-app,fb-app' });
      expect(config.JWT_SECRET).toEqual(['new-secret', 'old-secret']);
      expect(config.INSTAGRAM_APP_SECRET).toEqual(['login-app', 'fb-app']);
    });

    it('reads several PEM keys one after the other in JWT_PUBLIC_KEY, with \\n escapes', () => {
      const [rsa, ec] = [pem('rsa'), pem('ec')];
      const config = loadConfig({ JWT_PUBLIC_KEY: `${rsa}${ec}`.replace(/\n/g, '\\n') });
      expect(config.JWT_PUBLIC_KEY).toEqual([rsa.trim(), ec.trim()]);
    });

    it('refuses an EC public key on a curve other than P-256 (ES256), accepts P-256', () => {
      expect(() => loadConfig({ JWT_PUBLIC_KEY: pem('ec', 'secp384r1') })).toThrow(
        /JWT_PUBLIC_KEY: EC keys on secp384r1 are not supported/,
      );
      expect(loadConfig({ JWT_PUBLIC_KEY: pem('ec') }).JWT_PUBLIC_KEY?.[0]).toContain('BEGIN PUBLIC KEY');
    });

    it('refuses JWT_JWKS_URL together with JWT_PUBLIC_KEY, accepts an https or local http JWKS URL', () => {
      expect(failure({ JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', JWT_PUBLIC_KEY: pem('ec') })).toMatch(
        /JWT_JWKS_URL: set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both/,
      );
      expect(loadConfig({ JWT_JWKS_URL: 'https://idp.example.com/jwks' }).JWT_JWKS_URL).toBe('https://idp.example.com/jwks');
      expect(loadConfig({ JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks' }).JWT_JWKS_URL).toBe('http://127.0.0.1:8080/jwks');
    });
  });

  describe('in production', () => {
    it('starts with real secrets, the demo page off, a shutdown delay and no dev secret in use', () => {
      const config = loadConfig(PRODUCTION);
      expect(config.NODE_ENV).toBe('production');
      expect(config.DEMO_PAGE).toBe(false);
      expect(config.SHUTDOWN_DELAY_MS).toBe(2000);
      expect(config.devSecretsInUse).toEqual([]);
      expect(config.JWT_SECRET).toEqual([STRONG]);
    });

    it.each(['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN'] as const)(
      'refuses to start without %s',
      (name) => {
        const env: Record<string, string> = { ...PRODUCTION };
        delete env[name];
        expect(failure(env)).toBe(`Invalid configuration: ${name}: required when NODE_ENV=production`);
      },
    );

    it('lists every missing or weak variable in one start', () => {
      const text = failure({ NODE_ENV: 'production', JWT_SECRET: 'short' });
      for (const name of ['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN']) expect(text).toContain(`${name}: `);
      expect(text).toMatch(/JWT_SECRET: each secret must be at least 32 characters/);
      expect(text).not.toContain('short');
    });

    it.each(['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN'] as const)(
      'refuses %s left at its development default, even beside a real one',
      (name) => {
        const value = name === 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN' ? DEV_SECRETS[name] : `${PRODUCTION[name]},${DEV_SECRETS[name]}`;
        expect(failure({ ...PRODUCTION, [name]: value })).toMatch(new RegExp(`^Invalid configuration: ${name}: still the development default`));
      },
    );

    it('refuses an HS256 secret shorter than 32 characters, among rotated ones too', () => {
      expect(failure({ ...PRODUCTION, JWT_SECRET: 'short' })).toMatch(/^Invalid configuration: JWT_SECRET: each secret must be at least 32/);
      expect(failure({ ...PRODUCTION, JWT_SECRET: `${STRONG},short` })).toMatch(/JWT_SECRET: each secret must be at least 32/);
      expect(loadConfig({ ...PRODUCTION, JWT_SECRET: `${STRONG},${STRONG}x` }).JWT_SECRET).toHaveLength(2);
    });

    it('never echoes a secret value in an error', () => {
      expect(failure({ ...PRODUCTION, JWT_SECRET: DEV_SECRETS.JWT_SECRET })).not.toContain(DEV_SECRETS.JWT_SECRET);
      expect(failure({ ...PRODUCTION, JWT_SECRET: 'tiny-secret-value' })).not.toContain('tiny-secret-value');
    });

    it('does not need JWT_SECRET when JWT_PUBLIC_KEY or JWT_JWKS_URL is set', () => {
      const key = pem('ec');
      const env: Record<string, string> = { ...PRODUCTION, JWT_PUBLIC_KEY: key.replace(/\n/g, '\\n') };
      delete env.JWT_SECRET;
      expect(loadConfig(env).JWT_PUBLIC_KEY).toEqual([key.trim()]);
      delete env.JWT_PUBLIC_KEY;
      expect(loadConfig({ ...env, JWT_JWKS_URL: 'https://idp.example.com/jwks' }).JWT_JWKS_URL).toBeDefined();
    });
  });
});

describe('configuration bounds', () => {
  it.each([
    'AUTH_TIMEOUT_MS',
    'HEARTBEAT_TIMEOUT_MS',
    'HEARTBEAT_SWEEP_MS',
    'SHUTDOWN_TIMEOUT_MS',
    'SHUTDOWN_DELAY_MS',
    'RECOVERY_WINDOW_MS',
  ])('refuses %s beyond what a Node timer can wait (it would fire after 1 ms)', (name) => {
    expect(() => loadConfig({ [name]: '3000000000' })).toThrow(new RegExp(`^Invalid configuration: ${name}: must be at most 2147483647`));
    expect(loadConfig({ [name]: '2147483647' })).toBeDefined();
  });
});
