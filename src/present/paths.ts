/**
 * Paths as people read them, in every report, message and view: relative to the
 * folder the run ran in when the file is inside it, with '/' between folders on
 * every platform; any other path as it was recorded.
 */
import { isAbsolute, relative, sep } from 'node:path';

export function relPath(file: string, root: string | undefined): string {
  if (!root || !isAbsolute(file)) return file;
  const r = relative(root, file);
  // Outside the root ('../x'), or on another drive (Windows gives an absolute path back).
  if (r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r)) return file;
  return sep === '/' ? r : r.split(sep).join('/');
}

/**
 * Code-point order of two strings (paths, rule ids): the same on every machine,
 * whatever the user's locale, and it needs no collation tables (the first
 * localeCompare of a process loads ICU's, a cost the size of modelling a small run).
 */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
