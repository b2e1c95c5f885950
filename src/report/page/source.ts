/**
 * Source places on the page: in the editor a button that asks it to open the
 * line; in the standalone file the place as text and a vscode:// link.
 */
import type { TimelinePlace } from '../timeline/view';
import { el } from './dom';
import type { PageState } from './state';
import { placeText } from './text';

export function openSource(page: PageState, place: TimelinePlace | undefined): void {
  if (!place || !page.host) return;
  page.host.postMessage({ type: 'open', file: place.file, line: place.line });
}

/** vscode://file/<absolute path>:<line>; each path segment encoded, separators kept. */
export function vscodeLink(place: TimelinePlace): string {
  let path = place.file.replace(/\\/g, '/');
  if (path.charAt(0) !== '/') path = `/${path}`;
  return `vscode://file${path.split('/').map(encodeURIComponent).join('/')}:${place.line}`;
}

export function sourceNode(page: PageState, place: TimelinePlace): HTMLElement {
  const text = placeText(place);
  if (page.host) {
    const b = el('button', { type: 'button', class: 'tl-link', title: `Open ${text}` }, text);
    b.addEventListener('click', () => openSource(page, place));
    return b;
  }
  const span = el('span');
  span.appendChild(el('span', { class: 'tl-src-plain' }, text));
  span.appendChild(document.createTextNode(' '));
  span.appendChild(el('a', { class: 'tl-src', href: vscodeLink(place), title: 'Open in VS Code' }, '(open in VS Code)'));
  return span;
}
