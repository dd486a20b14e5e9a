// Lint, type-aware: the rules the Temporal SDK and its samples hold their code
// to, plus the sandbox rule for workflow files. `npm run lint`; `npm test` runs it first.
import js from '@eslint/js';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins,
// no I/O, no activity implementations (types only).
const NODE_BUILTINS = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.tools/**',
      '.data/**',
      'test-artifacts/**',
      'bench-results/**',
      'coverage/**',
      'test/consumer/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.js', '.mjs', '.d.mts'] })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      'import-x/no-cycle': 'error',
      // Validation and the SMTP code match control characters on purpose (to refuse them).
      'no-control-regex': 'off',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: NODE_BUILTINS.flatMap((m) => [m, `node:${m}`]).map((name) => ({
            name,
            message: 'workflow code runs in the deterministic sandbox: no Node built-ins',
          })),
          patterns: [
            { group: ['node:*'], message: 'workflow code runs in the deterministic sandbox: no Node built-ins' },
            {
              group: [
                'pg',
                'nodemailer',
                'nodemailer/*',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              message: 'no I/O in workflow code: call an activity',
            },
            {
              group: ['../activities/*', '!../activities/index.ts'],
              message: 'workflows import activity types only, through ../activities/index.ts',
              allowTypeImports: true,
            },
          ],
        },
      ],
      '@typescript-eslint/no-restricted-imports': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
