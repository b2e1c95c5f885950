// The standalone timeline in a real headless Chromium: it draws a lane per
// session, keeps hostile SQL as text (no dialog, no injected element, no CSP
// violation), shows details on click, stays readable (no tick labels on top of
// each other), and leaves screenshots in test-artifacts/timeline/ for people
// to look at. Skipped only when no Chromium can be found on this machine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { timelineView } from '../../src/report/timeline';
import { timelineHtml, webviewHtml } from '../../src/report/timeline-html';
import { quickstartRun } from '../editor/quickstart-run';
import { repoRoot } from '../support/env';
import { HOSTILE_INSERT, hostileRun, largeRun, suiteRun } from './timeline-runs';

function findChromium(): string | undefined {
  const fromEnv = process.env.TXLENS_CHROMIUM;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']) if (existsSync(p)) return p;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('which', [name], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  try {
    const bundled = chromium.executablePath();
    if (bundled && existsSync(bundled)) return bundled;
  } catch {
    // playwright-core ships no browser of its own
  }
  return undefined;
}

const executable = findChromium();
const missing = 'no Chromium found (install the chromium package or set TXLENS_CHROMIUM to a Chrome/Chromium binary)';
// `npm test` installs Chromium before this file runs; under CI a missing browser is a failure, never a silent skip.
const skip = executable || process.env.CI ? false : missing;
const artifacts = join(repoRoot, 'test-artifacts', 'timeline');
const work = mkdtempSync(join(tmpdir(), 'txlens-timeline-browser-'));
let context: BrowserContext | undefined;

before(async () => {
  if (!executable) {
    if (process.env.CI) throw new Error(missing);
    return;
  }
  mkdirSync(artifacts, { recursive: true });
  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: executable,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1500, height: 900 },
  });
});

after(async () => {
  await context?.close();
  rmSync(work, { recursive: true, force: true });
});

interface Opened {
  page: Page;
  problems: string[];
  counts: Record<string, string>;
}

async function open(file: string, opts: { dark?: boolean; width?: number } = {}): Promise<Opened> {
  const page = await context!.newPage();
  await page.setViewportSize({ width: opts.width ?? 1500, height: 900 });
  await page.emulateMedia({ colorScheme: opts.dark ? 'dark' : 'light' });
  const problems: string[] = [];
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`request: ${r.url()}`);
  });
  await page.goto(`file://${file}`);
  await page.waitForSelector('#txlens-timeline[data-lanes]');
  const counts = await page.$eval('#txlens-timeline', (el) => ({ ...(el as unknown as { dataset: Record<string, string> }).dataset }));
  return { page, problems, counts };
}

/** Tick labels of one lane whose boxes intersect: a picture people cannot read. */
async function overlappingLabels(page: Page): Promise<string[]> {
  return page.$$eval('text.tl-tick-label', (nodes) => {
    const boxes = nodes.map((n) => ({ text: n.textContent ?? '', box: (n as unknown as { getBBox(): { x: number; y: number; width: number; height: number } }).getBBox() }));
    const out: string[] = [];
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].box;
        const b = boxes[j].box;
        if (Math.abs(a.y - b.y) > 1) continue;
        if (a.x < b.x + b.width && b.x < a.x + a.width) out.push(`${boxes[i].text} / ${boxes[j].text}`);
      }
    return out;
  });
}

test('the quickstart timeline draws a lane per session, bars, the arrow and the markers', { skip }, async () => {
  const q = await quickstartRun();
  const view = timelineView(q.model, q.findings, { cwd: q.work });
  const file = join(work, 'quickstart.html');
  writeFileSync(file, timelineHtml(view));
  const { page, problems, counts } = await open(file);
  assert.deepEqual(problems, []);
  assert.equal(Number(counts.lanes), view.lanes.length);
  assert.equal(Number(counts.bars), q.model.transactions.length);
  assert.equal(Number(counts.arrows), view.arrows.length);
  assert.equal(Number(counts.markers), q.findings.length);
  const sessionLanes = await page.$$eval('[data-lane-kind="session"]', (ns) => ns.map((n) => n.getAttribute('data-lane')));
  assert.deepEqual(sessionLanes.sort(), q.model.sessions.map((s) => s.label).sort());
  const outcomes = await page.$$eval('[data-tx]', (ns) => ns.map((n) => [n.getAttribute('data-tx'), n.getAttribute('data-outcome')]));
  assert.deepEqual(outcomes.sort(), q.model.transactions.map((tx) => [tx.label, tx.outcome]).sort());
  assert.deepEqual(await overlappingLabels(page), []);
  await page.screenshot({ path: join(artifacts, 'quickstart.png'), fullPage: true });

  // Clicking the arrow explains it; clicking the lost UPDATE shows its SQL, place and transaction.
  await page.click('[data-kind="arrow"]');
  assert.match(await page.textContent('.tl-details') ?? '', /could not see .*INSERT jobs/);
  await page.click('[data-kind="tick"][data-verb="UPDATE"]');
  const details = (await page.textContent('.tl-details')) ?? '';
  assert.match(details, /app\/worker\.py:\d+/);
  assert.match(details, /rolled back: session closed without commit/);
  assert.match((await page.textContent('.tl-details pre')) ?? '', /^UPDATE jobs SET status=/);
  assert.match((await page.getAttribute('.tl-details a.tl-src', 'href')) ?? '', /^vscode:\/\/file\/.*\/app\/worker\.py:\d+$/);
  await page.screenshot({ path: join(artifacts, 'quickstart-details.png'), fullPage: true });

  // One test, zoomed in, in a dark theme.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.selectOption('#tl-test-select', 'tests/test_jobs.py::test_listed_jobs_include_new_one');
  await page.click('[data-kind="finding"]');
  const zoomed = await page.$eval('#txlens-timeline', (el) => ({ ...(el as unknown as { dataset: Record<string, string> }).dataset }));
  assert.equal(Number(zoomed.arrows), 1);
  assert.ok(Number(zoomed.lanes) < view.lanes.length, 'lanes outside the test are hidden');
  assert.match((await page.textContent('.tl-details')) ?? '', /uncommitted-read/);
  assert.deepEqual(await overlappingLabels(page), []);
  await page.screenshot({ path: join(artifacts, 'quickstart-test-dark.png'), fullPage: true });
  await page.close();
});

test('hostile SQL is shown as text: no dialog, no injected element, no CSP violation', { skip }, async () => {
  const h = await hostileRun();
  const { page, problems, counts } = await open(h.html);
  assert.ok(Number(counts.lanes) >= 1);
  assert.equal(await page.$$eval('img, iframe, object, embed', (ns) => ns.length), 0);
  assert.equal(await page.$$eval('script', (ns) => ns.length), 2);
  await page.click('[data-kind="tick"][data-verb="INSERT"]');
  assert.equal(await page.textContent('.tl-details pre'), HOSTILE_INSERT);
  await page.click('.tl-findings button.tl-link');
  assert.match((await page.textContent('.tl-details')) ?? '', /q'&<b>"x\.py/);
  assert.deepEqual(problems, [], 'nothing ran, nothing was refused, nothing was fetched');
  await page.screenshot({ path: join(artifacts, 'hostile.png'), fullPage: true });
  await page.close();
});

test('a large run renders bounded and readable', { skip }, async () => {
  const big = await largeRun();
  const view = timelineView(big.model, big.findings, { cwd: '/proj' });
  const file = join(work, 'large.html');
  writeFileSync(file, timelineHtml(view));
  const { page, problems, counts } = await open(file);
  assert.deepEqual(problems, []);
  // Hundreds of tests: the page opens on those that failed or have findings.
  assert.equal(counts.showing, 'focus');
  assert.ok(Number(counts.lanes) <= view.lanes.length);
  assert.deepEqual(await overlappingLabels(page), []);
  await page.screenshot({ path: join(artifacts, 'large-focus.png') });
  await page.selectOption('#tl-test-select', '');
  const whole = await page.$eval('#txlens-timeline', (el) => ({ ...(el as unknown as { dataset: Record<string, string> }).dataset }));
  assert.equal(Number(whole.lanes), view.lanes.length);
  assert.equal(Number(whole.ticks), view.ticks.length);
  assert.ok(Number(whole.ticks) <= 12_000);
  assert.deepEqual(await overlappingLabels(page), []);
  await page.screenshot({ path: join(artifacts, 'large-top.png') });
  const failed = view.tests.find((t) => t.outcome === 'failed')!;
  await page.selectOption('#tl-test-select', failed.id);
  await page.screenshot({ path: join(artifacts, 'large-one-test.png'), fullPage: true });
  await page.close();
});

test('the webview page: asks for the view, draws it, reports the lanes, and asks to open a clicked line', { skip }, async () => {
  const q = await quickstartRun();
  const view = timelineView(q.model, q.findings, { cwd: q.work });
  const nonce = 'n0nce4webv1ewTest';
  const media = join(repoRoot, 'media');
  // The extension's side, played by a stub that answers `ready` with the view as VS Code's postMessage would.
  const host = `<script nonce="${nonce}">
    window.posted = [];
    window.acquireVsCodeApi = () => ({
      postMessage(msg) {
        window.posted.push(msg);
        if (msg.type === 'ready') setTimeout(() => window.dispatchEvent(new MessageEvent('message', { data: { type: 'view', view: ${JSON.stringify(view).replace(/</g, '\\u003c')} } })));
      },
    });
  </script>`;
  const html = webviewHtml({ cspSource: 'file:', nonce, scriptUri: `file://${media}/timeline.js`, styleUri: `file://${media}/timeline.css` }).replace(
    '<body data-surface="webview">',
    `<body data-surface="webview">${host}`,
  );
  const file = join(work, 'webview.html');
  writeFileSync(file, html);
  const { page, problems, counts } = await open(file);
  assert.deepEqual(problems, []);
  assert.equal(Number(counts.lanes), view.lanes.length);
  type Posted = { type: string; counts?: Record<string, number>; laneIds?: string[]; file?: string; line?: number };
  const posted = () => page.evaluate(() => (globalThis as unknown as { posted: Posted[] }).posted);
  const rendered = (await posted()).find((m) => m.type === 'rendered');
  assert.equal(rendered?.counts?.lanes, view.lanes.length);
  assert.deepEqual(rendered?.laneIds, view.lanes.map((l) => l.id));
  await page.click('[data-kind="tick"][data-verb="UPDATE"]');
  const opened = (await posted()).filter((m) => m.type === 'open');
  assert.equal(opened.length, 1);
  assert.equal(opened[0].file, q.path('app/worker.py'));
  assert.equal(opened[0].line, view.ticks.find((t) => t.verb === 'UPDATE')!.at!.line);
  // In the editor a source place is a button that opens it, not a vscode:// link.
  assert.equal(await page.$$eval('.tl-details a.tl-src', (ns) => ns.length), 0);
  await page.screenshot({ path: join(artifacts, 'webview-protocol.png'), fullPage: true });
  await page.close();
});

test('a real suite too long to read whole opens on its failing test, named in full', { skip }, async () => {
  const s = await suiteRun();
  const view = timelineView(s.model, s.findings, { cwd: s.work });
  const file = join(work, 'suite.html');
  writeFileSync(file, timelineHtml(view));
  const { page, problems, counts } = await open(file, { width: 1200 });
  assert.deepEqual(problems, []);
  assert.equal(counts.showing, 'focus');
  assert.equal(await page.$eval('#tl-test-select', (n) => (n as unknown as { value: string }).value), '@focus');
  const id = 'tests/test_lost.py::test_a_saved_note_is_listed';
  const label = await page.$eval(`g[data-test="${id}"]`, (n) => ({ text: n.querySelector('text')?.textContent, title: n.querySelector('title')?.textContent }));
  assert.equal(label.text, '✗ test_a_saved_note_is_listed', 'the name in full, no file and no ellipsis');
  assert.match(label.title ?? '', /^tests\/test_lost\.py::test_a_saved_note_is_listed \(failed\) · \d+ findings?$/);
  // Only the failing test's lanes: its sessions, not the hundred and twenty others' shared one alone.
  const bars = await page.$$eval('[data-tx]', (ns) => ns.length);
  assert.equal(bars, view.bars.filter((b) => b.test === id).length);
  assert.ok(Number(counts.markers) >= 1, 'its finding is marked');
  await page.screenshot({ path: join(artifacts, 'suite-focus.png'), fullPage: true });

  // The whole run: a hundred and twenty passing tests are stripes; the failing one keeps a readable name.
  await page.selectOption('#tl-test-select', '');
  const names = await page.$$eval('text.tl-test-label', (ns) => ns.map((n) => n.textContent ?? ''));
  assert.ok(names.includes('✗ test_a_saved_note_is_listed'), JSON.stringify(names));
  assert.ok(!names.some((n) => /^.?…$/.test(n) || n === 't…'), `no name cut to its first letter: ${JSON.stringify(names)}`);
  await page.screenshot({ path: join(artifacts, 'suite-whole-run.png'), fullPage: true });
  await page.close();
});
