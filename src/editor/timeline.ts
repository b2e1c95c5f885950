/**
 * The session timeline in a webview panel. The page (media/timeline.js, built
 * from src/report/page/, and timeline.css: the only resources it may load)
 * asks for the view model when it is ready, draws it, and reports back what it
 * drew; a click on a statement, transaction or finding asks this side to open
 * its source line. The messages are typed in src/report/page/protocol.ts.
 */
import { isAbsolute } from 'node:path';
import * as vscode from 'vscode';
import { newNonce, webviewHtml } from '../report/timeline-html';
import type { DrawnCounts, HostMessage } from '../report/page/protocol';
import type { TimelineView } from '../report/timeline';

export const TIMELINE_VIEW_TYPE = 'txlens.timeline';
export const TIMELINE_PANEL_TITLE = 'txlens: Session Timeline';

/** What the page reported after drawing (counts of drawn elements, lane ids in order). */
export interface TimelineRendered extends DrawnCounts {
  laneIds: string[];
}

/** What `txlens.openTimeline` resolves to: extension tests read it. */
export interface TimelineResult {
  title: string;
  /** Undefined when the page did not report within the wait (or there was no run to show). */
  rendered?: TimelineRendered;
  reason?: string;
}

type FromPage = { type: 'ready' } | { type: 'rendered'; counts: Omit<TimelineRendered, 'laneIds'>; laneIds: string[] } | { type: 'open'; file: unknown; line: unknown };

const RENDER_WAIT_MS = 20_000;

export class TimelinePanel implements vscode.Disposable {
  private panel?: vscode.WebviewPanel;
  private view?: TimelineView;
  /** Files the current view names: the page may only ask to open these. */
  private files = new Set<string>();
  private waiters: ((r: TimelineRendered | undefined) => void)[] = [];
  private lastRendered?: TimelineRendered;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {}

  get visible(): boolean {
    return this.panel !== undefined;
  }

  get rendered(): TimelineRendered | undefined {
    return this.lastRendered;
  }

  /** Opens (or reveals) the panel on `view`; resolves once the page has drawn it. */
  show(view: TimelineView): Promise<TimelineResult> {
    const drawn = this.nextRender();
    this.setView(view);
    if (!this.panel) this.panel = this.createPanel();
    else {
      this.panel.reveal(undefined, false);
      void this.post();
    }
    return drawn.then((rendered) => ({ title: TIMELINE_PANEL_TITLE, rendered, reason: rendered ? undefined : 'no-render-report' }));
  }

  /** A new run was shown elsewhere in the editor: redraw an open panel with it. */
  update(view: TimelineView): void {
    if (!this.panel) return;
    this.setView(view);
    void this.post();
  }

  private setView(view: TimelineView): void {
    this.view = view;
    this.files = new Set<string>();
    const add = (p?: { file: string }) => p && this.files.add(p.file);
    view.lanes.forEach((l) => add(l.at));
    view.bars.forEach((b) => (add(b.begin), add(b.endAt)));
    view.ticks.forEach((t) => (add(t.at), t.items?.forEach((i) => add(i.at))));
    view.findings.forEach((f) => (add(f.at), f.related.forEach(add)));
  }

  private nextRender(): Promise<TimelineRendered | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), RENDER_WAIT_MS);
      const finish = (r: TimelineRendered | undefined) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== finish);
        resolve(r);
      };
      this.waiters.push(finish);
    });
  }

  private createPanel(): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      TIMELINE_VIEW_TYPE,
      TIMELINE_PANEL_TITLE,
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: true, enableFindWidget: true, localResourceRoots: [media] },
    );
    const webview = panel.webview;
    webview.html = webviewHtml({
      cspSource: webview.cspSource,
      nonce: newNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.css')).toString(),
    });
    const subs = [
      webview.onDidReceiveMessage((msg: FromPage) => this.receive(msg)),
      panel.onDidDispose(() => {
        this.panel = undefined;
        this.lastRendered = undefined;
        for (const s of subs) s.dispose();
        for (const w of [...this.waiters]) w(undefined);
      }),
    ];
    return panel;
  }

  private post(): Thenable<boolean> | undefined {
    return this.view && this.panel?.webview.postMessage({ type: 'view', view: this.view } satisfies HostMessage);
  }

  private receive(msg: FromPage): void {
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'ready') {
      // The page loads again whenever the panel comes back from the background: send the view each time.
      void this.post();
    } else if (msg.type === 'rendered') {
      const c = msg.counts ?? ({} as Partial<TimelineRendered>);
      this.lastRendered = {
        lanes: Number(c.lanes) || 0,
        bars: Number(c.bars) || 0,
        ticks: Number(c.ticks) || 0,
        arrows: Number(c.arrows) || 0,
        markers: Number(c.markers) || 0,
        laneIds: Array.isArray(msg.laneIds) ? msg.laneIds.map(String) : [],
      };
      for (const w of [...this.waiters]) w(this.lastRendered);
    } else if (msg.type === 'open') {
      void this.open(msg.file, msg.line);
    }
  }

  private async open(file: unknown, line: unknown): Promise<void> {
    if (typeof file !== 'string' || !isAbsolute(file) || !this.files.has(file)) return;
    const n = typeof line === 'number' && Number.isInteger(line) && line >= 1 ? line - 1 : 0;
    // Beside the timeline, not over it, and without taking focus: the next click still lands on the timeline.
    const column = this.panel?.viewColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Two : vscode.ViewColumn.One;
    try {
      const editor = await vscode.window.showTextDocument(vscode.Uri.file(file), {
        viewColumn: column,
        preserveFocus: true,
        preview: true,
        selection: new vscode.Range(n, 0, n, 0),
      });
      editor.revealRange(new vscode.Range(n, 0, n, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    } catch (e) {
      void vscode.window.showWarningMessage(`txlens: cannot open ${file}: ${(e as Error).message}`);
    }
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
