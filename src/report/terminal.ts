/**
 * Text on its way to a terminal. Failure messages, SQL, table names, paths
 * and argv come from traces and from the code under test; an escape sequence
 * among them could recolour, rewrite or hide what txlens prints (or set the
 * window title, or write to the clipboard). Every control character is shown
 * as a visible escape instead: C0 and C1 controls, DEL, and the Unicode
 * bidirectional overrides that reorder a line. Newlines and tabs of the
 * report's own layout stay.
 */

// C0 except \t and \n, DEL, C1, bidi embeddings/overrides/isolates, line/paragraph separators.
// eslint-disable-next-line no-control-regex -- matching control characters is this module's purpose
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(ch: string): string {
  const code = ch.charCodeAt(0);
  if (code === 0x1b) return '\\e';
  if (code === 0x0d) return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` safe to write to a terminal: its control characters escaped visibly, its line breaks kept. */
export function forTerminal(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** One line safe for a terminal: line breaks escaped too (a message must not forge lines of its own). */
export function forTerminalLine(text: string): string {
  return forTerminal(text).replace(/\n/g, '\\n');
}
