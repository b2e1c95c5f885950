// Installs the locked node packages (`npm ci`). better-sqlite3, which the tests
// and the Node fixtures use, has no prebuilt binary here and is compiled by
// node-gyp: point it at the headers of the Node that runs this script (its
// install prefix has include/node) so no header download is needed.
// Used by scripts/test.mjs and scripts/demo.mjs on a fresh clone, and by CI.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The environment for npm commands that may compile native packages. */
export function nativeBuildEnv(env = process.env) {
  if (env.npm_config_nodedir) return env;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node.h')) ? { ...env, npm_config_nodedir: prefix } : env;
}

/** Runs `npm ci` in the repository, or in a package folder of it; returns its exit status. */
export function npmCi(dir = root) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit', env: nativeBuildEnv() });
  return r.status ?? 1;
}

/**
 * Test runners installed apart from the project's packages, each a package folder of its own:
 * vitest 4 beside the project's vitest 3, whose peers conflict with it, and mocha 12 beside
 * mocha 11 (the agent hooks mocha by its package folder's name, which an alias would change), and
 * Node 24 (an npm package of the Linux x64 build) with what needs Node 22 or later.
 */
export const RUNNER_PACKAGES = ['test/runners/vitest-4', 'test/runners/mocha-12', 'test/runners/node-24'].map((dir) => join(root, dir));

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(npmCi());
}
