/**
 * Finding a word in source text where it stands alone (not part of a longer
 * name). A search with indexOf and a look at the one code point on each side,
 * with classes compiled once: a regular expression per word with Unicode
 * classes in look-arounds costs a compilation per call, which dominated a short
 * check of a small workspace.
 */

function codePointBefore(text: string, i: number): string {
  if (i <= 0) return '';
  const low = text.charCodeAt(i - 1);
  if (low >= 0xdc00 && low <= 0xdfff && i >= 2) {
    const high = text.charCodeAt(i - 2);
    if (high >= 0xd800 && high <= 0xdbff) return text.slice(i - 2, i);
  }
  return text[i - 1];
}

function codePointAt(text: string, i: number): string {
  const cp = text.codePointAt(i);
  return cp === undefined ? '' : String.fromCodePoint(cp);
}

/**
 * Start offsets of `word` in `text`, left to right, non-overlapping, where the code
 * point before it does not match `before` and the one after it does not match `after`
 * (each a one-code-point test, e.g. /[\p{L}\p{N}_]/u).
 */
export function standaloneOffsets(text: string, word: string, before: RegExp, after: RegExp): number[] {
  const out: number[] = [];
  if (!word) return out;
  for (let i = text.indexOf(word); i >= 0; ) {
    const end = i + word.length;
    const standsAlone = !before.test(codePointBefore(text, i)) && !after.test(codePointAt(text, end));
    if (standsAlone) out.push(i);
    i = text.indexOf(word, standsAlone ? end : i + 1);
  }
  return out;
}
