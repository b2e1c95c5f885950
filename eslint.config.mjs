// Lint for the TypeScript sources, tests, benchmarks and build scripts
// (typescript-eslint's recommended rules; `tsc --noEmit` does the type check).
// `npm test` runs it; `npx eslint .` alone.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'dist/', 'out/', 'media/timeline.js', '.txlens-dev/', '.vscode-test/', 'test-artifacts/', 'test/fixtures/', 'examples/', 'bench/results/', '**/*.d.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', queueMicrotask: 'readonly', URL: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable', performance: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', structuredClone: 'readonly', AbortController: 'readonly', fetch: 'readonly' },
    },
    rules: {
      // Unused names are a type-check error already (noUnusedLocals); `_`-prefixed ones are deliberate.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The timeline page runs in the browser (media/timeline.js is built from it).
    files: ['src/report/page/**/*.ts'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', getComputedStyle: 'readonly', Element: 'readonly', Node: 'readonly', MessageEvent: 'readonly' } },
  },
);
