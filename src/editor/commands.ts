/**
 * Every command the extension registers. package.json contributes the public
 * ones (test/editor/manifest.test.ts keeps the two in step).
 */
export enum Command {
  TraceTests = 'txlens.traceTests',
  TraceTestAtCursor = 'txlens.traceTestAtCursor',
  CheckWorkspace = 'txlens.checkWorkspace',
  OpenTimeline = 'txlens.openTimeline',
  OpenTrace = 'txlens.openTrace',
  ClearTrace = 'txlens.clearTrace',
  ShowOutput = 'txlens.showOutput',
  /** For extension tests: the last run's summary, line notes and diagnostics count. Hidden from the palette. */
  State = 'txlens._state',
}

/** Title and whether the command palette lists it. */
export const COMMAND_TITLES: Record<Command, { title: string; palette: boolean }> = {
  [Command.TraceTests]: { title: 'Trace Tests', palette: true },
  [Command.TraceTestAtCursor]: { title: 'Trace Test at Cursor', palette: true },
  [Command.CheckWorkspace]: { title: 'Check Workspace', palette: true },
  [Command.OpenTimeline]: { title: 'Open Session Timeline', palette: true },
  [Command.OpenTrace]: { title: 'Open Trace…', palette: true },
  [Command.ClearTrace]: { title: 'Clear Trace', palette: true },
  [Command.ShowOutput]: { title: 'Show Output', palette: true },
  [Command.State]: { title: 'Internal State (tests)', palette: false },
};

export const COMMAND_CATEGORY = 'TxLens';
