import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envSchema } from '../src/config/schema.js';
import { startServer, TEST_JWT_SECRET, testEnv, type RunningServer } from './helpers/server.js';

/**
 * The Dockerfile cannot be built here (no Docker engine), so this checks what can be checked without one: every file
 * it copies exists and is not excluded from the build context, the build stage has everything `npm run build` reads,
 * the command is the file the build produces, the runtime stage has every package the compiled code imports, and the
 * CLIs it ships run the way `docker run <image> node dist/cli/….js` runs them.
 */

const ROOT = new URL('../', import.meta.url).pathname;
const fromRoot = (path: string) => join(ROOT, path);
const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as {
  version: string;
  main: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

// ---- a small Dockerfile reader: instructions by stage, continuation lines joined, comments dropped ----

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  name: string | undefined;
  instructions: Instruction[];
}
function readDockerfile(text: string): Stage[] {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const keyword = (match[1] as string).toUpperCase();
    const args = (match[2] as string).trim();
    if (keyword === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1], instructions: [] });
    stages.at(-1)?.instructions.push({ keyword, args });
  }
  return stages;
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}
function parseCopy(args: string): Copy {
  const words = args.match(/"[^"]*"|\S+/g) ?? [];
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const json = rest.join(' ').startsWith('[') ? (JSON.parse(rest.join(' ')) as string[]) : rest;
  return {
    from: flags.find((f) => f.startsWith('--from='))?.slice('--from='.length),
    sources: json.slice(0, -1),
    dest: json.at(-1) as string,
  };
}

/** .dockerignore as Docker applies it: patterns from the context root, `*` within a path element, `!` re-includes. */
function ignoredByDocker(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const body = pattern
      .split('**')
      .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
      .join('.*');
    const regex = new RegExp(`^${body}(/.*)?$`);
    if (regex.test(path)) ignored = !negated;
  }
  return ignored;
}

const stages = readDockerfile(readFileSync(fromRoot('Dockerfile'), 'utf8'));
const dockerignore = readFileSync(fromRoot('.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const runtime = stages.at(-1) as Stage;
const buildStage = stages.find((s) => s.name === 'build') as Stage;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

/** Every file under `dir` (relative to the repository), for context checks. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(fromRoot(dir))) {
    const path = join(dir, entry);
    if (statSync(fromRoot(path)).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

describe('Dockerfile', () => {
  it('copies only files that exist and that .dockerignore leaves in the build context', () => {
    const copies = stages.flatMap((stage) => all(stage, 'COPY').map((i) => parseCopy(i.args))).filter((c) => c.from === undefined);
    expect(copies.length).toBeGreaterThan(3);
    for (const source of copies.flatMap((c) => c.sources)) {
      expect(existsSync(fromRoot(source)), `${source} exists`).toBe(true);
      expect(ignoredByDocker(source, dockerignore), `${source} is in the build context`).toBe(false);
    }
    // The checker itself: it does see what .dockerignore removes.
    expect(ignoredByDocker('node_modules', dockerignore)).toBe(true);
    expect(ignoredByDocker('test/config.test.ts', dockerignore)).toBe(true);
  });

  it('copies from earlier stages only, and the build stage has everything `npm run build` reads', () => {
    const names = stages.map((s) => s.name);
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY').map((i) => parseCopy(i.args))) {
        if (copy.from !== undefined) expect(names.slice(0, stages.indexOf(stage)), copy.from).toContain(copy.from);
      }
    }
    const build = JSON.parse(readFileSync(fromRoot('tsconfig.build.json'), 'utf8')) as { extends?: string; include: string[] };
    const needed = ['package.json', 'package-lock.json', 'tsconfig.build.json', ...(build.extends ? [build.extends.replace(/^\.\//, '')] : []), ...build.include];
    // And every file or folder the build scripts name (a second project built by `npm run build`, say).
    const scripts = ['prebuild', 'build', 'postbuild'].map((name) => pkg.scripts[name] ?? '').join(' ');
    const named = (scripts.match(/[^\s'"&|;]+/g) ?? []).filter((word) => !word.startsWith('-') && word !== '.' && existsSync(fromRoot(word)));
    const copied = all(buildStage, 'COPY').flatMap((i) => parseCopy(i.args).sources);
    const isCopied = (path: string) => copied.some((source) => path === source || path.startsWith(`${source.replace(/\/$/, '')}/`));
    expect([...needed, ...named].filter((path) => !isCopied(path))).toEqual([]);
    // Every `npm run` the Dockerfile calls is a script of package.json.
    for (const run of stages.flatMap((s) => all(s, 'RUN'))) {
      for (const [, script] of run.args.matchAll(/npm run (\S+)/g)) expect(pkg.scripts, script as string).toHaveProperty(script as string);
    }
  });

  it('runs the file `npm run build` produces, as node itself (PID 1, signals reach it)', () => {
    const cmd = JSON.parse((all(runtime, 'CMD')[0] as Instruction).args) as string[];
    expect(cmd).toEqual(['node', pkg.main]);
    expect(pkg.scripts.start).toBe(`exec node ${pkg.main}`);
    // tsconfig.build.json compiles src/ into dist/: dist/main.js comes from src/main.ts.
    expect(pkg.main).toBe('dist/main.js');
    expect(existsSync(fromRoot('src/main.ts'))).toBe(true);
    expect(all(runtime, 'COPY').map((i) => parseCopy(i.args))).toContainEqual({ from: 'build', sources: ['/app/dist'], dest: './dist' });
  });

  it('has OCI labels, the version of package.json, and only environment variables of the config schema', () => {
    const labels = all(runtime, 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'created', 'source']) {
      expect(labels, key).toMatch(new RegExp(`org\\.opencontainers\\.image\\.${key}=`));
    }
    expect(all(runtime, 'ARG').map((i) => i.args)).toContain(`VERSION=${pkg.version}`);
    const env = all(runtime, 'ENV').flatMap((i) => [...i.args.matchAll(/([A-Z_]+)=/g)].map((m) => m[1]));
    expect(env.filter((name) => !Object.keys(envSchema.shape).includes(name as string))).toEqual([]);
    expect(all(runtime, 'USER').map((i) => i.args)).toEqual(['node']);
  });

  it('ships every package the compiled code imports: all are production dependencies', () => {
    const imported = new Set<string>();
    for (const file of filesUnder('src').filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(fromRoot(file), 'utf8');
      // Type-only imports vanish from the compiled code.
      for (const [, spec] of source.matchAll(/^import (?!type )[^'"]*?from '([^'.][^']*)'/gm)) {
        if ((spec as string).startsWith('node:')) continue;
        const parts = (spec as string).split('/');
        imported.add((spec as string).startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
      }
    }
    expect(imported.size).toBeGreaterThan(5);
    expect([...imported].filter((name) => !(name in pkg.dependencies)).sort()).toEqual([]);
  });

  it('builds the CLIs into dist: tsconfig.build.json includes src/cli', () => {
    const build = JSON.parse(readFileSync(fromRoot('tsconfig.build.json'), 'utf8')) as { include: string[]; exclude?: string[] };
    const compiled = (file: string) =>
      build.include.some((dir) => file.startsWith(`${dir}/`)) && !(build.exclude ?? []).some((dir) => file.startsWith(`${dir}/`) || file === dir);
    for (const cli of ['src/cli/token.ts', 'src/cli/webhook.ts']) {
      expect(existsSync(fromRoot(cli)), cli).toBe(true);
      expect(compiled(relative(ROOT, fromRoot(cli))), cli).toBe(true);
    }
  });
});

/**
 * The compiled CLIs as the container runs them: `node dist/cli/….js` from the image's working directory, with the
 * container's environment (production, every secret set) and nothing else. Needs the build of the test run's global
 * setup (dist/).
 */
describe.skipIf(process.env.SKIP_BUILD === '1')('the CLIs in dist, as `docker run <image> node dist/cli/….js` runs them', () => {
  const run = promisify(execFile);
  const containerEnv = {
    PATH: process.env.PATH ?? '',
    ...testEnv({ NODE_ENV: 'production', CONNECT_RATE_LIMIT: undefined, LOG_LEVEL: undefined }),
  };
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('dist/cli/token.js mints a token signed with the container\'s JWT_SECRET', async () => {
    const { stdout } = await run(process.execPath, ['dist/cli/token.js', '--user', 'ops', '--accounts', '17841400000000001', '--ttl', '15m'], {
      cwd: ROOT,
      env: containerEnv,
      timeout: 15_000,
    });
    const claims = jwt.verify(stdout.trim(), TEST_JWT_SECRET, { algorithms: ['HS256'] }) as Record<string, unknown>;
    expect(claims).toMatchObject({ userId: 'ops', accountIds: ['17841400000000001'] });
  });

  it('dist/cli/webhook.js posts a signed webhook, from a built event or from a file of examples/, and the server accepts it', async () => {
    const byType = await run(process.execPath, ['dist/cli/webhook.js', '--type', 'comments', '--account', '17841400000000001', '--url', server.url], {
      cwd: ROOT,
      env: containerEnv,
      timeout: 15_000,
    });
    expect(byType.stdout).toContain('200');
    expect(byType.stdout).toContain('EVENT_RECEIVED');
    const fromFile = await run(process.execPath, ['dist/cli/webhook.js', 'examples/webhooks/comment.json', '--url', server.url], {
      cwd: ROOT,
      env: containerEnv,
      timeout: 15_000,
    });
    expect(fromFile.stdout).toContain('EVENT_RECEIVED');
    // Negative control: signed with another secret, the same file is refused.
    const wrongSecret = run(process.execPath, ['dist/cli/webhook.js', 'examples/webhooks/comment.json', '--url', server.url], {
      cwd: ROOT,
      env: { ...containerEnv, INSTAGRAM_APP_SECRET: 'another-secret' },
      timeout: 15_000,
    });
    await expect(wrongSecret).rejects.toMatchObject({ stdout: expect.stringContaining('401') });
  });
});
