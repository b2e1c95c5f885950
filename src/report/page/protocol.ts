/**
 * What the page and the editor say to each other in the webview. The standalone
 * HTML file has no host: the view sits in the page's JSON data block.
 */
import type { TimelineView } from '../timeline/view';

/** How many of each element the page drew: the editor and the tests read them. */
export interface DrawnCounts {
  lanes: number;
  bars: number;
  ticks: number;
  arrows: number;
  markers: number;
}

export type PageMessage =
  | { type: 'ready' }
  | { type: 'rendered'; counts: DrawnCounts; laneIds: string[] }
  /** Open a source line: the editor opens only files the view names. */
  | { type: 'open'; file: string; line: number };

export type HostMessage = { type: 'view'; view: TimelineView };

/** The part of the webview API the page uses. */
export interface WebviewHost {
  postMessage(message: PageMessage): void;
}
