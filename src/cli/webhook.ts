import { readFileSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { EVENT_TYPES, isEventType } from '../notifications/notification.js';
import { signatureHeader } from '../webhooks/signature.js';
import { CliError, UsageError, loadCliConfig, parseCliArgs, runCli } from './args.js';
import { buildEnvelope } from './envelopes.js';

const USAGE = `Usage: npm run webhook -- <body.json> [--url URL]
       npm run webhook -- --type <event type> --account <id> [--text "hi"] [--from username] [--url URL]

Posts a webhook signed with INSTAGRAM_APP_SECRET (as the server reads it: .env and environment) to
<URL>/api/webhooks/instagram and prints the answer. A file is sent byte for byte; sending the same file twice is a
duplicate (a Meta retry) and is not delivered again. --type builds a fresh Meta envelope each time.

  <body.json>          a webhook body, e.g. examples/webhooks/comment.json
  --type <type>        ${EVENT_TYPES.join(', ')}
  --account <id>       the Instagram account the event is about (entry[].id)
  --text <text>        the comment or message text
  --from <username>    the comment author's username (comments, live_comments)
  --url <URL>          the server (default: http://127.0.0.1:<PORT>)
  -h, --help           this text`;

const REQUEST_TIMEOUT_MS = 10_000;
const COMMENT_TYPES = new Set(['comments', 'live_comments']);

async function main(): Promise<number> {
  const { values, positionals } = parseCliArgs({
    allowPositionals: true,
    options: {
      type: { type: 'string' },
      account: { type: 'string' },
      text: { type: 'string' },
      from: { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`expected one body file, got ${positionals.length}`);
  const file = positionals[0];
  const built = values.type !== undefined || values.account !== undefined || values.text !== undefined || values.from !== undefined;
  if (file !== undefined && built) throw new UsageError('give either a body file or --type/--account/--text/--from, not both');
  if (file === undefined && !built) throw new UsageError('give a body file or --type and --account');

  let body: Buffer;
  if (file !== undefined) {
    body = readBody(file);
  } else {
    const type = values.type;
    if (type === undefined) throw new UsageError('--type is required without a body file');
    if (!isEventType(type)) throw new UsageError(`unknown --type "${type}"; one of: ${EVENT_TYPES.join(', ')}`);
    const account = values.account?.trim();
    if (account === undefined || account === '') throw new UsageError('--account is required with --type');
    const envelope = buildEnvelope({
      type,
      accountId: account,
      ...(values.text !== undefined && { text: values.text }),
      ...(values.from !== undefined && { from: values.from }),
    });
    body = Buffer.from(JSON.stringify(envelope));
    if (values.from !== undefined && !COMMENT_TYPES.has(type)) {
      console.error(`note: --from is ignored for ${type}: Meta names that sender by id only`);
    }
  }

  const config = loadCliConfig();
  const endpoint = webhookUrl(values.url ?? defaultUrl(config));
  const response = await post(endpoint, body, signatureHeader(body, config.INSTAGRAM_APP_SECRET[0] as string));
  const text = await response.text();
  console.log(`${response.status} ${response.statusText}${text === '' ? '' : `\n${text}`}`);
  if (response.status === 401 && config.devSecretsInUse.includes('INSTAGRAM_APP_SECRET')) {
    console.error('hint: signed with the development INSTAGRAM_APP_SECRET; set the server\'s secret in .env or the environment');
  }
  return response.ok ? 0 : 1;
}

function readBody(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CliError(`cannot read ${file} (${code})`);
  }
}

/** The server's own address: a wildcard listen address is reached on loopback (IPv4, as `HOST=0.0.0.0` listens). */
function defaultUrl(config: Config): string {
  const wildcard = config.HOST === '0.0.0.0' || config.HOST === '::' || config.HOST === '';
  const host = wildcard ? '127.0.0.1' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${config.PORT}`;
}

function webhookUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UsageError(`--url "${base}" is not a URL (example: http://localhost:3000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--url must be http or https');
  return new URL('/api/webhooks/instagram', url);
}

async function post(url: URL, body: Buffer, signature: string): Promise<Response> {
  try {
    return await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
      // A copy as a plain Uint8Array: the DOM typings of fetch do not take a Node Buffer.
      body: new Uint8Array(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new CliError(`could not reach ${url.origin} (${reason}); is the server running? (npm start)`);
  }
}

runCli(USAGE, main);
