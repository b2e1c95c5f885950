// What the agents wrote, as tests read it: a run folder's process files as raw
// JSON lines, one array per process, for tests that compare the agents' output
// with ground truth (no reader, no validation: they check the agents' own
// output), and the types such lines are read with.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventKind, HeaderEvent, TraceEvent } from '../../src/trace/schema';

type KeysOfUnion<T> = T extends unknown ? keyof T : never;
type FieldOfUnion<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;

/**
 * An event an agent wrote, read field by field across kinds (`e.sql`, `e.cause`, `e.flushAt`
 * without narrowing on `k` first): every field any kind has, typed as src/trace/schema.ts
 * types it, so a misspelt field or a wrong type does not compile. Whether a field is there
 * is what the test asserts: the type does not make every read check for `undefined` first.
 */
export type RecordedEvent = { k: EventKind } & {
  [K in Exclude<KeysOfUnion<TraceEvent>, 'k'>]: NonNullable<FieldOfUnion<TraceEvent, K>>;
};

/** A line of a process file read raw, header or event: the fields of both, typed the same way as RecordedEvent's. */
export type RecordedLine = Omit<RecordedEvent, 'k'> & { k: EventKind | 'header' } & {
  [K in Exclude<keyof HeaderEvent, 'k'>]: NonNullable<HeaderEvent[K]>;
};

/** The process files of a run folder, by name. */
export function processFileNames(traceDir: string): string[] {
  return readdirSync(traceDir)
    .filter((f) => f.endsWith('.ndjson'))
    .sort();
}

/** Each process file of a run folder (by name) as its lines, header first (typed as RecordedLine unless a test says otherwise). */
export function readProcessFiles<T = RecordedLine>(traceDir: string): T[][] {
  return processFileNames(traceDir).map((f) =>
    readFileSync(join(traceDir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as T),
  );
}
