/**
 * After-line notes: one short note per source line that ran SQL (VS Code
 * keeps only one after-line decoration per line, so the hover carries the
 * rest). The note names the session and transaction and how it ended:
 * "S6 tx13 UPDATE jobs → rolled back at close".
 */
import type { ModelIdentityHit, ModelRun, ModelStatement } from '../../model/model';
import { transactionOutcomeBrief } from '../../present/wording';
import { databaseName, ownerLabel, statementShort } from './format';

export interface LineNote {
  /** Absolute path, as the trace recorded it. */
  file: string;
  /** 1-based. */
  line: number;
  text: string;
  /** The note tells of a write that was lost or of a failed statement: drawn in the warning colour. */
  attention: boolean;
}

export interface LineActivity {
  statements: ModelStatement[];
  identityHits: ModelIdentityHit[];
}

const indexes = new WeakMap<ModelRun, Map<string, Map<number, LineActivity>>>();

/** Statements and identity-map reads by file and line of their user frame (and of the flush that sent them). Built once per model. */
export function lineIndex(model: ModelRun): Map<string, Map<number, LineActivity>> {
  let index = indexes.get(model);
  if (index) return index;
  index = new Map();
  const slot = (file: string, line: number): LineActivity => {
    let byLine = index!.get(file);
    if (!byLine) index!.set(file, (byLine = new Map()));
    let a = byLine.get(line);
    if (!a) byLine.set(line, (a = { statements: [], identityHits: [] }));
    return a;
  };
  for (const st of model.statements) {
    if (!st.at || st.op === 'tx') continue;
    slot(st.at[0], st.at[1]).statements.push(st);
    // A statement an ORM flush sent belongs to the line that changed the object and to the line
    // whose flush (a query, flush(), commit()) sent it: both tell its story.
    const f = st.flushAt;
    if (f && (f[0] !== st.at[0] || f[1] !== st.at[1])) slot(f[0], f[1]).statements.push(st);
  }
  for (const hit of model.identityHits) if (hit.at) slot(hit.at[0], hit.at[1]).identityHits.push(hit);
  indexes.set(model, index);
  return index;
}

/** A write whose transaction did not commit, or a statement that failed. */
export function needsAttention(st: ModelStatement): boolean {
  if (st.err) return true;
  const tx = st.transaction;
  return (st.op === 'write' || st.op === 'ddl') && tx !== undefined && tx.outcome !== 'commit';
}

function noteFor(a: LineActivity, namedDatabases: boolean): { text: string; attention: boolean } | undefined {
  if (a.statements.length > 0) {
    // The note shows the execution worth a look: a failure or a lost write first, else the latest one.
    const pick = a.statements.find(needsAttention) ?? a.statements[a.statements.length - 1];
    const tx = pick.transaction;
    const db = namedDatabases ? ` [${databaseName(pick.connection)}]` : '';
    const head = `${ownerLabel(pick)}${tx ? ` ${tx.label}` : ''} ${statementShort(pick)}${db}`;
    const end = pick.err ? `failed: ${pick.err.type}` : transactionOutcomeBrief(tx);
    const runs = new Set(a.statements.map((st) => st.transaction ?? st)).size;
    const more = runs > 1 ? ` (ran in ${runs} transactions)` : '';
    return { text: `${head} → ${end}${more}`, attention: needsAttention(pick) };
  }
  const hit = a.identityHits[a.identityHits.length - 1];
  if (!hit) return undefined;
  const times = a.identityHits.length > 1 ? ` (${a.identityHits.length}×)` : '';
  return { text: `${hit.session.label} ${hit.entity} from identity map, no SQL${times}`, attention: false };
}

export function lineNotes(model: ModelRun): LineNote[] {
  const notes: LineNote[] = [];
  // When the run reached databases of different names, which one a line used is often the story (a dev database).
  const namedDatabases = new Set(model.statements.map((st) => databaseName(st.connection))).size > 1;
  for (const [file, byLine] of lineIndex(model)) {
    for (const [line, a] of byLine) {
      const n = noteFor(a, namedDatabases);
      if (n) notes.push({ file, line, ...n });
    }
  }
  notes.sort((x, y) => x.file.localeCompare(y.file) || x.line - y.line);
  return notes;
}
