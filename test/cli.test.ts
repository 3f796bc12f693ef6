import { spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VARIABLES } from '../src/config/schema.js';
import { authedClient, closeClients, openClient } from './helpers/clients.js';
import { freePort, startServer, TEST_APP_SECRET, TEST_JWT_SECRET, type RunningServer } from './helpers/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const A1 = '17841400000000001';
const A2 = '17841400000000002';
const STACK_LINE = /^\s+at /m;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a CLI as `npm run` does (through tsx), from the repository root. Every configuration variable is passed, empty
 * (which the config treats as unset) unless given, so that a developer's `.env` never changes what is tested.
 */
function cli(script: 'token' | 'webhook', args: string[], env: Record<string, string> = {}): Promise<Run> {
  const blank = Object.fromEntries(VARIABLES.map((name) => [name, '']));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `src/cli/${script}.ts`, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...blank, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const tokenOf = (run: Run): string => {
  expect(run.stderr).not.toMatch(STACK_LINE);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim();
};

describe('npm run token', () => {
  let keys: string;
  beforeAll(() => {
    keys = mkdtempSync(join(tmpdir(), 'instantchat-cli-'));
  });
  afterEach(() => closeClients());
  afterAll(() => rmSync(keys, { recursive: true, force: true }));

  it('when given a user and accounts, then it prints an HS256 token signed with JWT_SECRET that the server accepts', async () => {
    const issuer = 'https://auth.instantchat.example';
    const [hourly, everyAccount, scoped] = await Promise.all([
      cli('token', ['--user', 'alice', '--accounts', `${A1},${A2}`, '--ttl', '1h'], { JWT_SECRET: TEST_JWT_SECRET }),
      cli('token', ['--user', 'carol', '--accounts', '*'], { JWT_SECRET: TEST_JWT_SECRET }),
      cli('token', ['--user', 'dave', '--accounts', A1, '--ttl', '15m'], {
        JWT_SECRET: TEST_JWT_SECRET,
        JWT_ISSUER: issuer,
        JWT_AUDIENCE: 'notifications',
      }),
    ]);

    const token = tokenOf(hourly);
    expect(token.split('.')).toHaveLength(3);
    expect(jwt.decode(token, { complete: true })?.header.alg).toBe('HS256');
    const claims = jwt.verify(token, TEST_JWT_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ userId: 'alice', accountIds: [A1, A2] });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
    // Negative beside the positive: the same token does not verify with another secret.
    expect(() => jwt.verify(token, 'another-secret', { algorithms: ['HS256'] })).toThrow(/invalid signature/);

    const starred = jwt.verify(tokenOf(everyAccount), TEST_JWT_SECRET) as jwt.JwtPayload;
    expect(starred).toMatchObject({ userId: 'carol', accountIds: ['*'] });
    // The default lifetime is an hour; stderr says what was minted, stdout holds only the token.
    expect((starred.exp as number) - (starred.iat as number)).toBe(3600);
    expect(everyAccount.stderr).toMatch(/HS256 token for user "carol", accounts \*, expires/);

    // JWT_ISSUER and JWT_AUDIENCE, when configured, are in the token (and a different audience is refused).
    const scopedToken = tokenOf(scoped);
    const scopedClaims = jwt.verify(scopedToken, TEST_JWT_SECRET, { issuer, audience: 'notifications' }) as jwt.JwtPayload;
    expect(scopedClaims).toMatchObject({ iss: issuer, aud: 'notifications' });
    expect((scopedClaims.exp as number) - (scopedClaims.iat as number)).toBe(900);
    expect(() => jwt.verify(scopedToken, TEST_JWT_SECRET, { issuer, audience: 'someone-else' })).toThrow(/audience invalid/);

    const srv = await startServer();
    try {
      const socket = openClient(srv.url, { token });
      expect(await socket.next('auth_success')).toMatchObject({ userId: 'alice', accountIds: [A1, A2] });
    } finally {
      closeClients();
      await srv.stop();
    }
  });

  it('when only JWT_PUBLIC_KEY is configured, then it asks for the private key and signs RS256 or ES256 with it', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = (key: KeyObject, type: 'spki' | 'pkcs8') => key.export({ type, format: 'pem' }).toString();
    const rsaPrivate = join(keys, 'rsa.pem');
    const ecPrivate = join(keys, 'ec.pem');
    writeFileSync(rsaPrivate, pem(rsa.privateKey, 'pkcs8'));
    writeFileSync(ecPrivate, pem(ec.privateKey, 'pkcs8'));
    const rsaPublic = pem(rsa.publicKey, 'spki');
    const ecPublic = pem(ec.publicKey, 'spki');
    const args = ['--user', 'alice', '--accounts', A1];

    const [noKey, rsaRun, ecRun, wrongKey] = await Promise.all([
      cli('token', args, { JWT_PUBLIC_KEY: rsaPublic }),
      cli('token', [...args, '--private-key', rsaPrivate], { JWT_PUBLIC_KEY: rsaPublic }),
      // `\n` escapes, as a one-line .env value would carry the key.
      cli('token', [...args, '--private-key', ecPrivate], { JWT_PUBLIC_KEY: ecPublic.replace(/\n/g, '\\n') }),
      cli('token', [...args, '--private-key', ecPrivate], { JWT_PUBLIC_KEY: rsaPublic }),
    ]);

    expect(noKey.code).toBe(2);
    expect(noKey.stdout).toBe('');
    expect(noKey.stderr).toMatch(/JWT_PUBLIC_KEY.*private key.*--private-key/);
    expect(noKey.stderr).not.toMatch(STACK_LINE);

    expect(jwt.verify(tokenOf(rsaRun), rsaPublic, { algorithms: ['RS256'] })).toMatchObject({ userId: 'alice', accountIds: [A1] });
    expect(jwt.verify(tokenOf(ecRun), ecPublic, { algorithms: ['ES256'] })).toMatchObject({ userId: 'alice' });

    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/matches none of the keys of JWT_PUBLIC_KEY/);
    expect(wrongKey.stderr).not.toMatch(STACK_LINE);
  });

  it('when the arguments are wrong, then usage and exit 2; a bad configuration is one line and exit 1', async () => {
    const env = { JWT_SECRET: TEST_JWT_SECRET };
    const [noUser, unknown, badTtl, badConfig] = await Promise.all([
      cli('token', ['--accounts', A1], env),
      cli('token', ['--user', 'alice', '--accounts', A1, '--admin'], env),
      cli('token', ['--user', 'alice', '--accounts', A1, '--ttl', 'forever'], env),
      cli('token', ['--user', 'alice', '--accounts', A1], { ...env, PORT: 'eighty' }),
    ]);
    for (const [run, message] of [
      [noUser, /--user is required/],
      [unknown, /Unknown option '--admin'/],
      [badTtl, /--ttl "forever" is not a duration/],
    ] as const) {
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('Usage: npm run token');
      expect(run.stderr).not.toMatch(STACK_LINE);
    }
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr.trim()).toMatch(/^error: Invalid configuration: PORT: [^\n]+$/);
  });
});

describe('npm run webhook', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await srv.stop();
  });

  const signedWith = (secret: string, extra: Record<string, string> = {}) => ({ INSTAGRAM_APP_SECRET: secret, ...extra });

  it('when --type builds a comment and a DM, then both are signed, accepted and delivered to the subscribed socket', async () => {
    const socket = await authedClient(srv.url, { userId: 'cli', accountIds: [A1] }, { subscribe: ['comments', 'messages'] });
    const [comment, dm] = await Promise.all([
      cli(
        'webhook',
        ['--type', 'comments', '--account', A1, '--text', 'hi from the CLI', '--from', 'alice', '--url', srv.url],
        signedWith(TEST_APP_SECRET),
      ),
      cli(
        'webhook',
        ['--type', 'messages', '--account', A1, '--text', 'a DM from the CLI', '--url', srv.url],
        signedWith(TEST_APP_SECRET),
      ),
    ]);
    for (const run of [comment, dm]) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^200 OK\nEVENT_RECEIVED/);
    }
    while (socket.deliveries().length < 2) await socket.next('webhook_event');
    const byType = Object.fromEntries(socket.deliveries().map((n) => [n.eventType, n]));
    expect(byType.comments).toMatchObject({ accountId: A1, content: 'hi from the CLI', sender: { username: 'alice' } });
    expect(byType.messages).toMatchObject({ accountId: A1, content: 'a DM from the CLI', sender: { id: expect.any(String) } });
  });

  it('when given a body file and no --url, then it posts the file to the configured PORT and the socket receives it', async () => {
    const socket = await authedClient(srv.url, { userId: 'cli-file', accountIds: [A1] }, { subscribe: ['messages'] });
    const arrived = socket.next('webhook_event');
    const port = new URL(srv.url).port;
    const run = await cli('webhook', ['examples/webhooks/dm.json'], signedWith(TEST_APP_SECRET, { PORT: port, HOST: '127.0.0.1' }));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('EVENT_RECEIVED');
    expect(await arrived).toMatchObject({ eventType: 'messages', accountId: A1, content: 'Hi! Are you open on Sunday?' });
  });

  it('when the CLI signs with another secret than the server, then it prints the 401 and exits 1, and nothing is delivered', async () => {
    const socket = await authedClient(srv.url, { userId: 'cli-wrong', accountIds: [A1] }, { subscribe: ['live_comments'] });
    const args = ['--type', 'live_comments', '--account', A1, '--url', srv.url];
    // Beside it, the positive control: the same command with the right secret.
    const [wrong, right] = await Promise.all([
      cli('webhook', [...args, '--text', 'wrongly signed'], signedWith('not-the-app-secret')),
      cli('webhook', [...args, '--text', 'rightly signed'], signedWith(TEST_APP_SECRET)),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^401 Unauthorized\n.*"invalid_signature"/);
    expect(right.code, right.stderr).toBe(0);
    if (socket.deliveries().length === 0) await socket.next('webhook_event');
    expect(socket.deliveries().map((n) => n.content)).toEqual(['rightly signed']);
  });

  it('when the arguments are wrong, then usage and exit 2; an unreachable server or a missing file is one line and exit 1', async () => {
    const env = signedWith(TEST_APP_SECRET);
    const closedPort = await freePort();
    const [nothing, badType, unreachable, missing] = await Promise.all([
      cli('webhook', [], env),
      cli('webhook', ['--type', 'likes', '--account', A1], env),
      cli('webhook', ['--type', 'comments', '--account', A1, '--url', `http://127.0.0.1:${closedPort}`], env),
      cli('webhook', ['examples/webhooks/absent.json', '--url', srv.url], env),
    ]);
    for (const [run, message] of [
      [nothing, /give a body file or --type and --account/],
      [badType, /unknown --type "likes"/],
    ] as const) {
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('Usage: npm run webhook');
    }
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`could not reach http://127\\.0\\.0\\.1:${closedPort} \\(ECONNREFUSED\\)`));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read examples\/webhooks\/absent\.json \(ENOENT\)/);
    for (const run of [nothing, badType, unreachable, missing]) {
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toMatch(STACK_LINE);
    }
  });
});
