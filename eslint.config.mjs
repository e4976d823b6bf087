// ESLint (flat config): typescript-eslint's recommended rules with type information, plus the
// rules that hold the design's boundaries. `npm run lint`; `npm test` runs it too.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

/** Node's built-in modules, in both spellings (`fs`, `node:fs`). */
const NODE_BUILTINS = builtinModules.flatMap((name) => (name.startsWith('node:') ? [name] : [name, `node:${name}`]));

export default tseslint.config(
  {
    ignores: ['node_modules/', 'web/build/', 'bench/results/', '.data/', '.scratch/', '**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ['vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A promise nobody awaits loses its errors: in a workflow, a lost activity or timer.
      '@typescript-eslint/no-floating-promises': 'error',
      // A `let` that closures read before its one assignment (a worker made after its health server) stays a let.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
    },
  },
  {
    files: ['web/app/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: { ...globals.browser } },
    rules: reactHooks.configs.recommended.rules,
  },

  // Workflow code is replayed: no I/O, no clocks, no Node, and activities only as types.
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...NODE_BUILTINS.map((name) => ({ name, message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.' })),
            { name: 'openai', message: 'Model calls are activities.' },
            { name: 'pino', message: 'Workflows log with `log` from @temporalio/workflow.' },
            { name: '@temporalio/client', message: 'Workflow code uses @temporalio/workflow only.' },
            { name: '@temporalio/worker', message: 'Workflow code uses @temporalio/workflow only.' },
            { name: '@temporalio/activity', message: 'Workflow code uses @temporalio/workflow only.' },
            { name: '../activities', message: 'Import activities as types only (proxyActivities).', allowTypeImports: true },
          ],
          patterns: [
            { group: ['**/config', '**/config/*'], message: 'Configuration is read by the worker, not by workflow code.' },
            { group: ['**/codec', '**/codec/*'], message: 'Payload codecs run in the worker and client, not in workflow code.' },
            { group: ['**/activities/*'], message: 'Import activities as types only (proxyActivities).', allowTypeImports: true },
            { group: ['**/web/*'], message: 'Workflow code does not know the web app.' },
            {
              // A gitignore-style group cannot let ref back in once the folder matches: a regex.
              regex: '(^|/)artifacts(/(?!ref$)[^/]+)*$',
              message: 'Artifact storage is I/O, for activities: workflow code holds ArtifactRefs (../artifacts/ref).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },

  // The contract's browser-safe modules: nothing at run time but each other (no SDK, no zod).
  {
    files: ['contract/data.ts', 'contract/story-reducer.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['*', '!./data'], message: 'The browser loads this module: it imports types only.', allowTypeImports: true }],
        },
      ],
    },
  },

  // Activities run in the worker: never the web app.
  {
    files: ['activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/web/*', '**/web'], message: 'Activities do not import the web app.' }] },
      ],
    },
  },

  // Artifact storage is imported by activities and by the web app's server modules: no workflow
  // code, no web app.
  {
    files: ['artifacts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@temporalio/workflow', message: 'Artifact storage runs in activities and the web app, not in workflows.' }],
          patterns: [
            { group: ['**/workflows', '**/workflows/*'], message: 'Artifact storage does not know the workflow.' },
            { group: ['**/web/*', '**/web'], message: 'Artifact storage does not import the web app.' },
          ],
        },
      ],
    },
  },

  // Browser code (everything the client bundle may load): nothing from Temporal's packages. Server
  // modules (*.server.ts) and resource routes are the server's; route modules import those.
  {
    files: ['web/app/**/*.{ts,tsx}'],
    ignores: ['web/app/**/*.server.ts', 'web/app/**/*.test.ts', 'web/app/entry.server.tsx'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@temporalio/*'],
              message: 'Browser code imports nothing from Temporal: put it in a .server.ts module.',
              allowTypeImports: true,
            },
            {
              group: ['**/contract/messages', '**/contract/schemas'],
              message:
                "Browser code imports the contract's data (contract/data, contract/story-reducer), not its Temporal messages or zod schemas.",
              allowTypeImports: true,
            },
            {
              group: ['**/workflows', '**/workflows/*'],
              message: 'Browser code imports the contract, never the workflow.',
              allowTypeImports: true,
            },
            {
              // A gitignore-style group cannot let ref back in once the folder matches: a regex.
              regex: '(^|/)artifacts(/(?!ref$)[^/]+)*$',
              message: 'Browser code reads artifacts through a .server.ts module (it may use artifacts/ref).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },

  {
    files: ['**/*.test.ts', 'tests/**/*.ts', 'bench/**/*.ts', 'faults/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
