/**
 * The hover on a line that ran SQL: the line's session story. For each
 * transaction the line took part in: the statement, the session and where it
 * was opened, how the transaction ended, and who could see its writes (or,
 * for a read, whose uncommitted writes it could not see), and when.
 */
import type { ModelRun, ModelStatement, ModelTest, ModelTransaction } from '../../model/model';
import { lineIndex } from './lines';
import { offset, plural, testLabel } from '../../present/wording';
import {
  databaseName,
  frameLink,
  oneLineSql,
  outcomeLong,
  ownerLabel,
  runRoot,
  statementShort,
} from './format';

/** How many transactions one hover tells about; the rest are counted. */
const HOVER_GROUPS = 3;
const VISIBILITY_LINES = 4;

interface TableIndex {
  /** Transactions by written table. */
  writers: Map<string, ModelTransaction[]>;
  /** Reads by table, in time order. */
  readers: Map<string, ModelStatement[]>;
  tests: Map<string, ModelTest>;
}

const tableIndexes = new WeakMap<ModelRun, TableIndex>();

function tableIndex(model: ModelRun): TableIndex {
  let idx = tableIndexes.get(model);
  if (idx) return idx;
  idx = { writers: new Map(), readers: new Map(), tests: new Map() };
  for (const tx of model.transactions) {
    for (const table of new Set(tx.writes.flatMap((w) => w.writes))) {
      const list = idx.writers.get(table);
      if (list) list.push(tx);
      else idx.writers.set(table, [tx]);
    }
  }
  for (const st of model.statements) {
    if (st.op !== 'read') continue;
    for (const table of st.reads) {
      const list = idx.readers.get(table);
      if (list) list.push(st);
      else idx.readers.set(table, [st]);
    }
  }
  for (const t of model.tests) if (!idx.tests.has(t.id)) idx.tests.set(t.id, t);
  tableIndexes.set(model, idx);
  return idx;
}

/** Who could and could not see the writes of `tx`: reads by other connections of the same database. */
function writeVisibility(model: ModelRun, tx: ModelTransaction, ref: number, root: string | undefined): string[] {
  const idx = tableIndex(model);
  const firstWrite = Math.min(...tx.writes.map((w) => w.start));
  const tables = new Set(tx.writes.flatMap((w) => w.writes));
  const lines: string[] = [];
  const committed = tx.outcome === 'commit' && tx.end !== undefined;
  const seen = new Set<ModelStatement>();
  let before = 0;
  let afterCommit = 0;
  for (const table of tables) {
    for (const r of idx.readers.get(table) ?? []) {
      if (seen.has(r) || r.start < firstWrite || r.connection.dbKey !== tx.connection.dbKey) continue;
      // Only other sessions' reads tell who could see the writes; a session sees its own.
      if (r.transaction === tx || (tx.session !== undefined && r.session === tx.session)) continue;
      // The same connection can only read again once this transaction is over (it sees its own writes).
      if (r.connection === tx.connection && (tx.end === undefined || r.start < tx.end)) continue;
      seen.add(r);
      const who = `${ownerLabel(r)}${r.transaction ? ` ${r.transaction.label}` : ''} read ${table} at ${frameLink(r.at, root)} (${offset(r.start - ref)})`;
      if (!committed || r.start < tx.end!) {
        if (before++ < VISIBILITY_LINES) lines.push(`- ${who}: **could not see** ${committed ? 'them yet' : 'them'}`);
      } else if (afterCommit++ < 1) {
        lines.push(`- ${who}: could see them`);
      }
    }
  }
  if (before > VISIBILITY_LINES) lines.push(`- … ${before - VISIBILITY_LINES} more reads before the commit`);
  if (tx.outcome === 'commit') {
    lines.unshift(`Its writes became visible to other sessions at the commit (${offset(tx.end! - ref)}).`);
  } else if (tx.outcome === 'open') {
    lines.unshift('Its writes were never committed while the trace ran: no other session could see them.');
  } else {
    lines.unshift('Its writes were never committed: no other session ever saw them.');
  }
  return lines;
}

/** For a read: other sessions' writes to the same tables that were uncommitted at that moment. */
function hiddenWrites(model: ModelRun, st: ModelStatement, ref: number, root: string | undefined): string[] {
  const idx = tableIndex(model);
  const lines: string[] = [];
  const seen = new Set<ModelTransaction>();
  for (const table of st.reads) {
    for (const tx of idx.writers.get(table) ?? []) {
      if (seen.has(tx) || tx.connection === st.connection || tx.connection.dbKey !== st.connection.dbKey) continue;
      const wrote = tx.writes.find((w) => w.writes.includes(table) && w.time <= st.start);
      if (!wrote || (tx.end !== undefined && tx.end <= st.start)) continue;
      seen.add(tx);
      const fate = tx.outcome === 'commit' ? `committed later (${offset(tx.end! - ref)})` : 'never committed';
      if (lines.length < VISIBILITY_LINES) {
        const flushed = wrote.flushAt ? ` (flushed at ${frameLink(wrote.flushAt, root)})` : '';
        lines.push(`- ${ownerLabel(wrote)} ${tx.label} ${statementShort(wrote)} at ${frameLink(wrote.at, root)}${flushed} was uncommitted, ${fate}: this read **could not see it**`);
      }
    }
  }
  return lines;
}

function storyOf(model: ModelRun, sts: ModelStatement[], root: string | undefined): string {
  const st = sts.find((s) => s.err) ?? sts[0];
  const tx = st.transaction;
  const idx = tableIndex(model);
  const test = st.test ? idx.tests.get(st.test) : undefined;
  const ref = test?.start ?? 0;
  const out: string[] = [];
  const where = test ? ` · in \`${testLabel(test.id)}\` ${offset(st.start - ref)}` : '';
  out.push(`**${ownerLabel(st)}${tx ? ` · ${tx.label}` : ''}** · ${statementShort(st)}${where}`);
  out.push('');
  const rows = st.rows !== undefined && st.rows >= 0 ? ` · ${plural(st.rows, 'row')}` : '';
  const times = sts.length > 1 ? ` · ran ${sts.length}× here` : '';
  out.push(`\`${oneLineSql(st.sql)}\`${rows}${times}`);
  out.push('');
  if (st.err) out.push(`- Failed: ${st.err.type}: ${oneLineSql(st.err.message, 200)}`);
  if (st.flushAt && st.at) out.push(`- An ORM flush sent it: the object changed at ${frameLink(st.at, root)}, the flush ran at ${frameLink(st.flushAt, root)}`);
  if (st.session) {
    const cls = st.session.cls ? ` (${st.session.cls})` : '';
    // A session-, module- or class-scoped fixture's session outlives the test: say it was not this test's own.
    const shared = test && st.session.opened < test.start ? ', shared: opened before this test started' : '';
    out.push(`- Session ${st.session.label}${cls} opened at ${frameLink(st.session.at, root)}${shared}, on connection ${st.connection.label} to ${databaseName((tx?.connection ?? st.connection))}`);
  } else {
    out.push(`- Connection ${st.connection.label} to ${databaseName((tx?.connection ?? st.connection))}, no ORM session`);
  }
  if (!tx) {
    out.push('- Ran outside a transaction the agent saw (autocommit)');
    return out.join('\n');
  }
  const mine = tx.statements.filter((s) => s.op !== 'tx');
  const pos = mine.indexOf(st);
  const iso = tx.isolation ? `, ${tx.isolation}` : '';
  out.push(`- Transaction ${tx.label}${iso} began ${tx.implicit ? 'implicitly ' : ''}at ${frameLink(tx.beginAt ?? mine[0]?.at, root)} (${offset(tx.start - ref)}); this was statement ${pos + 1} of ${mine.length}`);
  out.push(`- Ended: ${outcomeLong(tx, root)}${tx.end !== undefined ? ` (${offset(tx.end - ref)})` : ''}`);
  if (tx.writes.length > 0 && (st.op === 'write' || st.op === 'ddl')) {
    out.push('', ...writeVisibility(model, tx, ref, root));
  } else if (st.op === 'read') {
    const hidden = hiddenWrites(model, st, ref, root);
    if (hidden.length > 0) out.push('', 'Other sessions held uncommitted writes to what this read:', ...hidden);
  }
  return out.join('\n');
}

/**
 * Markdown telling the session story of one source line, or undefined when
 * nothing in the run happened there. `file` is absolute, `line` 1-based.
 */
export function hoverMarkdown(model: ModelRun, file: string, line: number): string | undefined {
  const activity = lineIndex(model).get(file)?.get(line);
  if (!activity) return undefined;
  const root = runRoot(model);
  const parts: string[] = [];
  // One story per transaction (a loop runs a line many times in one transaction).
  const groups = new Map<unknown, ModelStatement[]>();
  for (const st of activity.statements) {
    const key = st.transaction ?? st;
    const g = groups.get(key);
    if (g) g.push(st);
    else groups.set(key, [st]);
  }
  // A lost write or a failure is what the reader came for: tell those first.
  const lossy = (g: ModelStatement[]) => g.some((s) => (s.op === 'write' && s.transaction?.outcome !== 'commit') || s.err);
  const ordered = [...groups.values()].sort((a, b) => Number(lossy(b)) - Number(lossy(a)) || a[0].time - b[0].time);
  for (const g of ordered.slice(0, HOVER_GROUPS)) parts.push(storyOf(model, g, root));
  if (ordered.length > HOVER_GROUPS) parts.push(`… and ${plural(ordered.length - HOVER_GROUPS, 'more transaction')} ran this line.`);
  for (const hit of activity.identityHits.slice(0, 2)) {
    parts.push(
      `**${hit.session.label}** read ${hit.entity} ${hit.key.join(', ')} from its identity map: no SQL ran, so anything another session committed to that row since ${hit.session.label} loaded it was not seen.`,
    );
  }
  if (parts.length === 0) return undefined;
  return `**txlens** · ${plural(groups.size, 'transaction')} ran SQL on this line\n\n${parts.join('\n\n---\n\n')}`;
}
