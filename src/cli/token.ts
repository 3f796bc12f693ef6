import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import jwt from 'jsonwebtoken';
import type { Config } from '../config/config.js';
import { CliError, UsageError, loadCliConfig, parseCliArgs, parseTtl, runCli, splitList } from './args.js';

const USAGE = `Usage: npm run token -- --user <id> --accounts <id,id,...|*> [--ttl 1h] [--private-key key.pem]

Prints a JWT for the notification server, signed the way the server is configured (.env and environment):
HS256 with JWT_SECRET (the development default when unset), with JWT_ISSUER / JWT_AUDIENCE when set.

  --user <id>          the userId claim
  --accounts <list>    Instagram account ids the user may receive, comma-separated; '*' for every account
  --ttl <duration>     lifetime: 90s, 15m, 1h (default), 7d
  --private-key <pem>  PEM private key file, required when the server verifies with JWT_PUBLIC_KEY (RS256/ES256)
  -h, --help           this text

Tip: TOKEN=$(npm run --silent token -- --user alice --accounts 17841400000000001)`;

const MAX_ID_LENGTH = 64;

async function main(): Promise<number> {
  const { values } = parseCliArgs({
    options: {
      user: { type: 'string' },
      accounts: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      'private-key': { type: 'string' },
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

  const config = loadCliConfig();
  const { key, algorithm } = signingKey(config, values['private-key']);
  const accountIds = accounts.includes('*') ? ['*'] : [...new Set(accounts)];
  const token = jwt.sign({ userId: user, accountIds }, key, {
    algorithm,
    expiresIn: ttlSeconds,
    ...(config.JWT_ISSUER !== undefined && { issuer: config.JWT_ISSUER }),
    ...(config.JWT_AUDIENCE !== undefined && { audience: config.JWT_AUDIENCE }),
  });

  console.log(token);
  const expires = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const devNote = config.devSecretsInUse.includes('JWT_SECRET') && algorithm === 'HS256' ? ', development JWT_SECRET' : '';
  console.error(`${algorithm} token for user "${user}", accounts ${accountIds.join(',')}, expires ${expires}${devNote}`);
  return 0;
}

/**
 * HS256 with the first JWT_SECRET (the one in use; the others are being rotated out), or the private half of one of
 * JWT_PUBLIC_KEY's keys (checked to match, so a token never fails later).
 */
function signingKey(config: Config, privateKeyFile: string | undefined): { key: jwt.Secret; algorithm: jwt.Algorithm } {
  if (config.JWT_PUBLIC_KEY === undefined) {
    if (privateKeyFile !== undefined) {
      throw new UsageError('--private-key is for servers configured with JWT_PUBLIC_KEY; this one uses HS256 with JWT_SECRET');
    }
    return { key: config.JWT_SECRET[0] as string, algorithm: 'HS256' };
  }
  if (privateKeyFile === undefined) {
    throw new UsageError(
      'the server verifies tokens with JWT_PUBLIC_KEY, so signing needs the matching private key: pass --private-key key.pem',
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(privateKeyFile));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot use ${privateKeyFile} as a PEM private key${code === undefined ? '' : ` (${code})`}`);
  }
  const publicPem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
  const mine = publicPem(createPublicKey(privateKey));
  if (!config.JWT_PUBLIC_KEY.some((pem) => publicPem(createPublicKey(pem)) === mine)) {
    throw new CliError(`the private key in ${privateKeyFile} matches none of the keys of JWT_PUBLIC_KEY`);
  }
  const type = privateKey.asymmetricKeyType;
  if (type === 'rsa') return { key: privateKey, algorithm: 'RS256' };
  if (type === 'ec') return { key: privateKey, algorithm: 'ES256' };
  throw new CliError(`${String(type)} keys are not supported (RSA for RS256, EC P-256 for ES256)`);
}

runCli(USAGE, main);
