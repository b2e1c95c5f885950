/**
 * A model and its findings as plain, comparable data: what a run folder reads as, field by field,
 * whatever representation the model uses for it. Used to check that a change to how the model is
 * built or stored leaves everything it says the same.
 */
import { createHash } from 'node:crypto';
import type { Finding } from '../../src/analysis/findings';
import type { ModelRun } from '../../src/model/model';
import type { SourceFrame } from '../../src/trace/schema';

const frame = (f: SourceFrame | undefined) => (f ? `${f[0]}:${f[1]}:${f[2]}` : '');

function digest(lines: string[]): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(l + '\n');
  return h.digest('hex');
}

export interface ModelDigest {
  counts: Record<string, number>;
  /** sha256 over one line per record, every field a rule or the report reads. */
  statements: string;
  transactions: string;
  sessions: string;
  connections: string;
  tests: string;
  identityHits: string;
  notes: string[];
  findings: { rule: string; severity: string; file: string; line: number; message: string; test?: string; related: string[] }[];
}

export function modelDigest(model: ModelRun, findings: Finding[]): ModelDigest {
  return {
    counts: {
      processes: model.processes.length,
      connections: model.connections.length,
      sessions: model.sessions.length,
      transactions: model.transactions.length,
      statements: model.statements.length,
      identityHits: model.identityHits.length,
      savepoints: model.savepoints.length,
      tests: model.tests.length,
      commits: model.commits,
      rollbacks: model.rollbacks,
      skipped: model.skipped.total,
    },
    statements: digest(
      model.statements.map((s) =>
        JSON.stringify([
          s.time, s.start, s.process.pid, s.connection.label, s.session?.label, s.transaction?.label, s.sql, s.op, s.verb,
          s.reads, s.writes, s.parsedSql, s.params, s.many, s.rows, s.dur, s.err, frame(s.at), frame(s.flushAt),
          (s.alsoAt ?? []).map(frame), s.thread, s.task, s.test,
        ]),
      ),
    ),
    transactions: digest(
      model.transactions.map((t) =>
        JSON.stringify([
          t.key, t.label, t.process.pid, t.connection.label, t.session?.label, t.start, frame(t.beginAt), t.implicit, t.isolation, t.end,
          t.outcome, t.cause, frame(t.endAt), t.endThread, t.endTask, t.statements.length, t.writes.length, t.savepoints.length, t.durableUntil, t.test,
        ]),
      ),
    ),
    sessions: digest(
      model.sessions.map((s) =>
        JSON.stringify([s.key, s.label, s.cls, frame(s.at), s.opened, s.closed, frame(s.closeAt), s.transactions.length, s.statements.length, s.identityHits.length, s.test]),
      ),
    ),
    connections: digest(
      model.connections.map((c) =>
        JSON.stringify([c.key, c.label, c.dbKey, c.driver, c.pool, c.engine, frame(c.at), c.opened, c.closed, c.transactions.length, c.checkouts.length, c.releasedInTransaction.length]),
      ),
    ),
    tests: digest(model.tests.map((t) => JSON.stringify([t.id, t.name, t.file, t.line, t.process.pid, t.start, t.end, t.outcome, t.message]))),
    identityHits: digest(model.identityHits.map((h) => JSON.stringify([h.time, h.session.label, h.entity, h.table, h.key, h.pk, frame(h.at), h.test]))),
    notes: model.notes,
    findings: findings.map((f) => ({
      rule: f.rule,
      severity: f.severity,
      file: f.location.file,
      line: f.location.line,
      message: f.message,
      test: f.test,
      related: f.related.map((r) => `${r.file}:${r.line}: ${r.message}`),
    })),
  };
}
