/**
 * The language plugins the static checker runs (see types.ts for how a plugin
 * works). Each language lives in its own folder: python/, typescript/.
 */
import { pythonPlugin } from './python/plugin';
import type { LanguagePlugin } from './types';
import { typescriptPlugin } from './typescript/plugin';

/** A fresh set of plugins per checker, so two checkers never share caches. */
export function languagePlugins(): LanguagePlugin<any>[] {
  return [
    pythonPlugin(),
    typescriptPlugin(),
  ];
}
