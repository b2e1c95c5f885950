/** Transaction bars: one per transaction on a shown lane, at most `maxBars`. */
import type { ModelTransaction } from '../../model/model';
import { databaseShortName, transactionOutcome } from '../../present/wording';
import type { ViewBuild } from './context';
import { type Owner, ownerOfTx } from './lanes';
import type { TimelineBar } from './view';

export function buildBars(b: ViewBuild, laneIndex: Map<Owner, number>): { bars: TimelineBar[]; barIndex: Map<ModelTransaction, number> } {
  const bars: TimelineBar[] = [];
  const barIndex = new Map<ModelTransaction, number>();
  let dropped = 0;
  for (const tx of b.model.transactions) {
    const lane = laneIndex.get(ownerOfTx(tx));
    if (lane === undefined) continue;
    if (bars.length >= b.opt.maxBars) {
      dropped++;
      continue;
    }
    barIndex.set(tx, bars.length);
    bars.push(bar(b, tx, lane));
  }
  if (dropped > 0) b.notes.push(`${dropped} transactions not drawn (at most ${b.opt.maxBars})`);
  return { bars, barIndex };
}

function bar(b: ViewBuild, tx: ModelTransaction, lane: number): TimelineBar {
  return {
    id: tx.label,
    lane,
    x0: b.x(tx.start),
    x1: tx.end === undefined ? 1 : b.x(tx.end),
    outcome: tx.outcome,
    quiet: tx.outcome === 'rollback' && tx.writes.length === 0,
    cause: tx.cause,
    outcomeText: transactionOutcome(tx),
    start: tx.start - b.origin,
    end: tx.end === undefined ? undefined : tx.end - b.origin,
    begin: b.place(tx.beginAt),
    endAt: b.place(tx.endAt),
    connection: tx.connection.label,
    isolation: tx.isolation,
    database: databaseShortName(tx.connection.db),
    statements: tx.statements.length,
    writes: tx.writes.length,
    test: tx.test,
  };
}
