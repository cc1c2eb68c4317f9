// Lint rules after Temporal's TypeScript samples: typescript-eslint's recommended rules with
// Prettier deciding the layout, floating promises as errors (an un-awaited activity or workflow
// call is a bug), unused names allowed only with a leading `_`, and workflows/ kept free of Node
// modules and of the clients that do I/O, so the boundary the bundler enforces at start-up fails
// at lint time instead.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', 'test/fixtures/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // A variable that closures read before its one assignment cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Workflow code is deterministic: no Node modules (do I/O in an activity).' },
            {
              group: [
                '../activities/*',
                '!../activities/contracts',
                '../legacy/*',
                '../store/*',
                '../im/client',
                '../im/usersig',
                '../im/config',
              ],
              allowTypeImports: true,
              message: 'Workflows call activities through proxies; only types (and im/ facts) come from these folders.',
            },
          ],
          paths: [
            'fs',
            'path',
            'os',
            'crypto',
            'http',
            'https',
            'net',
            'child_process',
            'worker_threads',
            'axios',
            'better-sqlite3',
            'pg',
            'fastify',
          ].map((name) => ({
            name,
            message: 'Workflow code is deterministic: no Node modules or I/O clients (do I/O in an activity).',
          })),
        },
      ],
    },
  },
  {
    // Tests read IM's raw JSON answers, field by field, as the docs print them.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
  },
  prettier,
);
