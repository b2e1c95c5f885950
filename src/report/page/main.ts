/**
 * The timeline page's script: draws the view model of src/report/timeline.ts.
 * esbuild bundles this folder for the browser into media/timeline.js. It runs
 * in two places: the editor's webview (the view arrives by postMessage; clicks
 * ask the extension to open the source line) and the standalone HTML file of
 * `txlens report --html` (the view sits in a JSON data block; source places are
 * shown as text and vscode:// links).
 */
import type { TimelineView } from '../timeline/view';
import { render, show } from './page';
import type { HostMessage, WebviewHost } from './protocol';
import type { PageState } from './state';

/** Defined by VS Code inside a webview only. */
declare const acquireVsCodeApi: (() => WebviewHost) | undefined;

/** How long a resize must settle before the chart is drawn again. */
const RESIZE_SETTLE_MS = 120;

function start(root: HTMLElement): void {
  const host = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
  let page: PageState | undefined;
  const showView = (view: TimelineView) => {
    page = show(root, host, view);
  };

  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  window.addEventListener('resize', () => {
    if (!page) return;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => page && render(page), RESIZE_SETTLE_MS);
  });

  if (host) {
    window.addEventListener('message', (e: MessageEvent<HostMessage | undefined>) => {
      const msg = e.data;
      if (msg && msg.type === 'view' && msg.view) showView(msg.view);
    });
    host.postMessage({ type: 'ready' });
  } else {
    const data = document.getElementById('txlens-timeline-data');
    const view = data ? (JSON.parse(data.textContent || 'null') as TimelineView | null) : null;
    if (view) showView(view);
  }
}

const root = document.getElementById('txlens-timeline');
if (root) start(root);
