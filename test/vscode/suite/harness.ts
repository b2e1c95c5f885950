// A minimal test runner for the in-editor suite, with the contract VS Code's
// extension test runners expect from `extensionTestsPath`: a module exporting
// `run(): Promise<void>` that rejects when a test failed. Kept local instead of
// adding mocha, since the suite needs only ordered tests, skips and timeouts.
//
// Each result is logged on a line of its own (`ok - …`, `not ok - …`,
// `skip - …`); scripts/vscode-e2e.mjs echoes those lines as progress.
//
// When the suite runs under scripts/vscode-e2e.mjs, TXLENS_E2E_SCREENSHOTS names
// the artifacts folder, and the suite can ask that script, which drives the
// browser, for screenshots and for a look inside webviews. Under desktop VS Code
// (test/vscode/run-electron.mjs) nobody drives a browser, and both are no-ops.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

interface Case {
  suite: string;
  name: string;
  fn: () => Promise<void> | void;
  skip?: string;
  timeoutMs: number;
}

const cases: Case[] = [];
const DEFAULT_TIMEOUT_MS = 5 * 60_000;
let currentSuite = 'quickstart';

/**
 * Names the editor session the tests registered after it belong to. Each
 * session opens its own workspace (test/vscode/workspace.mjs) and runs only its
 * own tests: TXLENS_E2E_SUITE names it.
 */
export function suite(name: string): void {
  currentSuite = name;
}

/** The session running now. */
export function activeSuite(): string {
  return process.env.TXLENS_E2E_SUITE || 'quickstart';
}

/** Registers a test; tests run in the order they are registered, and a later one may use what an earlier one set up. */
export function test(name: string, fn: () => Promise<void> | void, timeoutMs = DEFAULT_TIMEOUT_MS): void {
  cases.push({ suite: currentSuite, name, fn, timeoutMs });
}

/** Registers a test that is reported as skipped with `reason` (kept in place so it runs again once the reason is gone). */
export function skip(name: string, reason: string, fn: () => Promise<void> | void): void {
  cases.push({ suite: currentSuite, name, fn, skip: reason, timeoutMs: DEFAULT_TIMEOUT_MS });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function runRegistered(): Promise<void> {
  let failed = 0;
  let passed = 0;
  let skipped = 0;
  const mine = cases.filter((c) => c.suite === activeSuite());
  if (mine.length === 0) throw new Error(`no in-editor tests registered for the session ${activeSuite()}`);
  for (const c of mine) {
    if (c.skip !== undefined) {
      skipped++;
      console.log(`skip - ${c.name}: ${c.skip}`);
      continue;
    }
    const t0 = Date.now();
    try {
      await withTimeout(Promise.resolve().then(c.fn), c.timeoutMs, c.name);
      passed++;
      console.log(`ok - ${c.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
      console.log(`not ok - ${c.name}\n${detail.replace(/^/gm, '    ')}`);
      await screenshot(`failed-${c.name}`);
    }
  }
  console.log(`txlens vscode suite (${activeSuite()}): ${passed} passed, ${failed} failed, ${skipped} skipped`);
  if (failed > 0) throw new Error(`${failed} of ${mine.length} in-editor tests failed`);
}

const artifacts = process.env.TXLENS_E2E_SCREENSHOTS;
const MARKER = 'txlens-e2e:';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function slug(name: string): string {
  return name.replace(/[^\w.-]+/g, '_');
}

async function waitForFile(file: string, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100)) {
    if (existsSync(file)) return true;
  }
  return false;
}

/**
 * Asks the browser driver for a screenshot of the workbench as it is now, and
 * waits until it is saved, so the next step cannot change the picture.
 * The short pause first lets the workbench paint what the last command changed.
 */
export async function screenshot(name: string): Promise<void> {
  if (!artifacts) return;
  const file = join(artifacts, `${slug(name)}.png`);
  rmSync(file, { force: true });
  await sleep(800);
  console.log(`${MARKER}screenshot:${slug(name)}`);
  if (!(await waitForFile(file, 20_000))) console.log(`(no screenshot ${name}: the driver did not answer)`);
}

export interface FrameQueryResult {
  url: string;
  count: number;
  /** Text content of each match (the first 200), trimmed. */
  texts: string[];
  /** The data-* attributes of each match (the first 200). */
  data: Record<string, string>[];
}

/**
 * Asks the browser driver to look inside every frame of the workbench (webviews
 * are iframes) for elements matching `selector`; resolves with what it found in
 * each frame, or undefined when no driver is there to ask.
 */
export async function queryFrames(name: string, selector: string): Promise<FrameQueryResult[] | undefined> {
  if (!artifacts) return undefined;
  const file = join(artifacts, `${slug(name)}.query.json`);
  rmSync(file, { force: true });
  console.log(`${MARKER}query:${slug(name)} ${selector}`);
  if (!(await waitForFile(file, 20_000))) throw new Error(`the browser driver did not answer the frame query ${name}`);
  return JSON.parse(readFileSync(file, 'utf8')) as FrameQueryResult[];
}
