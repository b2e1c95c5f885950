/**
 * Which command runs the user's tests, and how to narrow it to one file or
 * one test. Detection reads only what the workspace holds (marker files,
 * package.json); nothing is run.
 */
import type { Framework, LocatedTest } from './locate';

export type Runner = Framework | 'npm';

export interface WorkspaceProbe {
  /** Whether a path relative to the workspace root exists. */
  has(relPath: string): boolean;
  /** Text of a file relative to the root, or undefined. */
  read(relPath: string): string | undefined;
  platform: NodeJS.Platform;
}

export interface DetectedCommand {
  /** The runner's own command: a file or a test is added to it to trace just that. */
  command: string;
  runner: Runner;
  why: string;
  /**
   * What runs the whole suite when `command` alone would not find it: the test
   * script, whose paths node's runner and mocha need (node 20's `--test` finds
   * only .js files under its default patterns, mocha only ./test).
   */
  suiteCommand?: string;
}

const VENVS = ['.venv', 'venv', 'env', '.env'];

function venvPython(probe: WorkspaceProbe): string | undefined {
  for (const v of VENVS) {
    const rel = probe.platform === 'win32' ? `${v}/Scripts/python.exe` : `${v}/bin/python`;
    if (probe.has(rel)) return rel;
  }
  return undefined;
}

function isPytestProject(probe: WorkspaceProbe): boolean {
  if (probe.has('pytest.ini') || probe.has('conftest.py') || probe.has('tests/conftest.py') || probe.has('test/conftest.py')) return true;
  if (/\[tool\.pytest/.test(probe.read('pyproject.toml') ?? '')) return true;
  if (/\[(tool:)?pytest\]/.test(probe.read('setup.cfg') ?? '') || /\[pytest\]/.test(probe.read('tox.ini') ?? '')) return true;
  return false;
}

interface PackageJson {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Options of node and mocha whose value is the next word, so that word is no path to run. */
const OPTIONS_WITH_VALUE = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--test-reporter', '--test-reporter-destination', '--config', '--reporter', '-R', '--ui', '-u', '--timeout', '-t', '--grep', '-g', '--spec']);

/**
 * Whether a test script names what to run (paths, globs) or chains other
 * commands: then only the script itself runs the whole suite as the project does.
 */
function scriptNamesPaths(script: string): boolean {
  if (/&&|\|\||[;|]/.test(script)) return true;
  const words = splitCommand(script);
  return words.slice(1).some((w, i) => !w.startsWith('-') && !OPTIONS_WITH_VALUE.has(words[i]) && !/^(node|tsx|mocha|npx|--test)$/.test(w));
}

export function detectTestCommand(probe: WorkspaceProbe): DetectedCommand | undefined {
  if (isPytestProject(probe)) {
    const py = venvPython(probe);
    if (py) return { command: `${quote(py)} -m pytest -q`, runner: 'pytest', why: `pytest in ${py.split('/')[0]}` };
    return { command: `${probe.platform === 'win32' ? 'python' : 'python3'} -m pytest -q`, runner: 'pytest', why: 'pytest configuration found' };
  }
  let pkg: PackageJson | undefined;
  try {
    const text = probe.read('package.json');
    pkg = text ? (JSON.parse(text) as PackageJson) : undefined;
  } catch {
    pkg = undefined;
  }
  if (pkg) {
    const script = pkg.scripts?.test ?? '';
    const deps = { ...pkg.dependencies, ...pkg.devDependencies };
    const uses = (name: string) => new RegExp(`(^|[\\s/])${name}(\\s|$)`).test(script) || name in deps;
    if (uses('vitest')) return { command: 'npx vitest run', runner: 'vitest', why: 'vitest in package.json' };
    if (uses('jest')) return { command: 'npx jest', runner: 'jest', why: 'jest in package.json' };
    const suite = scriptNamesPaths(script) ? { suiteCommand: 'npm test' } : {};
    if (uses('mocha')) return { command: 'npx mocha', runner: 'mocha', why: 'mocha in package.json', ...(/\bmocha\b/.test(script) ? suite : {}) };
    // TypeScript through tsx: its loader must stay on the command that runs one test.
    if (/node\s+(.*\s)?--import[\s=]tsx\s+(.*\s)?--test\b/.test(script)) return { command: 'node --import tsx --test', runner: 'node:test', why: 'node --import tsx --test in package.json', ...suite };
    if (/\btsx\s+(.*\s)?--test\b/.test(script)) return { command: 'npx tsx --test', runner: 'node:test', why: 'tsx --test in package.json', ...suite };
    if (/node\s+(.*\s)?--test\b/.test(script)) return { command: 'node --test', runner: 'node:test', why: 'node --test in package.json', ...suite };
    if (script && !/no test specified/.test(script)) return { command: 'npm test', runner: 'npm', why: 'the test script in package.json' };
  }
  if (probe.has('tests') || probe.has('test')) {
    const py = venvPython(probe);
    if (py) return { command: `${quote(py)} -m pytest -q`, runner: 'pytest', why: `a tests folder and ${py.split('/')[0]}` };
  }
  return undefined;
}

/** Splits a command line into words: whitespace-separated, with '…' and "…" quoting and backslash escapes. */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let q: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** The runner a command line starts, read from its words. */
export function runnerOf(argv: string[]): Runner {
  const words = argv.map((w) => w.split(/[\\/]/).pop()!.replace(/\.(cmd|exe)$/, ''));
  if (words.includes('pytest') || words.includes('py.test')) return 'pytest';
  if (words.includes('vitest')) return 'vitest';
  if (words.includes('jest')) return 'jest';
  if (words.includes('mocha')) return 'mocha';
  // node's own runner, also through tsx (`tsx --test`, `npx tsx --test`), which passes node's flags on.
  if (words.includes('--test') && (words[0] === 'node' || words.includes('tsx'))) return 'node:test';
  return 'npm';
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The command narrowed to one file, or one test in it. `file` is relative to
 * the working directory, with forward slashes.
 */
export function commandForSelection(base: string[], file: string | undefined, test: LocatedTest | undefined): string[] {
  if (!file) return base;
  const runner = runnerOf(base);
  switch (runner) {
    case 'pytest':
      return [...base, test ? [file, ...test.path].join('::') : file];
    case 'vitest':
    case 'jest':
      return test ? [...base, file, '-t', escapeRegExp(test.path.join(' '))] : [...base, file];
    case 'mocha':
      return test ? [...base, file, '--grep', escapeRegExp(test.path.join(' '))] : [...base, file];
    case 'node:test':
      return test ? [...base, `--test-name-pattern=${escapeRegExp(test.name)}`, file] : [...base, file];
    default:
      // An npm script's runner is unknown: pass the file after `--` and let the script narrow.
      return base.includes('--') ? [...base, file] : [...base, '--', file];
  }
}
