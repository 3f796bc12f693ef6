import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { everyPath, onEveryPath, SUCCESS } from './helpers/auth-paths.js';
import { printedToken, runCli } from './helpers/cli-run.js';
import { ACCOUNT_A, closeClients } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { countDelta, watcher, webhookCounts, type Deliveries } from './helpers/webhook-deliveries.js';
import { flatEvent, postSigned } from './helpers/webhooks.js';

const USER = 'rotation-user';
const claims = () => ({ userId: USER, accountIds: [ACCOUNT_A] });
const INVALID = 'Invalid token';

describe('JWT_SECRET with several secrets (rotation)', () => {
  const CURRENT = 'current-secret-0123456789abcdefghijkl';
  const PREVIOUS = 'previous-secret-0123456789abcdefghijk';
  let srv: RunningServer;

  beforeAll(async () => {
    srv = await startServer({ JWT_SECRET: `${CURRENT}, ${PREVIOUS}` });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  it('when a token is signed with the second secret (the one being rotated out), then every path accepts it, as with the first', async () => {
    expect(await everyPath(srv.url, mintToken(claims(), { secret: PREVIOUS, expiresIn: 3600 }), USER)).toEqual(onEveryPath(SUCCESS));
    expect(await everyPath(srv.url, mintToken(claims(), { secret: CURRENT, expiresIn: 3600 }), USER)).toEqual(onEveryPath(SUCCESS));
  });

  it('when a token is signed with a secret not in the list, then "Invalid token" on every path', async () => {
    const retired = 'retired-secret-0123456789abcdefghijkl';
    expect(await everyPath(srv.url, mintToken(claims(), { secret: retired, expiresIn: 3600 }), USER)).toEqual(onEveryPath(INVALID));
  });

  it('when the token CLI runs with the same list, then it signs with the first secret only, and the server accepts it', async () => {
    const token = printedToken(await runCli('token', ['--user', USER, '--accounts', ACCOUNT_A], { JWT_SECRET: `${CURRENT},${PREVIOUS}` }));
    expect(jwt.verify(token, CURRENT, { algorithms: ['HS256'] })).toMatchObject({ userId: USER });
    expect(() => jwt.verify(token, PREVIOUS, { algorithms: ['HS256'] })).toThrow(/invalid signature/);
    expect(await everyPath(srv.url, token, USER)).toEqual(onEveryPath(SUCCESS));
  });
});

describe('JWT_PUBLIC_KEY with several PEM keys, RSA and EC in one variable', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
  let srv: RunningServer;

  beforeAll(async () => {
    // One line, as a .env value carries it: the two PEM blocks one after the other, newlines written `\n`.
    srv = await startServer({ JWT_PUBLIC_KEY: `${pem(rsa.publicKey)}${pem(ec.publicKey)}`.replace(/\n/g, '\\n') });
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  const sign = (key: KeyObject, algorithm: jwt.Algorithm) => jwt.sign(claims(), key, { algorithm, expiresIn: 3600 });

  it('when a token is signed RS256 by the RSA key or ES256 by the EC key, then every path accepts it', async () => {
    expect(await everyPath(srv.url, sign(rsa.privateKey, 'RS256'), USER)).toEqual(onEveryPath(SUCCESS));
    expect(await everyPath(srv.url, sign(ec.privateKey, 'ES256'), USER)).toEqual(onEveryPath(SUCCESS));
  });

  it('when a token is signed by a key not in the variable, then "Invalid token" on every path', async () => {
    expect(await everyPath(srv.url, sign(foreign.privateKey, 'ES256'), USER)).toEqual(onEveryPath(INVALID));
  });
});

describe('INSTAGRAM_APP_SECRET with several secrets', () => {
  const INSTAGRAM_LOGIN = 'instagram-login-app-secret';
  const FACEBOOK_LOGIN = 'facebook-login-app-secret';
  let srv: RunningServer;
  let all: Deliveries;

  beforeAll(async () => {
    srv = await startServer({ INSTAGRAM_APP_SECRET: `${INSTAGRAM_LOGIN},${FACEBOOK_LOGIN}` });
    all = await watcher(srv.url);
  });
  afterAll(async () => {
    closeClients();
    await srv.stop();
  });

  it('when webhooks are signed with either secret, then both are accepted and delivered', async () => {
    const mark = all.events.length;
    const first = flatEvent({ comment: { text: 'signed with the first' } });
    const second = flatEvent({ comment: { text: 'signed with the second' } });
    expect((await postSigned(srv.url, JSON.stringify(first), INSTAGRAM_LOGIN)).status).toBe(200);
    expect((await postSigned(srv.url, JSON.stringify(second), FACEBOOK_LOGIN)).status).toBe(200);
    await all.arrival(second.id as string);
    expect(all.ids.slice(mark)).toEqual([first.id, second.id]);
  });

  it('when a webhook is signed with a secret not in the list, then 401, counted invalid_signature, nothing delivered', async () => {
    const mark = all.events.length;
    const before = await webhookCounts(srv.url);
    const res = await postSigned(srv.url, JSON.stringify(flatEvent()), 'an-old-app-secret');
    expect(res.status).toBe(401);
    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ invalid_signature: 1 });
    // Positive control, signed with a secret of the list (the shared helpers sign with one this server lacks).
    const control = flatEvent({ comment: { text: 'control' } });
    expect((await postSigned(srv.url, JSON.stringify(control), FACEBOOK_LOGIN)).status).toBe(200);
    await all.arrival(control.id as string);
    expect(all.ids.slice(mark)).toEqual([control.id]);
  });
});
