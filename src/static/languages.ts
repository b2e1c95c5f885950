/**
 * The language plugins the static checker runs (see types.ts for how a plugin
 * works). Each language lives in its own folder: python/, typescript/.
 */
import { pythonPlugin } from './python/plugin';
import type { LanguagePlugin } from './types';
import { typescriptPlugin } from './typescript/plugin';

/** A fresh set of plugins per checker, so two checkers never share caches. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each plugin keeps its own per-file data type
export function languagePlugins(): LanguagePlugin<any>[] {
  return [
    pythonPlugin(),
    typescriptPlugin(),
  ];
}
