/** What one page holds while it shows a view: the view, the choices made on it, and its parts. */
import type { TimelineView } from '../timeline/view';
import type { WebviewHost } from './protocol';

/** The elements a click can select; each is drawn with `data-kind` and `data-index`. */
export type ItemKind = 'tick' | 'bar' | 'lane' | 'arrow' | 'finding';

/** The picker's value for "the tests that failed or have a finding". */
export const FOCUS = '@focus';

export interface PageState {
  root: HTMLElement;
  /** The editor, in the webview; undefined in the standalone file. */
  host?: WebviewHost;
  view: TimelineView;
  /** '' for the whole run, FOCUS, or one test's id. */
  test: string;
  selected?: { kind: ItemKind; index: number };
  chart: HTMLElement;
  details: HTMLElement;
}
