/**
 * The session timeline as one self-contained HTML file (`txlens report --html`,
 * for CI artifacts), and the page the editor's webview loads. Both run
 * media/timeline.js (built from ./page by esbuild.mjs) over the view model of
 * ./timeline; nothing is fetched from the network, and a content security
 * policy allows only the page's own nonce-tagged style and script.
 *
 * Trace text (SQL, messages, paths) enters the page in two ways only: escaped
 * HTML in the static summary, and a JSON data block in which `<`, `>` and `&`
 * are written as \u escapes, so no text can close the block or open a tag.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TimelineView } from './timeline';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** JSON that is safe inside a <script> element: nothing in it can end the element or start markup. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function newNonce(): string {
  // node:crypto loads here, on the first page written, not with this module: `txlens run`
  // loads the report code at every start and, without --html, writes no page.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export interface TimelineAssets {
  script: string;
  style: string;
}

/**
 * The webview's script and styles from media/. The CLI runs from dist/, tests
 * from out/test/..., so the folder is found by walking up from here.
 */
export function timelineAssets(): TimelineAssets {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = dirname(dir)) {
    const media = join(dir, 'media');
    if (existsSync(join(media, 'timeline.js')) && existsSync(join(media, 'timeline.css'))) {
      return { script: readFileSync(join(media, 'timeline.js'), 'utf8'), style: readFileSync(join(media, 'timeline.css'), 'utf8') };
    }
  }
  throw new Error('media/timeline.js not found beside the txlens installation (esbuild.mjs builds it)');
}

/** Text inside <script> or <style> must not contain the closing tag of its element. */
function rawText(text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1');
}

export function standaloneCsp(nonce: string): string {
  return [`default-src 'none'`, `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`, `img-src data:`, `base-uri 'none'`, `form-action 'none'`].join('; ');
}

/** What is readable without the script: the heading, counts and the findings list. */
function staticSummary(view: TimelineView): string {
  const c = view.counts;
  const counts = `${c.tests} tests · ${c.processes} processes · ${c.sessions} sessions · ${c.transactions} transactions (${c.commits} commits, ${c.rollbacks} rollbacks) · ${c.statements} statements`;
  const findings = view.findings
    .map(
      (f) =>
        `<li class="${escapeHtml(f.severity)}"><span class="tl-sev">${escapeHtml(f.severity)}</span> <strong>${escapeHtml(f.rule)}</strong> ` +
        `<span class="tl-src-plain">${escapeHtml(f.at.path)}:${f.at.line}</span> — ${escapeHtml(f.message)}` +
        (f.related.length
          ? `<ul>${f.related.map((r) => `<li><span class="tl-src-plain">${escapeHtml(r.path)}:${r.line}</span> ${escapeHtml(r.message)}</li>`).join('')}</ul>`
          : '') +
        `</li>`,
    )
    .join('\n');
  return (
    `<noscript><div class="tl-static"><h1>${escapeHtml(view.title)}</h1><p class="tl-sub">${escapeHtml(view.subtitle)}</p>` +
    `<p>${escapeHtml(counts)}</p><p>The timeline needs JavaScript; the findings follow.</p></div></noscript>\n` +
    (findings ? `<noscript><section class="tl-static"><h2>Findings</h2><ol>\n${findings}\n</ol></section></noscript>` : '')
  );
}

export function timelineHtml(view: TimelineView, assets: TimelineAssets = timelineAssets(), nonce: string = newNonce()): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(standaloneCsp(nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="txlens">
<title>${escapeHtml(view.title)}</title>
<style nonce="${nonce}">
${rawText(assets.style, 'style')}
</style>
</head>
<body data-surface="file">
<div id="txlens-timeline"></div>
${staticSummary(view)}
<script type="application/json" id="txlens-timeline-data">${scriptJson(view)}</script>
<script nonce="${nonce}">
${rawText(assets.script, 'script')}
</script>
</body>
</html>
`;
}

export interface WebviewPage {
  /** `webview.cspSource`. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

export function webviewCsp(page: Pick<WebviewPage, 'cspSource' | 'nonce'>): string {
  return [`default-src 'none'`, `style-src ${page.cspSource}`, `script-src 'nonce-${page.nonce}'`, `img-src ${page.cspSource} data:`, `font-src ${page.cspSource}`].join('; ');
}

/** The webview's page: the view arrives later by postMessage. */
export function webviewHtml(page: WebviewPage): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(webviewCsp(page))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${escapeHtml(page.styleUri)}">
<title>txlens: Session Timeline</title>
</head>
<body data-surface="webview">
<div id="txlens-timeline"><p class="tl-hint">Loading the session timeline…</p></div>
<script nonce="${escapeHtml(page.nonce)}" src="${escapeHtml(page.scriptUri)}"></script>
</body>
</html>
`;
}
