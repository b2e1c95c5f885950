// standaloneOffsets replaced one regular expression per word (Unicode classes in
// look-arounds); it must find exactly what those expressions found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { standaloneOffsets } from '../../src/static/words';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function byRegex(text: string, word: string, before: string, after: string): number[] {
  const re = new RegExp(`(?<![${before}])${escape(word)}(?![${after}])`, 'gu');
  const out: number[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m.index);
  return out;
}

const TEXTS = [
  'session = Session()\nsession.add(x)  # session\nmy_session = session_2',
  'aaa aa a_aa aa',
  'éSession Sessioné Session 𝐀Session Session𝐀 𝐀 Session',
  '$get get$ \\uget get\\u _get get_ get1 1get ٣get get٣ get',
  '',
  'get',
  'xget',
  '😀get😀 get',
];
const WORDS = ['session', 'Session', 'aa', 'a', 'get', '𝐀', 'é'];

test('python names: the same offsets as the per-word regular expression', () => {
  const cls = '\\p{L}\\p{N}_';
  const char = /^[\p{L}\p{N}_]$/u;
  for (const text of TEXTS) for (const word of WORDS) assert.deepEqual(standaloneOffsets(text, word, char, char), byRegex(text, word, cls, cls), `${word} in ${JSON.stringify(text)}`);
});

test('javascript names: the same offsets, with $ a name character and a backslash before a word', () => {
  const before = /^[\p{L}\p{N}_$\\]$/u;
  const after = /^[\p{L}\p{N}_$]$/u;
  for (const text of TEXTS) for (const word of WORDS) assert.deepEqual(standaloneOffsets(text, word, before, after), byRegex(text, word, '\\p{L}\\p{N}_$\\\\', '\\p{L}\\p{N}_$'), `${word} in ${JSON.stringify(text)}`);
});

test('an empty word is nowhere', () => {
  assert.deepEqual(standaloneOffsets('abc', '', /^a$/u, /^a$/u), []);
});
