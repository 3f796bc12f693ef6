import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_A, closeClients, openClient, publish, unauthenticatedClient } from './helpers/clients.js';
import { startServer, TEST_JWT_SECRET, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { WsTestClient } from './helpers/ws-client.js';

const HOUR = 3600;
const SUCCESS = 'auth_success';
const AUTH_OK = 'Authentication successful';
const USER = 'key-user';
const claims = () => ({ userId: USER, accountIds: [ACCOUNT_A], exp: Math.floor(Date.now() / 1000) + HOUR });

interface KeyPair {
  readonly privateKey: KeyObject;
  /** SPKI PEM, as an operator pastes it. */
  readonly publicPem: string;
}

function rsaKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

function ecKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A one-line env value: SPEC accepts the PEM with its newlines written as `\n`. */
const escapedPem = (pem: string): string => pem.replace(/\n/g, '\\n');

/**
 * An HS256 token whose HMAC key is `secret`, built by hand (no library refusal in the way): the algorithm-confusion
 * attack signs with the server's public key text as an HMAC secret.
 */
function hmacToken(payload: object, secret: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** The handshake path: resolves with 'auth_success' or the connect_error message. */
async function handshake(url: string, token: string): Promise<string> {
  const client = openClient(url, { token });
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('neither auth_success nor connect_error within 5 s')), 5000);
      const done = (outcome: string) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      client.socket.once('auth_success', () => done(SUCCESS));
      client.socket.once('connect_error', (err) => done(err.message));
    });
  } finally {
    client.close();
  }
}

/** The `authenticate` path: resolves with 'auth_success' or the auth_failed reason. */
async function authenticateEvent(url: string, token: string, userId = USER): Promise<string> {
  const client = await unauthenticatedClient(url);
  const answer = (await client.request('authenticate', { token, userId, timestamp: Date.now() }, 5000)) as {
    message?: string;
    reason?: string;
  };
  client.close();
  return answer.reason ?? answer.message ?? JSON.stringify(answer);
}

describe.each([
  { alg: 'RS256', keys: rsaKeyPair, other: ecKeyPair, otherAlg: 'ES256' },
  { alg: 'ES256', keys: ecKeyPair, other: rsaKeyPair, otherAlg: 'RS256' },
] as const)('JWT_PUBLIC_KEY with an $alg key', ({ alg, keys, other, otherAlg }) => {
  const pair = keys();
  const foreign = keys();
  const otherKind = other();
  let srv: RunningServer;

  beforeAll(async () => {
    // JWT_SECRET stays set (testConfig sets it): with a public key it must not be used.
    srv = await startServer({ JWT_PUBLIC_KEY: escapedPem(pair.publicPem) });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  const signed = (key: KeyObject, algorithm: jwt.Algorithm = alg) => jwt.sign(claims(), key, { algorithm });

  it(`when a token is signed ${alg} with the matching private key, then both paths authenticate and it receives`, async () => {
    expect(await handshake(srv.url, signed(pair.privateKey))).toBe(SUCCESS);
    expect(await authenticateEvent(srv.url, signed(pair.privateKey))).toBe(AUTH_OK);

    const live = openClient(srv.url, { token: signed(pair.privateKey) });
    await live.inbox.waitFor('auth_success', { failOn: ['connect_error'] });
    await live.ask('subscribe', { eventTypes: ['comments'] }, 'subscription_confirmed');
    const event = await publish(srv.url, { accountId: ACCOUNT_A });
    await live.waitForDelivery(event.id);
  });

  it(`when a raw WebSocket client authenticates with an ${alg} token, then auth_success; a foreign key: auth_failed`, async () => {
    const good = new WsTestClient(srv.url);
    const bad = new WsTestClient(srv.url);
    try {
      await Promise.all([good.opened(), bad.opened()]);
      good.send({ type: 'authenticate', token: signed(pair.privateKey), userId: USER });
      bad.send({ type: 'authenticate', token: signed(foreign.privateKey), userId: USER });

      expect(await good.next('auth_success', 5000)).toMatchObject({ userId: USER, accountIds: [ACCOUNT_A] });
      expect(await bad.next('auth_failed', 5000)).toMatchObject({ reason: 'Invalid token' });
      expect((await bad.closedWithin()).code).toBe(1008);
    } finally {
      good.close();
      bad.close();
    }
  });

  const refused: [string, () => string][] = [
    ['signed with another key pair of the same kind', () => signed(foreign.privateKey)],
    [`signed ${otherAlg} (another key kind)`, () => signed(otherKind.privateKey, otherAlg)],
    ['HS256 with JWT_SECRET (a public key is configured)', () => mintToken(claims(), { secret: TEST_JWT_SECRET })],
    ['HS256 with the PEM text as the secret (algorithm confusion)', () => hmacToken(claims(), pair.publicPem)],
    ['HS256 with the escaped PEM text as the secret', () => hmacToken(claims(), escapedPem(pair.publicPem))],
    ['HS256 with the PEM body (base64 only) as the secret', () => hmacToken(claims(), pemBody(pair.publicPem))],
    ['alg none', () => unsigned(claims())],
    // Only the key's own algorithm: another RSA algorithm with the right key is refused too (an EC P-256 key signs
    // ES256 only, so there is no such case for it).
    ...(alg === 'RS256'
      ? ([
          ['signed RS512 with the right key', () => signed(pair.privateKey, 'RS512')],
          ['signed PS256 with the right key', () => signed(pair.privateKey, 'PS256')],
        ] satisfies [string, () => string][])
      : []),
  ];

  it.each(refused)('when a token is %s, then "Invalid token" on both paths', async (_name, token) => {
    expect(await handshake(srv.url, token())).toBe('Invalid token');
    expect(await authenticateEvent(srv.url, token())).toBe('Invalid token');
    // Positive control on the same server, right after.
    expect(await handshake(srv.url, signed(pair.privateKey))).toBe(SUCCESS);
  });

  it('when an expired token is signed with the right key, then "Token expired"', async () => {
    const expired = jwt.sign({ ...claims(), exp: Math.floor(Date.now() / 1000) - 60 }, pair.privateKey, { algorithm: alg });
    expect(await handshake(srv.url, expired)).toBe('Token expired');
    expect(await authenticateEvent(srv.url, expired)).toBe('Token expired');
  });
});

const pemBody = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

function unsigned(payload: object): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}

describe('JWT_ISSUER and JWT_AUDIENCE', () => {
  const ISSUER = 'https://auth.instantchat.example';
  const AUDIENCE = 'instantchat-notifications';
  let srv: RunningServer;

  beforeAll(async () => {
    srv = await startServer({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  const token = (extra: Record<string, unknown>) => mintToken({ userId: USER, accountIds: [ACCOUNT_A], ...extra }, { expiresIn: HOUR });

  it.each([
    ['iss and aud match', { iss: ISSUER, aud: AUDIENCE }],
    ['aud is a list that holds the audience', { iss: ISSUER, aud: ['another-service', AUDIENCE] }],
  ])('when %s, then both paths authenticate', async (_name, extra) => {
    expect(await handshake(srv.url, token(extra))).toBe(SUCCESS);
    expect(await authenticateEvent(srv.url, token(extra))).toBe(AUTH_OK);
  });

  it.each([
    ['iss is another issuer', { iss: 'https://evil.example', aud: AUDIENCE }],
    ['iss is missing', { aud: AUDIENCE }],
    ['aud is another audience', { iss: ISSUER, aud: 'another-service' }],
    ['aud is missing', { iss: ISSUER }],
    ['both are missing', {}],
    ['iss differs only in case', { iss: ISSUER.toUpperCase(), aud: AUDIENCE }],
  ])('when %s, then "Invalid token" on both paths', async (_name, extra) => {
    expect(await handshake(srv.url, token(extra))).toBe('Invalid token');
    expect(await authenticateEvent(srv.url, token(extra))).toBe('Invalid token');
    // Positive control on the same server, right after.
    expect(await handshake(srv.url, token({ iss: ISSUER, aud: AUDIENCE }))).toBe(SUCCESS);
  });
});
