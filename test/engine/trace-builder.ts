/**
 * Writes process files in the trace format for engine tests, so reader and
 * model behaviour (ordering, merging, bad lines) can be pinned down exactly.
 * End-to-end tests use traces the real agents wrote.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/env';

export type Line = Record<string, unknown> | string;

export function header(pid: number, t0: bigint, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { k: 'header', v: 1, pid, ppid: 1, t0: t0.toString(), wall: 1_700_000_000_000, argv: ['python'], cwd: '/proj', lang: 'python', ...extra };
}

export function traceDir(files: Record<string, Line[]>): string {
  const dir = tempDir('txlens-trace-');
  for (const [name, lines] of Object.entries(files)) {
    writeFileSync(join(dir, name), lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  }
  return dir;
}
