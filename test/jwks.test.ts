import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { everyPath, handshakeOutcome, onEveryPath, SUCCESS, websocketOutcome } from './helpers/auth-paths.js';
import { expectCliError, printedToken, runCli } from './helpers/cli-run.js';
import { JwksServer, providerKey, providerToken, type ProviderKey } from './helpers/jwks-server.js';
import { ACCOUNT_A, closeClients, openClient, publish } from './helpers/clients.js';
import { startServer, TEST_JWT_SECRET, type RunningServer } from './helpers/server.js';
import { counterValue } from './helpers/session-harness.js';
import { mintToken } from './helpers/tokens.js';

const USER = 'jwks-user';
const claims = (extra: Record<string, unknown> = {}) => ({ userId: USER, accountIds: [ACCOUNT_A], ...extra });
const INVALID = 'Invalid token';
const UNAVAILABLE = 'Authentication unavailable';

/** An HS256 token built by hand with `secret` and a `kid` header (no library refusal in the way). */
function hmacToken(payload: object, secret: string | Buffer, kid: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT', kid })}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function unsigned(payload: object, kid: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT', kid })}.${encode(payload)}.`;
}

const failures = (srv: RunningServer, reason: string) =>
  counterValue(srv.server.metrics, 'instantchat_auth_failures_total', { reason });

/** A JWKS endpoint and a server verifying with it; both stopped after the block. */
function providerAndServer() {
  const ctx = { jwks: new JwksServer(), srv: undefined as unknown as RunningServer };
  return {
    ctx,
    async start(...keys: ProviderKey[]) {
      ctx.jwks.publish(...keys);
      await ctx.jwks.start();
      // JWT_SECRET stays set (testConfig sets it): with a JWKS it must not be used.
      ctx.srv = await startServer({ JWT_JWKS_URL: ctx.jwks.url });
    },
    async stop() {
      closeClients();
      await ctx.srv?.stop();
      await ctx.jwks.stop();
    },
  };
}

describe('JWT_JWKS_URL: tokens verified with the identity provider keys', () => {
  const rsa = providerKey('rsa-2024', 'RS256');
  const ec = providerKey('ec-2024', 'ES256');
  const stranger = providerKey('rsa-2024', 'RS256'); // same kid, another key pair
  const setup = providerAndServer();
  const { ctx } = setup;

  beforeAll(() => setup.start(rsa, ec));
  afterEach(() => closeClients());
  afterAll(() => setup.stop());

  it('when a token is signed by a key the JWKS lists under its kid, RSA or EC, then every path authenticates and it receives notifications; the set was fetched once', async () => {
    expect(ctx.jwks.requests).toBe(0);
    expect(await everyPath(ctx.srv.url, providerToken(rsa, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    expect(await everyPath(ctx.srv.url, providerToken(ec, claims()), USER)).toEqual(onEveryPath(SUCCESS));

    const live = openClient(ctx.srv.url, { token: providerToken(ec, claims()) });
    await live.inbox.waitFor('auth_success', { failOn: ['connect_error'] });
    await live.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');
    const event = await publish(ctx.srv.url, { accountId: ACCOUNT_A });
    await live.waitForDelivery(event.id);

    // Seven authentications, two keys: the set was fetched once and served from the cache since.
    expect(ctx.jwks.requests).toBe(1);
  });

  const refused: Array<[string, () => string]> = [
    ['signed by another key under a listed kid', () => providerToken(stranger, claims())],
    ["signed by a listed key under the other key's kid", () => providerToken(ec, claims(), { kid: rsa.kid })],
    ['a kid the set does not list', () => providerToken(rsa, claims(), { kid: 'rsa-1999' })],
    ['HS256 with the server JWT_SECRET (unused with a JWKS)', () => mintToken(claims(), { secret: TEST_JWT_SECRET, expiresIn: 3600 })],
    ['alg none with a listed kid', () => unsigned(claims(), rsa.kid)],
    ['RS512 with the listed RSA key', () => jwt.sign(claims(), rsa.privateKey, { algorithm: 'RS512', keyid: rsa.kid, expiresIn: 3600 })],
    ['PS256 with the listed RSA key', () => jwt.sign(claims(), rsa.privateKey, { algorithm: 'PS256', keyid: rsa.kid, expiresIn: 3600 })],
    ['signed with a listed key but tampered with', () => tamper(providerToken(rsa, claims()))],
  ];

  it.each(refused)('when a token is %s, then "Invalid token" on every path', async (_name, token) => {
    expect(await everyPath(ctx.srv.url, token(), USER)).toEqual(onEveryPath(INVALID));
    // Positive control on the same server, right after.
    expect(await handshakeOutcome(ctx.srv.url, providerToken(rsa, claims()))).toBe(SUCCESS);
  });

  it('when a token signed by a listed key has expired, then "Token expired" on every path', async () => {
    const expired = providerToken(rsa, claims({ exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(await everyPath(ctx.srv.url, expired, USER)).toEqual(onEveryPath('Token expired'));
  });
});

/** The token with one character of its payload changed. */
function tamper(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claimsSet = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const forged = Buffer.from(JSON.stringify({ ...claimsSet, accountIds: ['*'] })).toString('base64url');
  return `${header}.${forged}.${signature}`;
}

describe('JWT_JWKS_URL: a set that lists an HMAC (oct) key', () => {
  const rsa = providerKey('rsa-main', 'RS256');
  const secret = Buffer.from('a-shared-secret-the-provider-should-never-publish');
  const setup = providerAndServer();
  const { ctx } = setup;

  beforeAll(async () => {
    await setup.start();
    ctx.jwks.publishRaw([{ kty: 'oct', k: secret.toString('base64url'), kid: 'hmac', alg: 'HS256' }, rsa.jwk]);
  });
  afterAll(() => setup.stop());

  it('when a token is HS256 under that kid, or alg none, then "Invalid token" before the set is even fetched; RS256 still works', async () => {
    expect(await everyPath(ctx.srv.url, hmacToken(claims({ exp: Math.floor(Date.now() / 1000) + 60 }), secret, 'hmac'), USER)).toEqual(
      onEveryPath(INVALID),
    );
    expect(await everyPath(ctx.srv.url, unsigned(claims(), 'hmac'), USER)).toEqual(onEveryPath(INVALID));
    expect(ctx.jwks.requests).toBe(0);

    expect(await everyPath(ctx.srv.url, providerToken(rsa, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    expect(ctx.jwks.requests).toBe(1);
  });
});

describe('JWT_JWKS_URL: the provider rotates its keys', () => {
  const first = providerKey('key-1', 'RS256');
  const second = providerKey('key-2', 'ES256');
  const setup = providerAndServer();
  const { ctx } = setup;

  beforeAll(() => setup.start(first));
  afterEach(() => closeClients());
  afterAll(() => setup.stop());

  it('when a new kid appears and the old one is removed, then tokens of the new key work at once and those of the old key are refused, on every path', async () => {
    expect(await everyPath(ctx.srv.url, providerToken(first, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    expect(ctx.jwks.requests).toBe(1);

    ctx.jwks.publish(second);
    // Negative control: the server has not seen the new key yet, the token's kid is what makes it look again.
    expect(await handshakeOutcome(ctx.srv.url, providerToken(second, claims()))).toBe(SUCCESS);
    expect(ctx.jwks.requests).toBe(2);
    expect(await everyPath(ctx.srv.url, providerToken(second, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    expect(ctx.jwks.requests).toBe(2);

    // The set in hand no longer lists key-1: its tokens are refused (each unknown kid looks once more, within budget).
    expect(await everyPath(ctx.srv.url, providerToken(first, claims()), USER)).toEqual(onEveryPath(INVALID));
    expect(ctx.jwks.requests).toBeGreaterThan(2);
  });
});

describe('JWT_JWKS_URL: the endpoint cannot be reached', () => {
  const cached = providerKey('cached', 'RS256');
  const next = providerKey('next', 'ES256');
  const setup = providerAndServer();
  const { ctx } = setup;

  beforeAll(() => setup.start(cached));
  afterEach(() => closeClients());
  afterAll(() => setup.stop());

  it('when it is down, then a cached key still verifies, an unknown kid is "Authentication unavailable" (counted) on every path; once back, the new key works', async () => {
    expect(await everyPath(ctx.srv.url, providerToken(cached, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    await ctx.jwks.stop();
    ctx.jwks.publish(cached, next);

    expect(await everyPath(ctx.srv.url, providerToken(cached, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    const [unavailableBefore, invalidBefore] = [await failures(ctx.srv, 'unavailable'), await failures(ctx.srv, 'invalid_token')];
    expect(await everyPath(ctx.srv.url, providerToken(next, claims()), USER)).toEqual(onEveryPath(UNAVAILABLE));
    expect(await failures(ctx.srv, 'unavailable')).toBe(unavailableBefore + 3);
    expect(await failures(ctx.srv, 'invalid_token')).toBe(invalidBefore);

    await ctx.jwks.start();
    expect(await everyPath(ctx.srv.url, providerToken(next, claims()), USER)).toEqual(onEveryPath(SUCCESS));
  });
});

describe('JWT_JWKS_URL: the endpoint is down when the server starts', () => {
  const key = providerKey('boot', 'RS256');
  const setup = providerAndServer();
  const { ctx } = setup;

  beforeAll(async () => {
    await setup.start(key);
    await ctx.jwks.stop();
  });
  afterEach(() => closeClients());
  afterAll(() => setup.stop());

  it('when no key was ever fetched, then every path is "Authentication unavailable" until the endpoint answers', async () => {
    expect(await everyPath(ctx.srv.url, providerToken(key, claims()), USER)).toEqual(onEveryPath(UNAVAILABLE));
    await ctx.jwks.start();
    expect(await everyPath(ctx.srv.url, providerToken(key, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    expect(ctx.jwks.requests).toBe(1);
  });
});

describe('JWT_JWKS_URL: tokens with made-up kids', () => {
  const key = providerKey('real', 'ES256');
  const setup = providerAndServer();
  const { ctx } = setup;

  beforeAll(() => setup.start(key));
  afterEach(() => closeClients());
  afterAll(() => setup.stop());

  it('when 30 tokens name unknown kids within a minute, then each is "Invalid token" and the set is fetched at most 10 times; a listed kid still works without a fetch', async () => {
    expect(await handshakeOutcome(ctx.srv.url, providerToken(key, claims()))).toBe(SUCCESS);
    expect(ctx.jwks.requests).toBe(1);

    const outcomes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const token = providerToken(key, claims(), { kid: `made-up-${i}` });
      // Both transports take their turn.
      outcomes.push(i % 2 === 0 ? await handshakeOutcome(ctx.srv.url, token) : await websocketOutcome(ctx.srv.url, token, USER));
    }
    expect(new Set(outcomes)).toEqual(new Set([INVALID]));
    expect(ctx.jwks.requests).toBe(10);

    expect(await everyPath(ctx.srv.url, providerToken(key, claims()), USER)).toEqual(onEveryPath(SUCCESS));
    expect(ctx.jwks.requests).toBe(10);
  });
});

describe('the token CLI with JWT_JWKS_URL', () => {
  const key = providerKey('cli-key', 'ES256');
  const other = providerKey('other-key', 'RS256');
  const setup = providerAndServer();
  const { ctx } = setup;
  let dir: string;
  let keyFile: string;

  beforeAll(async () => {
    await setup.start(key, other);
    dir = mkdtempSync(join(tmpdir(), 'instantchat-jwks-cli-'));
    keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  });
  afterAll(async () => {
    await setup.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when given the private key and its kid, then it signs a token the server accepts; a wrong kid or a missing one is refused', async () => {
    const env = { JWT_JWKS_URL: ctx.jwks.url };
    const args = ['--user', USER, '--accounts', ACCOUNT_A, '--private-key', keyFile];
    const [good, wrongKid, unknownKid, noKid] = await Promise.all([
      runCli('token', [...args, '--kid', key.kid], env),
      runCli('token', [...args, '--kid', other.kid], env),
      runCli('token', [...args, '--kid', 'nope'], env),
      runCli('token', args, env),
    ]);

    const token = printedToken(good);
    expect(jwt.decode(token, { complete: true })?.header).toMatchObject({ alg: 'ES256', kid: key.kid });
    expect(await everyPath(ctx.srv.url, token, USER)).toEqual(onEveryPath(SUCCESS));
    expectCliError(wrongKid, 1, /not the key the JWKS lists under kid "other-key"/);
    expectCliError(unknownKid, 1, /kid "nope" is not in the JWKS .* \(its kids: cli-key, other-key\)/);
    expectCliError(noKid, 2, /--kid/);
  });
});
