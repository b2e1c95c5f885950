// Lint: ESLint over the TypeScript and scripts (eslint.config.mjs), ruff over
// the Python (ruff.toml), in its own small environment under .txlens-dev/.
// `npm test` runs it after the type check; `node scripts/lint.mjs` alone.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePythonEnv } from './python-env.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function lint({ say = (m) => process.stderr.write(`txlens lint: ${m}\n`) } = {}) {
  say('eslint…');
  const eslint = spawnSync(process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.'], { cwd: root, stdio: 'inherit' });
  say('ruff…');
  const python = ensurePythonEnv('lint');
  const ruff = spawnSync(python, ['-m', 'ruff', 'check', '--quiet', '.'], { cwd: root, stdio: 'inherit' });
  const failed = [eslint.status !== 0 && 'eslint', ruff.status !== 0 && 'ruff'].filter(Boolean);
  if (failed.length) say(`${failed.join(' and ')} found problems`);
  return failed.length === 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(lint() ? 0 : 1);
}
