/** The status bar item's text and tooltip for each state of the extension. */
import { plural } from '../../present/wording';

export type RunState =
  | { kind: 'idle' }
  | { kind: 'running'; command: string }
  | { kind: 'untrusted' }
  | { kind: 'failed'; reason: string }
  | { kind: 'done'; tests: number; failedTests: number; findings: number; errors: number; cancelled: boolean; exitCode: number | null };

export interface StatusText {
  text: string;
  tooltip: string;
  attention: boolean;
}

export function statusText(state: RunState): StatusText {
  switch (state.kind) {
    case 'idle':
      return { text: '$(database) txlens', tooltip: 'txlens: no traced run yet. Click to trace the tests.', attention: false };
    case 'running':
      return { text: '$(sync~spin) txlens: tracing…', tooltip: `Tracing: ${state.command}`, attention: false };
    case 'untrusted':
      return { text: '$(shield) txlens', tooltip: 'txlens runs no test command in an untrusted workspace. Trust the workspace to trace tests.', attention: false };
    case 'failed':
      return { text: '$(error) txlens', tooltip: `The traced run could not start: ${state.reason}`, attention: true };
    case 'done': {
      const head = state.cancelled ? 'cancelled · ' : '';
      const text = `$(database) txlens: ${head}${plural(state.findings, 'finding')}`;
      const tests = `${plural(state.tests, 'test')} traced${state.failedTests ? `, ${state.failedTests} failed` : ''}`;
      const findings = state.findings ? `${plural(state.findings, 'finding')} (${plural(state.errors, 'error')})` : 'no findings';
      return { text, tooltip: `Last run: ${tests}; ${findings}. Exit status ${state.exitCode ?? 'none'}.`, attention: state.errors > 0 };
    }
  }
}
