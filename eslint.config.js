// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Which folders of src/ each folder may import from. Data flows one way: Meta's webhooks → notifications (domain) →
 * delivery → transports → browsers, with the edges (http, webhooks, cluster, transports) above the domain, and
 * server/ wiring everything. Anything not listed is refused by the rule below, and the table must stay acyclic.
 */
const LAYERS = {
  config: [],
  notifications: [],
  protocol: ['notifications'],
  observability: ['config', 'protocol'],
  admission: ['protocol'],
  auth: ['config', 'notifications', 'protocol'],
  delivery: ['notifications', 'observability', 'protocol'],
  cluster: ['config', 'notifications', 'observability', 'protocol'],
  session: ['auth', 'config', 'delivery', 'notifications', 'observability', 'protocol'],
  transports: ['admission', 'auth', 'delivery', 'notifications', 'observability', 'protocol', 'session'],
  webhooks: ['admission', 'auth', 'notifications', 'observability', 'protocol'],
  http: ['admission', 'auth', 'config', 'notifications', 'observability', 'protocol', 'session', 'webhooks'],
  server: ['admission', 'auth', 'cluster', 'config', 'delivery', 'http', 'notifications', 'observability', 'protocol', 'session', 'transports', 'webhooks'],
  cli: ['auth', 'config', 'notifications', 'protocol', 'webhooks'],
};

/** Throws at lint time if the layer table has a cycle: a folder-level import loop could then creep back. */
function assertAcyclic(graph) {
  const state = new Map();
  const visit = (node, path) => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'visiting') throw new Error(`eslint.config.js LAYERS has a cycle: ${[...path, node].join(' → ')}`);
    state.set(node, 'visiting');
    for (const next of graph[node] ?? []) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of Object.keys(graph)) visit(node, []);
}
assertAcyclic(LAYERS);

const folderRules = Object.entries(LAYERS).map(([folder, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((other) => other !== folder && !allowed.includes(other));
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((other) => ({
            group: [`**/${other}/**`, `../${other}/*`, `../../${other}/*`],
            message: `src/${folder}/ may import only from ${allowed.length > 0 ? allowed.join(', ') : 'no other folder'} (eslint.config.js LAYERS): data flows one way.`,
          })),
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-artifacts/', 'client/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  ...folderRules,
  {
    files: ['public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src/cli/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
