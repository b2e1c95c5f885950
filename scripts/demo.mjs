// `npm run demo`: builds txlens, sets up a Python environment with SQLAlchemy
// 2 and pytest (once), copies examples/quickstart to a scratch folder and runs
// its tests under `txlens run` on SQLite, printing what txlens saw.
// Three of the example's four tests fail on purpose: they are the bugs txlens
// exists to explain, so a finished report is a successful demo.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePythonEnv } from './python-env.mjs';
import { npmCi } from './npm-ci.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function step(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status;
}

try {
  if (!existsSync(join(root, 'node_modules'))) {
    process.stderr.write('txlens demo: installing node packages (npm ci)…\n');
    if (npmCi() !== 0) throw new Error('npm ci failed');
  }
  if (step(process.execPath, ['esbuild.mjs']) !== 0) throw new Error('build failed');
  const python = ensurePythonEnv('sa20');
  const work = mkdtempSync(join(tmpdir(), 'txlens-demo-'));
  cpSync(join(root, 'examples', 'quickstart'), work, { recursive: true });
  process.stderr.write(`txlens demo: running examples/quickstart in ${work}\n\n`);
  const status = step(process.execPath, [join(root, 'dist', 'cli.js'), 'run', '--', python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: work });
  // 2 means txlens itself failed; anything else is the example's own (expected) test result.
  if (status === 2) process.exit(2);
  process.stderr.write(`\nThe trace is kept in ${join(work, '.txlens', 'runs')}; analyse it again with: node dist/cli.js report <folder>\n`);
} catch (e) {
  process.stderr.write(`txlens demo: ${e.message}\n`);
  process.exit(2);
}
