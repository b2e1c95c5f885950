// A run folder's process files as raw JSON lines, one array per process, for
// tests that compare what the agents wrote with ground truth (no reader, no
// validation: they check the agents' own output).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function readProcessFiles<T>(traceDir: string): T[][] {
  return readdirSync(traceDir)
    .filter((f) => f.endsWith('.ndjson'))
    .map((f) =>
      readFileSync(join(traceDir, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as T),
    );
}
