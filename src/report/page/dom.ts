/**
 * The page's DOM helpers. Every text from the trace reaches the page through
 * textContent or an attribute value, never as markup.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Attribute values; an undefined one is left out. */
export type Attrs = Record<string, string | number | undefined>;

function setAll<E extends Element>(e: E, attrs: Attrs | null | undefined, text: string | number | undefined): E {
  if (attrs) for (const k in attrs) if (attrs[k] !== undefined) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, text?: string | number): HTMLElementTagNameMap[K] {
  return setAll(document.createElement(tag), attrs, text);
}

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs | null, text?: string | number): SVGElementTagNameMap[K] {
  return setAll(document.createElementNS(SVG_NS, tag), attrs, text);
}

export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

let measureCtx: CanvasRenderingContext2D | null | undefined;

/** Width of a tick label as the browser will draw it (9.5px in the page's font). */
export function labelWidth(text: string): number {
  if (measureCtx === undefined) {
    const canvas = document.createElement('canvas');
    measureCtx = canvas.getContext && canvas.getContext('2d');
    if (measureCtx) measureCtx.font = `9.5px ${getComputedStyle(document.body).fontFamily}`;
  }
  return measureCtx ? Math.ceil(measureCtx.measureText(text).width) + 1 : text.length * 6;
}

/**
 * Cuts `text` to about `px` pixels at `charPx` per character, keeping its start and
 * its end: a test's name and its parameters both tell which test it is.
 */
export function fitMiddle(text: string, px: number, charPx = 6): string {
  const max = Math.floor(px / charPx);
  if (text.length <= max) return text;
  if (max < 5) return '';
  const tail = Math.floor((max - 1) / 2);
  return `${text.slice(0, max - 1 - tail)}…${text.slice(text.length - tail)}`;
}

/** Cuts `text` to about `px` pixels at `charPx` per character. */
export function fit(text: string, px: number, charPx = 6): string {
  const max = Math.floor(px / charPx);
  if (max <= 1) return '';
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
