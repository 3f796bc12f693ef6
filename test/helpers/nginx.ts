import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server.js';

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => existsSync(p));

/** The nginx configuration of deploy/, a template rendered by the official nginx image at start (envsubst). */
export const NGINX_TEMPLATE = new URL('../../deploy/nginx/instantchat.conf.template', import.meta.url);

/**
 * Whether nginx tests can run. In CI they must: `.ci/run` installs Debian's nginx, and its absence fails there.
 * Elsewhere they skip, saying so loudly.
 */
export function nginxAvailable(): boolean {
  if (NGINX !== undefined) return true;
  if (process.env.CI) throw new Error('CI=true but nginx is not installed (.ci/run installs it)');
  console.warn('\n*** nginx not found: SKIPPING the reverse-proxy deployment tests (apt-get install nginx) ***\n');
  return false;
}

/** The `${NAME}` placeholders of a template, in order of first appearance. */
export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] as string))];
}

/**
 * Renders a template as the nginx image does: `envsubst` limited to the variables that are set, so nginx's own
 * `$variables` stay as they are. Unlike the image, a placeholder left without a value is an error, not an empty
 * string.
 */
export function renderTemplate(template: string, values: Record<string, string>): string {
  const missing = placeholdersOf(template).filter((name) => values[name] === undefined);
  if (missing.length > 0) throw new Error(`no value for ${missing.join(', ')}`);
  return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => values[name] as string);
}

/** One line of the JSON access log the deploy configuration writes (log_format instantchat_access). */
export interface AccessLine {
  request_id: string;
  client: string;
  method: string;
  path: string;
  status: number;
  upstream: string;
}

export interface RunningNginx {
  readonly url: string;
  readonly port: number;
  /** What nginx wrote on stderr (its error log). */
  errors(): string;
  /** The access log lines written so far. */
  accessLog(): AccessLine[];
  /** Ends nginx (its master process, by pid: the workers follow) and removes its directory. */
  stop(): Promise<void>;
}

/**
 * A real nginx on 127.0.0.1 serving deploy/nginx's template, rendered for `upstreams` (`host:port` of each
 * instance). The main file around it plays the part of the nginx image's nginx.conf, with every path inside a
 * throwaway prefix directory so that it runs without root; nginx runs in the foreground and is ended by pid.
 */
/**
 * What README tells operators to write after each `server` in INSTANTCHAT_UPSTREAM: a refused connection takes an
 * instance out of rotation for a second only, so that one restarted and the other lost soon after does not leave
 * nginx with "no live upstreams" for nginx's default 10 s (test/deploy-nginx-failover.test.ts).
 */
export const SERVER_PARAMETERS = 'max_fails=1 fail_timeout=1s';

export async function startNginx(upstreams: string[]): Promise<RunningNginx> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nginx-test-'));
  // Run as root, nginx's workers drop to `nobody`, which must reach the temporary files under this directory.
  if (process.getuid?.() === 0) chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'instantchat.conf'),
    renderTemplate(readFileSync(NGINX_TEMPLATE, 'utf8'), {
      INSTANTCHAT_LISTEN: `127.0.0.1:${port}`,
      INSTANTCHAT_UPSTREAM: upstreams.map((u) => (u.includes(' ') ? `server ${u};` : `server ${u} ${SERVER_PARAMETERS};`)).join(' '),
    }),
  );
  const temp = (name: string) => join(dir, 'temp', name);
  mkdirSync(join(dir, 'temp')); // nginx makes the last level of each temporary path itself
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      'events { worker_connections 1024; }',
      'http {',
      `    client_body_temp_path ${temp('client_body')};`,
      `    proxy_temp_path ${temp('proxy')};`,
      `    fastcgi_temp_path ${temp('fastcgi')};`,
      `    uwsgi_temp_path ${temp('uwsgi')};`,
      `    scgi_temp_path ${temp('scgi')};`,
      `    include ${join(dir, 'instantchat.conf')};`,
      '}',
      '',
    ].join('\n'),
  );

  // The access log goes to /dev/stdout (as in the nginx image); Node's stdio pipes are sockets, which cannot be
  // opened through /dev/stdout, so stdout is a file here.
  const accessLogFile = join(dir, 'access.log');
  const stdoutFd = openSync(accessLogFile, 'a');
  const child: ChildProcess = spawn(
    NGINX as string,
    ['-p', `${dir}/`, '-e', 'stderr', '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`],
    { stdio: ['ignore', stdoutFd, 'pipe'] },
  );
  closeSync(stdoutFd);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // fast shutdown: the master ends its workers, then itself
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Listening once a TCP connection is accepted; bounded, and a failed start shows nginx's own words.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`nginx exited at start:\n${stderr}`);
    }
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`);
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not listen within 10 s:\n${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errors: () => stderr,
    accessLog: () =>
      readFileSync(accessLogFile, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as AccessLine),
    stop,
  };
}
