/**
 * The run folders of a workspace with what each one traced, for a list to open one
 * from (the editor's). Apart from ./runs.ts because it reads run.json through the
 * trace reader, whose module builds its event validators when it loads: `txlens`
 * goes through ./runs.ts at every start and never lists runs.
 */
import { readRunInfo } from '../trace/reader';
import { isTerminalRun, listRuns, type RunEntry } from './runs';

export interface RunDescription extends RunEntry {
  /** The command the run traced (redacted, as every reader shows it), when its run.json says. */
  command?: string[];
  /** Traced in the editor's integrated terminal: no single command, so no run.json. */
  terminal: boolean;
}

/** The run folders of a workspace, newest first, with what each one traced: for a list to open one from. */
export function describeRuns(workspace: string): RunDescription[] {
  return listRuns(workspace).map((run) => ({ ...run, command: readRunInfo(run.dir)?.command, terminal: isTerminalRun(run.name) }));
}
