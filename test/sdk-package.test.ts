import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runInNewContext } from 'node:vm';
import request from 'supertest';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

// The files `npm run build` publishes (vitest's global setup runs the client build).
const DIST = new URL('../client/dist/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIST), 'utf8');

describe('the published package @instantchat/client', () => {
  it('when built, then index.d.ts declares the whole API itself: no import at all, so no path into the server', () => {
    const dts = read('index.d.ts');
    expect(dts).toContain('declare function createNotificationClient(options: ClientOptions): NotificationClient;');
    expect(dts).toMatch(/interface Notification \{\n\s+id: string;\n\s+eventType: "comments" \| "live_comments"/);
    expect(dts).not.toMatch(/\bfrom\s+['"]/);
    expect(dts).not.toMatch(/\bimport\s*\(/);
    expect(dts).not.toMatch(/\.\.\/|\bsrc\/|zod/);
    // The JavaScript does not reach into the server either: its one import is its dependency.
    const js = read('index.js');
    expect([...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1])).toEqual(['socket.io-client']);
  });

  it('when an application imports it by name, then TypeScript resolves the types through the exports map and checks them', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(process.cwd(), 'test-artifacts', 'consumer-'));
    try {
      const file = join(dir, 'app.ts');
      writeFileSync(
        file,
        `import { createNotificationClient, type Notification, type ClientState } from '@instantchat/client';
const client = createNotificationClient({ url: 'http://localhost:3000', getToken: async () => 'jwt', eventTypes: ['comments'] });
client.on('notification', (n: Notification) => n.sender.username?.toUpperCase());
const state: ClientState = client.state;
// @ts-expect-error not an event type the server knows
createNotificationClient({ url: 'http://x', getToken: () => 'jwt', eventTypes: ['not_a_type'] });
export { state };
`,
      );
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        types: [],
        lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);
      const resolved = program.getSourceFiles().map((f) => f.fileName).filter((f) => f.includes('instantchat') || f.includes('client/dist'));
      expect(resolved.some((f) => f.endsWith('client/dist/index.d.ts'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the built SDK in a plain Node 20 process (no bundler, no global WebSocket)', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(() => srv?.stop());

  it.each(['socketio', 'websocket'] as const)(
    'when imported as @instantchat/client over %s, then it connects and delivers a webhook, and close() lets the process exit',
    async (transport) => {
      const token = mintToken({ userId: 'node-app', accountIds: ['*'] }, { expiresIn: 600 });
      // The application: the package by name, `ws` found by the SDK itself for the raw transport.
      const app = `
        import { createNotificationClient } from '@instantchat/client';
        const client = createNotificationClient({
          url: process.env.URL, getToken: () => process.env.TOKEN, eventTypes: ['comments'], transport: process.env.TRANSPORT,
        });
        client.on('state', (s) => console.log('state ' + s));
        client.on('error', (e) => console.log('error ' + e.code + ' ' + e.message));
        client.on('notification', async (n) => { console.log('notification ' + n.id); await client.close(); });
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', app], {
        env: { PATH: process.env.PATH ?? '', URL: srv.url, TOKEN: token, TRANSPORT: transport },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const lines: string[] = [];
      const seen = (prefix: string) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no "${prefix}" from the app; got ${lines.join(' | ')} ${stderr}`)), 10_000);
          const check = () => {
            if (!lines.some((l) => l.startsWith(prefix))) return;
            clearTimeout(timer);
            resolve();
          };
          createInterface({ input: child.stdout }).on('line', (line) => {
            lines.push(line);
            check();
          });
          check();
        });
      try {
        await seen('state connected');
        const event = flatEvent();
        expect((await postFlat(srv.url, event)).status).toBe(200);
        // close() in the listener: the process must then exit by itself (nothing left open).
        expect(await exited).toBe(0);
        expect(lines).toEqual(['state connecting', 'state connected', `notification ${event.id as string}`, 'state closed']);
      } finally {
        child.kill();
      }
    },
  );
});

describe('GET /client/instantchat-client.js', () => {
  it('when requested, then the browser bundle is served as JavaScript, cacheable, even with the demo page off', async () => {
    const srv = await startServer({ DEMO_PAGE: 'false' });
    try {
      const res = await request(srv.url).get('/client/instantchat-client.js');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^(text|application)\/javascript/);
      expect(res.headers['cache-control']).toBe('public, max-age=300');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers.etag).toBeDefined();
      expect(res.text).toBe(read('instantchat-client.js'));
      const revalidated = await request(srv.url).get('/client/instantchat-client.js').set('If-None-Match', res.headers.etag as string);
      expect(revalidated.status).toBe(304);
      expect((await request(srv.url).get('/client/other.js')).status).toBe(404);
    } finally {
      await srv.stop();
    }
  });

  it('when the bundle runs as a classic script, then it defines the global InstantChat with createNotificationClient', () => {
    const sandbox: Record<string, unknown> = {};
    sandbox.self = sandbox;
    sandbox.window = sandbox;
    runInNewContext(read('instantchat-client.js'), sandbox);
    const api = sandbox.InstantChat as Record<string, unknown>;
    expect(typeof api.createNotificationClient).toBe('function');
    expect(typeof api.decodeToken).toBe('function');
    // socket.io-client is inside: the bundle has no import of its own.
    expect(read('instantchat-client.js')).not.toMatch(/\bimport\s*\(\s*["']socket\.io-client/);
  });
});
