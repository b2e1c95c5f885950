/**
 * The extension's settings: one typed interface, and the schema package.json
 * contributes (test/editor/manifest.test.ts checks that they match), so code
 * and manifest cannot drift apart.
 */
import type { ParamsMode } from '../trace/schema';

export const SETTINGS_SECTION = 'txlens';

export interface TxlensSettings {
  testCommand: string;
  params: ParamsMode;
  keepRuns: number;
  codeLens: boolean;
  lineNotes: boolean;
  staticAnalysis: boolean;
  traceTerminal: boolean;
  testing: boolean;
}

type Scope = 'application' | 'machine' | 'window' | 'resource' | 'machine-overridable';

interface SettingSchema {
  type: 'string' | 'boolean' | 'number';
  default: unknown;
  scope: Scope;
  markdownDescription: string;
  enum?: string[];
  enumDescriptions?: string[];
  minimum?: number;
  maximum?: number;
  order: number;
}

export const SETTINGS: { [K in keyof TxlensSettings]: SettingSchema & { default: TxlensSettings[K] } } = {
  testCommand: {
    type: 'string',
    default: '',
    // machine-overridable: a workspace may name its own runner, but it is a command line we execute.
    scope: 'machine-overridable',
    markdownDescription:
      'The command that runs your tests, e.g. `python -m pytest -q` or `npm test`. Leave empty to let txlens pick one from the workspace (a virtual environment\'s pytest, or the `test` script and runner in `package.json`). It never runs in an untrusted workspace.',
    order: 0,
  },
  params: {
    type: 'string',
    default: 'values',
    enum: ['values', 'types', 'off'],
    enumDescriptions: ['Record statement parameters (truncated).', 'Record only the parameters\' types.', 'Record no parameters.'],
    scope: 'resource',
    markdownDescription: 'What the trace keeps of statement parameters. Connection passwords are never recorded.',
    order: 1,
  },
  keepRuns: {
    type: 'number',
    default: 10,
    minimum: 1,
    maximum: 100,
    scope: 'resource',
    markdownDescription: 'How many traced runs to keep under `.txlens/runs/` in the workspace; older ones are removed.',
    order: 2,
  },
  codeLens: {
    type: 'boolean',
    default: true,
    scope: 'resource',
    markdownDescription: 'Show a **Trace** action above each test and, after a run, what the test\'s sessions and transactions did.',
    order: 3,
  },
  lineNotes: {
    type: 'boolean',
    default: true,
    scope: 'resource',
    markdownDescription: 'After a run, show a short note at the end of each line that ran SQL: session, transaction and how it ended. Hover the line for the whole story.',
    order: 4,
  },
  staticAnalysis: {
    type: 'boolean',
    default: true,
    scope: 'resource',
    markdownDescription: 'Check Python and TypeScript source for session and patching mistakes when files are opened and saved, without running tests.',
    order: 5,
  },
  traceTerminal: {
    type: 'boolean',
    default: false,
    scope: 'window',
    markdownDescription:
      'Also trace test runs you start yourself in the integrated terminal. txlens adds its Python agent to `PYTHONPATH` of new terminals; traces land in `.txlens/runs/` and **TxLens: Open Trace…** shows them. Takes effect in terminals opened after the change.',
    order: 6,
  },
  testing: {
    type: 'boolean',
    default: true,
    scope: 'window',
    markdownDescription: 'Offer a **Run with txlens** profile in the Testing view.',
    order: 7,
  },
};

export const DEFAULT_SETTINGS: TxlensSettings = Object.fromEntries(
  Object.entries(SETTINGS).map(([k, v]) => [k, v.default]),
) as unknown as TxlensSettings;

/** The `contributes.configuration.properties` block package.json must carry. */
export function configurationProperties(): Record<string, Omit<SettingSchema, never>> {
  return Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [`${SETTINGS_SECTION}.${k}`, v]));
}

/** Reads every setting through `get`, falling back to defaults for missing or mistyped values. */
export function readSettings(get: (key: string) => unknown): TxlensSettings {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(SETTINGS)) {
    const v = get(key);
    const ok = typeof v === schema.type && (!schema.enum || schema.enum.includes(v as string));
    out[key] = ok ? v : schema.default;
  }
  return out as unknown as TxlensSettings;
}
