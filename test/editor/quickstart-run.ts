// The bundled quickstart example traced through the real CLI once per test
// process, then modelled and analysed as the extension does: the editor's
// texts are tested on what a real run produced.
import { cpSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { analyse } from '../../src/analysis/analyse';
import type { Finding } from '../../src/analysis/findings';
import { loadModel, ModelRun } from '../../src/model/model';
import { python, repoRoot, runCli, tempDir } from '../support/env';

export interface QuickstartRun {
  work: string;
  trace: string;
  model: ModelRun;
  findings: Finding[];
  /** Absolute path of a file of the copied example. */
  path(rel: string): string;
  /** 1-based line number of the first line of `rel` containing `text`. */
  lineOf(rel: string, text: string): number;
}

let run: Promise<QuickstartRun> | undefined;

export function quickstartRun(): Promise<QuickstartRun> {
  run ??= (async () => {
    const work = realpathSync(tempDir('editor-quickstart'));
    cpSync(join(repoRoot, 'examples', 'quickstart'), work, { recursive: true });
    const trace = join(work, '.txlens', 'runs', 'editor');
    const r = await runCli(['run', '--json', '--trace', trace, '--', python('sa20'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: work });
    if (r.code !== 1) throw new Error(`quickstart run exited ${r.code}: ${r.stderr}`);
    const model = loadModel(trace);
    const { findings } = analyse(model);
    const path = (rel: string) => join(work, rel);
    const lineOf = (rel: string, text: string) => {
      const i = readFileSync(path(rel), 'utf8').split('\n').findIndex((l) => l.includes(text));
      if (i < 0) throw new Error(`${text} not in ${rel}`);
      return i + 1;
    };
    return { work, trace, model, findings, path, lineOf };
  })();
  return run;
}
