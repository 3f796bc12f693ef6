import { existsSync, readdirSync, readFileSync } from 'node:fs';
import bytes from 'bytes';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { envSchema } from '../src/config/schema.js';
import { NGINX_TEMPLATE, placeholdersOf } from './helpers/nginx.js';

/**
 * deploy/compose.yaml and deploy/k8s/ against the server they deploy: every variable they set is one the config
 * schema reads (a misspelt name would be silently ignored) and its value passes the schema; probes, grace periods,
 * timeouts and body limits agree with the server's own settings; the public edge does not route the metrics or the
 * admin API. Nothing here runs Docker or Kubernetes: these are the checks that need neither.
 */

const DEPLOY = new URL('../deploy/', import.meta.url);
const read = (relative: string) => readFileSync(new URL(relative, DEPLOY), 'utf8');

const VARIABLES = new Set(Object.keys(envSchema.shape));
type Variable = keyof typeof envSchema.shape;
/** The value the server uses when a deployment does not set `name`: the schema's own default. */
const schemaDefault = (name: Variable): unknown => envSchema.shape[name].parse(undefined);
const setting = (env: Record<string, string>, name: Variable): unknown =>
  env[name] === undefined ? schemaDefault(name) : envSchema.shape[name].parse(env[name]);

/** `15s`, `1m30s`, `1h`, `3600` (seconds), as compose, nginx and Kubernetes annotations write durations, in ms. */
function durationMs(text: string | number): number {
  if (typeof text === 'number' || /^\d+$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (units[unit as string] as number), 0);
}

/** The proxy must never be the one to cut an idle socket: the server's heartbeat timeout (plus a sweep) decides. */
const SERVER_IDLE_MS = (schemaDefault('HEARTBEAT_TIMEOUT_MS') as number) + (schemaDefault('HEARTBEAT_SWEEP_MS') as number);
const IMAGE_NAME = 'instantchat-notifications';
const repositoryOf = (image: string) => image.replace(/[:@].*$/, '').split('/').at(-1);

/** Kubernetes `Prefix`/`Exact` path matching (by path element), as an Ingress controller routes. */
function ingressRoutes(rule: { path: string; pathType: string }, requestPath: string): boolean {
  if (rule.pathType === 'Exact') return requestPath === rule.path;
  const prefix = rule.path.replace(/\/+$/, '');
  return prefix === '' || requestPath === prefix || requestPath.startsWith(`${prefix}/`);
}

describe('deploy/compose.yaml', () => {
  interface ComposeService {
    image?: string;
    build?: unknown;
    environment?: Record<string, string | number | boolean> | string[];
    stop_grace_period?: string;
    healthcheck?: { test: string[] };
    volumes?: string[];
    deploy?: { replicas?: number };
  }
  const compose = parse(read('compose.yaml')) as { services: Record<string, ComposeService> };
  const envFile = Object.fromEntries(
    read('.env.example')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  /** Compose's interpolation with deploy/.env.example's values; an empty required secret stands for the one you set. */
  const interpolate = (value: string) =>
    value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::?([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
      const fromFile = envFile[name];
      if (fromFile !== undefined && fromFile !== '') return fromFile;
      if (op === '-') return arg ?? '';
      if (op === '?') return `a-secret-set-for-${name}-0123456789abcdef`;
      throw new Error(`\${${name}} has no value in deploy/.env.example and no default`);
    });
  const environmentOf = (service: ComposeService): Record<string, string> => {
    const raw = service.environment ?? {};
    const pairs = Array.isArray(raw) ? raw.map((item) => item.split(/=(.*)/s)) : Object.entries(raw);
    return Object.fromEntries(pairs.map(([name, value]) => [name as string, interpolate(String(value ?? ''))]));
  };
  const appServices = Object.entries(compose.services).filter(([, s]) => s.build !== undefined || repositoryOf(s.image ?? '') === IMAGE_NAME);
  const [appName, app] = appServices[0] ?? ['', {} as ComposeService];
  const appEnv = environmentOf(app);

  it('runs three instances of the image the Dockerfile builds', () => {
    expect(appServices).toHaveLength(1);
    expect(repositoryOf(app.image ?? '')).toBe(IMAGE_NAME);
    expect(app.build).toEqual({ context: '..', dockerfile: 'Dockerfile' });
    expect(existsSync(new URL('../Dockerfile', DEPLOY))).toBe(true);
    expect(app.deploy?.replicas).toBe(3);
    expect(Object.keys(compose.services).sort()).toEqual(['instantchat', 'nginx', 'redis']);
  });

  it('sets only variables of the config schema, with values it accepts, in cluster mode behind one trusted proxy', () => {
    expect(Object.keys(appEnv).filter((name) => !VARIABLES.has(name))).toEqual([]);
    const parsed = envSchema.safeParse(appEnv);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(appEnv).toMatchObject({ NODE_ENV: 'production', REDIS_URL: 'redis://redis:6379', TRUST_PROXY: '1' });
    // Every secret is required: compose refuses to start without it rather than run on nothing.
    for (const secret of ['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN', 'ADMIN_TOKEN', 'METRICS_TOKEN']) {
      expect(app.environment).toHaveProperty(secret, expect.stringMatching(new RegExp(`^\\$\\{${secret}:\\?`)));
      expect(envFile, `deploy/.env.example lists ${secret}`).toHaveProperty(secret);
    }
  });

  it('gives a stopping instance longer than SHUTDOWN_TIMEOUT_MS, and checks readiness on /readyz', () => {
    expect(durationMs(app.stop_grace_period ?? '10s')).toBeGreaterThan(setting(appEnv, 'SHUTDOWN_TIMEOUT_MS') as number);
    expect(app.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${setting(appEnv, 'PORT') as number}/readyz`);
  });

  it('serves deploy/nginx\'s template with every placeholder set, pointing at the instances', () => {
    const nginx = compose.services.nginx as ComposeService;
    expect(nginx.volumes).toContain('./nginx/instantchat.conf.template:/etc/nginx/templates/default.conf.template:ro');
    expect(existsSync(new URL('nginx/instantchat.conf.template', DEPLOY))).toBe(true);
    const env = environmentOf(nginx);
    const placeholders = placeholdersOf(readFileSync(NGINX_TEMPLATE, 'utf8'));
    expect(placeholders.sort()).toEqual(['INSTANTCHAT_LISTEN', 'INSTANTCHAT_UPSTREAM']);
    for (const name of placeholders) {
      expect(env, name).toHaveProperty(name);
      expect(name, 'NGINX_ENVSUBST_FILTER lets it through').toMatch(new RegExp(env.NGINX_ENVSUBST_FILTER ?? ''));
    }
    expect(env.INSTANTCHAT_UPSTREAM).toMatch(
      new RegExp(`server ${appName}:${setting(appEnv, 'PORT') as number} resolve( [^;]*)?;`),
    );
    // A failed upstream is retried after a second, not nginx's default 10 s (README, "Deploying").
    expect(env.INSTANTCHAT_UPSTREAM).toContain('max_fails=1 fail_timeout=1s');
  });
});

describe('deploy/nginx/instantchat.conf.template', () => {
  const template = readFileSync(NGINX_TEMPLATE, 'utf8');
  const live = template.replace(/#.*$/gm, ''); // directives only
  const location = (name: string) => {
    const match = new RegExp(`location ${name.replace(/[.*+?^$()[\]\\/]/g, '\\$&')} \\{([^}]*)\\}`).exec(live);
    if (match === null) throw new Error(`no location ${name}`);
    return match[1] as string;
  };
  const directive = (block: string, name: string) => new RegExp(`\\b${name}\\s+([^;]+);`).exec(block)?.[1]?.trim();

  it('asks for an upgrade only when the client did (the map $http_upgrade idiom), never unconditionally', () => {
    expect(live).toMatch(/map \$http_upgrade \$connection_upgrade \{/);
    expect(live).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(live).not.toMatch(/proxy_set_header Connection\s+"?upgrade"?;/i);
  });

  it('keeps both WebSocket paths open longer than the server\'s heartbeat timeout', () => {
    for (const name of ['/socket.io/', '= /ws/notifications']) {
      expect(durationMs(directive(location(name), 'proxy_read_timeout') ?? '60s'), name).toBeGreaterThan(SERVER_IDLE_MS);
      expect(durationMs(directive(location(name), 'proxy_send_timeout') ?? '60s'), name).toBeGreaterThan(SERVER_IDLE_MS);
    }
  });

  it('lets webhook bodies up to WEBHOOK_BODY_LIMIT through, and passes the client address, scheme and request id', () => {
    const limit = directive(location('= /api/webhooks/instagram'), 'client_max_body_size') ?? '';
    expect(bytes.parse(`${limit}b`)).toBe(schemaDefault('WEBHOOK_BODY_LIMIT'));
    expect(live).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
    expect(live).toMatch(/proxy_set_header X-Forwarded-Proto \$scheme;/);
    expect(live).toMatch(/proxy_set_header X-Request-Id \$instantchat_request_id;/);
  });
});

describe('deploy/k8s', () => {
  type Manifest = { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>;
  const files = readdirSync(new URL('k8s/', DEPLOY)).filter((f) => /\.ya?ml$/.test(f));
  const manifests: Manifest[] = files.flatMap((file) =>
    parseAllDocuments(read(`k8s/${file}`)).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      return doc.toJS() as Manifest;
    }),
  );
  const ofKind = <T,>(kind: string) => manifests.filter((m) => m.kind === kind) as unknown as Array<Manifest & T>;

  interface Probe { httpGet: { path: string; port: string | number } }
  interface Container {
    image: string;
    ports: Array<{ name?: string; containerPort: number }>;
    env?: Array<{ name: string; value?: string }>;
    envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
    readinessProbe: Probe;
    livenessProbe: Probe;
  }
  interface PodSpec { terminationGracePeriodSeconds?: number; containers: Container[] }
  type Deployment = { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };
  type Service = { spec: { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string | number }> } };
  type Ingress = { spec: { rules: Array<{ http: { paths: Array<{ path: string; pathType: string; backend: { service: { name: string; port: { name?: string; number?: number } } } }> } }> } };
  type Data = { data?: Record<string, string>; stringData?: Record<string, string> };

  const [deployment] = ofKind<Deployment>('Deployment');
  const pod = deployment?.spec.template.spec as PodSpec;
  const container = pod?.containers[0] as Container;
  /** What the pods' environment holds: every key of the ConfigMaps and Secrets they import, and their own `env`. */
  const podEnv: Record<string, string> = {};
  const imported: string[] = [];
  for (const source of container?.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef !== undefined ? 'ConfigMap' : 'Secret';
    const found = ofKind<Data>(kind).find((m) => m.metadata.name === ref?.name);
    if (found === undefined) throw new Error(`the Deployment imports ${kind} ${ref?.name}, which deploy/k8s does not define`);
    imported.push(`${kind}/${found.metadata.name}`);
    // A Secret's `data` is base64; `stringData` is plain and wins over `data`.
    const decode = (value: string) => (kind === 'Secret' ? Buffer.from(value, 'base64').toString() : value);
    for (const [name, value] of Object.entries(found.data ?? {})) podEnv[name] = decode(value);
    Object.assign(podEnv, found.stringData);
  }
  for (const { name, value } of container?.env ?? []) podEnv[name] = value ?? '';

  it('one Deployment of three pods, configured from a ConfigMap and, for the secrets, a Secret', () => {
    expect(ofKind('Deployment')).toHaveLength(1);
    expect(deployment?.spec.replicas).toBe(3);
    expect(imported.sort()).toEqual(['ConfigMap/instantchat-config', 'Secret/instantchat-secrets']);
    expect(repositoryOf(container.image)).toBe(IMAGE_NAME);
    const secret = ofKind<Data>('Secret')[0] as Data;
    const configMap = ofKind<Data>('ConfigMap')[0] as Data;
    const secrets = ['JWT_SECRET', 'INSTAGRAM_APP_SECRET', 'INSTAGRAM_WEBHOOK_VERIFY_TOKEN', 'ADMIN_TOKEN', 'METRICS_TOKEN', 'REDIS_URL'];
    expect(Object.keys({ ...secret.data, ...secret.stringData }).sort()).toEqual([...secrets].sort());
    expect(Object.keys(configMap.data ?? {}).filter((name) => secrets.includes(name))).toEqual([]);
  });

  it('sets only variables of the config schema, with values it accepts', () => {
    expect(Object.keys(podEnv).filter((name) => !VARIABLES.has(name))).toEqual([]);
    const parsed = envSchema.safeParse(podEnv);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(podEnv).toMatchObject({ NODE_ENV: 'production', TRUST_PROXY: '1' });
    expect(podEnv.REDIS_URL).toMatch(/^rediss?:\/\//);
  });

  it('probes readiness on /readyz and liveness on /healthz, on the port the server listens on', () => {
    const port = setting(podEnv, 'PORT') as number;
    const portOf = (probe: Probe) =>
      typeof probe.httpGet.port === 'number' ? probe.httpGet.port : container.ports.find((p) => p.name === probe.httpGet.port)?.containerPort;
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(portOf(container.readinessProbe)).toBe(port);
    expect(portOf(container.livenessProbe)).toBe(port);
  });

  it('gives a stopping pod longer than SHUTDOWN_TIMEOUT_MS before the kubelet kills it', () => {
    const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
    expect(graceMs).toBeGreaterThan(setting(podEnv, 'SHUTDOWN_TIMEOUT_MS') as number);
  });

  it('a Service selects the pods, and the Ingress routes to it with cookie affinity, long WebSocket timeouts and the webhook body limit', () => {
    const [service] = ofKind<Service>('Service');
    const [ingress] = ofKind<Ingress>('Ingress');
    expect(service?.spec.selector).toEqual(deployment?.spec.template.metadata.labels);
    expect(deployment?.spec.selector.matchLabels).toEqual(deployment?.spec.template.metadata.labels);
    for (const port of service?.spec.ports ?? []) expect(container.ports.map((p) => p.name)).toContain(port.targetPort);

    const annotations = ingress?.metadata.annotations ?? {};
    expect(annotations['nginx.ingress.kubernetes.io/affinity']).toBe('cookie');
    expect(durationMs(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'] ?? '60')).toBeGreaterThan(SERVER_IDLE_MS);
    expect(durationMs(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'] ?? '60')).toBeGreaterThan(SERVER_IDLE_MS);
    expect(bytes.parse(`${annotations['nginx.ingress.kubernetes.io/proxy-body-size']}b`)).toBe(setting(podEnv, 'WEBHOOK_BODY_LIMIT'));

    const paths = ingress?.spec.rules.flatMap((rule) => rule.http.paths) ?? [];
    for (const { backend } of paths) {
      expect(backend.service.name).toBe(service?.metadata.name);
      expect(service?.spec.ports.map((p) => p.name)).toContain(backend.service.port.name);
    }
    const routed = (path: string) => paths.some((rule) => ingressRoutes(rule, path));
    // What browsers and Meta need is routed (positive control) ...
    for (const path of ['/socket.io/', '/ws/notifications', '/api/webhooks/instagram']) expect(routed(path), path).toBe(true);
    // ... the metrics and the admin API are not.
    for (const path of ['/metrics', '/api/admin/clients', '/api/admin/events']) expect(routed(path), path).toBe(false);
  });
});
