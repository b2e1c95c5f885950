/** Python: parsing with tree-sitter (wasm), rules in ./rules. */
import type { LanguagePlugin } from '../types';

export function pythonPlugin(): LanguagePlugin<unknown> {
  return {
    id: 'python',
    extensions: ['.py'],
    async init() {},
    analyze() {
      return { findings: [], keys: [], data: undefined };
    },
  };
}
