import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import jwt from 'jsonwebtoken';
import type { Config } from '../config/config.js';
import { CliError, UsageError, loadCliConfig, parseCliArgs, parseTtl, runCli, splitList } from './args.js';

const USAGE = `Usage: npm run token -- --user <id> --accounts <id,id,...|*> [--ttl 1h] [--iat now] [--private-key key.pem] [--kid id]

Prints a JWT for the notification server, signed the way the server is configured (.env and environment):
HS256 with the first JWT_SECRET (the development default when unset), with JWT_ISSUER / JWT_AUDIENCE when set.

  --user <id>          the userId claim
  --accounts <list>    Instagram account ids the user may receive, comma-separated; '*' for every account
  --ttl <duration>     lifetime from now: 90s, 15m, 1h (default), 7d
  --iat <time>         the iat claim: 'now' (default), Unix seconds, an ISO 8601 date, or 'none' (no iat). A
                       revocation refuses the user's tokens issued at or before it (no iat counts as before)
  --private-key <pem>  PEM private key file, required when the server verifies with JWT_PUBLIC_KEY or
                       JWT_JWKS_URL (RS256 for an RSA key, ES256 for an EC P-256 key)
  --kid <id>           the kid header: required with JWT_JWKS_URL (the id the JWKS lists the key under)
  -h, --help           this text

Tip: TOKEN=$(npm run --silent token -- --user alice --accounts 17841400000000001)`;

const MAX_ID_LENGTH = 64;

async function main(): Promise<number> {
  const { values } = parseCliArgs({
    options: {
      user: { type: 'string' },
      accounts: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      iat: { type: 'string', default: 'now' },
      'private-key': { type: 'string' },
      kid: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const user = values.user?.trim();
  if (user === undefined || user === '') throw new UsageError('--user is required');
  if (values.accounts === undefined) throw new UsageError("--accounts is required (comma-separated ids, or '*')");
  const accounts = splitList(values.accounts);
  if (accounts.length === 0) throw new UsageError("--accounts needs at least one id (or '*')");
  const tooLong = accounts.find((id) => id.length > MAX_ID_LENGTH);
  if (tooLong !== undefined) throw new UsageError(`account id "${tooLong.slice(0, 20)}..." is longer than ${MAX_ID_LENGTH}`);
  const ttlSeconds = parseTtl(values.ttl);
  const now = Math.floor(Date.now() / 1000);
  const iat = parseIat(values.iat, now);
  const kid = values.kid?.trim();
  if (kid === '') throw new UsageError('--kid needs a value');

  const config = loadCliConfig();
  const { key, algorithm } = await signingKey(config, values['private-key'], kid);
  const accountIds = accounts.includes('*') ? ['*'] : [...new Set(accounts)];
  // exp counts from now whatever iat says, so that a token "issued before a revocation" is not also expired.
  const token = jwt.sign({ userId: user, accountIds, exp: now + ttlSeconds, ...(iat !== undefined && { iat }) }, key, {
    algorithm,
    noTimestamp: iat === undefined,
    ...(kid !== undefined && { keyid: kid }),
    ...(config.JWT_ISSUER !== undefined && { issuer: config.JWT_ISSUER }),
    ...(config.JWT_AUDIENCE !== undefined && { audience: config.JWT_AUDIENCE }),
  });

  console.log(token);
  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const devNote = config.devSecretsInUse.includes('JWT_SECRET') && algorithm === 'HS256' ? ', development JWT_SECRET' : '';
  const issued = iat === undefined ? 'no iat' : `issued ${new Date(iat * 1000).toISOString()}`;
  console.error(`${algorithm} token for user "${user}", accounts ${accountIds.join(',')}, expires ${expires}, ${issued}${devNote}`);
  return 0;
}

/** `now`, `none` (no iat), Unix seconds or an ISO 8601 date → the iat claim in seconds (undefined: none). */
function parseIat(text: string, now: number): number | undefined {
  const value = text.trim();
  if (value === 'now') return now;
  if (value === 'none') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const ms = /^\d{4}-\d\d-\d\d/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--iat "${text}" is not 'now', 'none', Unix seconds or an ISO 8601 date`);
  return Math.floor(ms / 1000);
}

type SigningKey = { key: jwt.Secret; algorithm: jwt.Algorithm };

/**
 * HS256 with the first JWT_SECRET (the one in use; the others are being rotated out), or a private key whose public
 * half the server verifies with: one of JWT_PUBLIC_KEY's keys, or the key JWT_JWKS_URL lists under `--kid` (both
 * checked, so that a token never fails later).
 */
async function signingKey(config: Config, privateKeyFile: string | undefined, kid: string | undefined): Promise<SigningKey> {
  if (config.JWT_PUBLIC_KEY === undefined && config.JWT_JWKS_URL === undefined) {
    if (privateKeyFile !== undefined) {
      throw new UsageError('--private-key is for servers configured with JWT_PUBLIC_KEY or JWT_JWKS_URL; this one uses HS256 with JWT_SECRET');
    }
    return { key: config.JWT_SECRET[0] as string, algorithm: 'HS256' };
  }
  const source = config.JWT_JWKS_URL !== undefined ? 'JWT_JWKS_URL' : 'JWT_PUBLIC_KEY';
  if (privateKeyFile === undefined) {
    throw new UsageError(
      `the server verifies tokens with ${source}, so signing needs the matching private key: pass --private-key key.pem`,
    );
  }
  if (config.JWT_JWKS_URL !== undefined && kid === undefined) {
    throw new UsageError('the server picks JWKS keys by kid: pass --kid <id> (the id JWT_JWKS_URL lists the public key under)');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(privateKeyFile));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot use ${privateKeyFile} as a PEM private key${code === undefined ? '' : ` (${code})`}`);
  }
  const mine = publicPem(createPublicKey(privateKey));
  if (config.JWT_JWKS_URL !== undefined) {
    await checkAgainstJwks(config.JWT_JWKS_URL, kid as string, mine, privateKeyFile);
  } else if (!(config.JWT_PUBLIC_KEY ?? []).some((pem) => publicPem(createPublicKey(pem)) === mine)) {
    throw new CliError(`the private key in ${privateKeyFile} matches none of the keys of JWT_PUBLIC_KEY`);
  }
  const type = privateKey.asymmetricKeyType;
  if (type === 'rsa') return { key: privateKey, algorithm: 'RS256' };
  if (type === 'ec') return { key: privateKey, algorithm: 'ES256' };
  throw new CliError(`${String(type)} keys are not supported (RSA for RS256, EC P-256 for ES256)`);
}

const publicPem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

const JWKS_TIMEOUT_MS = 5000;

/**
 * Checks that the JWKS lists the key's public half under `kid`. An endpoint this machine cannot reach is only
 * warned about (the identity provider may be reachable from the server alone).
 */
async function checkAgainstJwks(url: string, kid: string, mine: string, privateKeyFile: string): Promise<void> {
  let keys: unknown;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS), headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    keys = ((await res.json()) as { keys?: unknown }).keys;
  } catch (err) {
    console.error(`warning: could not read ${url} (${err instanceof Error ? err.message : String(err)}); kid "${kid}" not checked`);
    return;
  }
  const listed = Array.isArray(keys) ? (keys as Array<Record<string, unknown>>) : [];
  const jwk = listed.find((k) => k.kid === kid);
  if (jwk === undefined) {
    const kids = listed.map((k) => String(k.kid)).join(', ') || 'none';
    throw new CliError(`kid "${kid}" is not in the JWKS at ${url} (its kids: ${kids})`);
  }
  let listedPem: string;
  try {
    listedPem = publicPem(createPublicKey({ key: jwk, format: 'jwk' }));
  } catch {
    throw new CliError(`the JWKS at ${url} lists kid "${kid}" as a key this CLI cannot read`);
  }
  if (listedPem !== mine) throw new CliError(`the private key in ${privateKeyFile} is not the key the JWKS lists under kid "${kid}"`);
}

runCli(USAGE, main);
