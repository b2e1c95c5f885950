// `npm run demo`: builds txlens, sets up a Python environment with SQLAlchemy
// 2 and pytest (once), copies examples/quickstart to a scratch folder and runs
// its tests under `txlens run` on SQLite, printing what txlens saw; then the
// same for examples/quickstart-node, a node:test suite on better-sqlite3.
// Most of the examples' tests fail on purpose: they are the bugs txlens
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

/** Copies examples/<name> to a scratch folder and runs `command` there under `txlens run`. */
function demo(name, command, env = process.env) {
  const work = mkdtempSync(join(tmpdir(), `txlens-demo-${name}-`));
  cpSync(join(root, 'examples', name), work, { recursive: true });
  process.stderr.write(`\ntxlens demo: running examples/${name} in ${work}\n\n`);
  const status = step(process.execPath, [join(root, 'dist', 'cli.js'), 'run', '--', ...command], { cwd: work, env });
  // 2 means txlens itself failed; anything else is the example's own (expected) test result.
  if (status === 2) process.exit(2);
  process.stderr.write(`\nThe trace is kept in ${join(work, '.txlens', 'runs')}; analyse it again with: node dist/cli.js report <folder>\n`);
}

try {
  if (!existsSync(join(root, 'node_modules'))) {
    process.stderr.write('txlens demo: installing node packages (npm ci)…\n');
    if (npmCi() !== 0) throw new Error('npm ci failed');
  }
  if (step(process.execPath, ['esbuild.mjs']) !== 0) throw new Error('build failed');
  const python = ensurePythonEnv('sa20');
  demo('quickstart', [python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']);
  // The Node example loads better-sqlite3 from txlens's own node_modules: nothing to install in the copy.
  // node:test's dot reporter: txlens's report under it tells each failure's story.
  demo('quickstart-node', [process.execPath, '--test', '--test-reporter=dot'], { ...process.env, NODE_PATH: join(root, 'node_modules') });
} catch (e) {
  process.stderr.write(`txlens demo: ${e.message}\n`);
  process.exit(2);
}
