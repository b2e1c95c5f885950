/**
 * Lanes: one per ORM session, and one per connection for work outside any
 * session, grouped by process. When there are more than the view may hold, the
 * lanes the story needs (arrows, findings) are kept first, then by first activity.
 */
import type { ModelConnection, ModelProcess, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import { databaseShortName } from '../../present/wording';
import type { ViewBuild } from './context';
import type { TimelineLane, TimelineProcess } from './view';

/** The lane a piece of work belongs to: its session, else its connection. */
export type Owner = ModelSession | ModelConnection;

export const ownerOfTx = (tx: ModelTransaction): Owner => tx.session ?? tx.connection;
export const ownerOfSt = (st: ModelStatement): Owner => st.session ?? st.transaction?.session ?? st.connection;

/** When a lane's owner was active, and whether the story needs it on the picture. */
export interface LaneActivity {
  owner: Owner;
  kind: 'session' | 'connection';
  first: number;
  last: number;
  priority: boolean;
}

/** Every owner that did something, with the span of its activity. */
export function laneActivity(model: ModelRun): Map<Owner, LaneActivity> {
  const activity = new Map<Owner, LaneActivity>();
  const touch = (owner: Owner, time: number, kind: 'session' | 'connection') => {
    let info = activity.get(owner);
    if (!info) activity.set(owner, (info = { owner, kind, first: time, last: time, priority: false }));
    if (time < info.first) info.first = time;
    if (time > info.last) info.last = time;
  };
  for (const s of model.sessions) {
    touch(s, s.opened, 'session');
    if (s.closed !== undefined) touch(s, s.closed, 'session');
  }
  for (const tx of model.transactions) {
    const o = ownerOfTx(tx);
    touch(o, tx.start, tx.session ? 'session' : 'connection');
    if (tx.end !== undefined) touch(o, tx.end, tx.session ? 'session' : 'connection');
  }
  for (const st of model.statements) {
    const o = ownerOfSt(st);
    touch(o, st.time, o === st.connection ? 'connection' : 'session');
  }
  return activity;
}

/** The lanes shown: all of them, or at most `maxLanes` with the ones the story needs first. */
export function keptLanes(activity: Map<Owner, LaneActivity>, maxLanes: number, notes: string[]): LaneActivity[] {
  let kept = [...activity.values()];
  if (kept.length > maxLanes) {
    kept.sort((a, b) => Number(b.priority) - Number(a.priority) || a.first - b.first);
    const dropped = kept.length - maxLanes;
    kept = kept.slice(0, maxLanes);
    notes.push(`${dropped} of ${activity.size} lanes not shown (the first ${maxLanes} by activity are, and every lane a finding or arrow is on)`);
  }
  return kept;
}

export interface LaneLayout {
  processes: TimelineProcess[];
  lanes: TimelineLane[];
  laneIndex: Map<Owner, number>;
  /** A process's index in `processes`, for the processes that have a lane. */
  procSlot: Map<ModelProcess, number>;
}

/** The kept lanes grouped by process (in order of start), each group by first activity. */
export function laneLayout(b: ViewBuild, kept: LaneActivity[]): LaneLayout {
  const procOrder = [...b.model.processes].sort((p, q) => p.start - q.start || p.pid - q.pid);
  const procRank = new Map(procOrder.map((p, i) => [p, i]));
  kept.sort((p, q) => procRank.get(p.owner.process)! - procRank.get(q.owner.process)! || p.first - q.first);

  const usedProcs = procOrder.filter((p) => kept.some((k) => k.owner.process === p));
  const procSlot = new Map(usedProcs.map((p, i) => [p, i]));
  const processes: TimelineProcess[] = usedProcs.map((p, i) => {
    const owner = testsOwner(p);
    return { pid: p.pid, label: processLabel(p), testsFrom: owner && procSlot.has(owner) ? procSlot.get(owner)! : i, lanes: 0 };
  });

  const laneIndex = new Map<Owner, number>();
  const lanes: TimelineLane[] = kept.map((info, i) => {
    laneIndex.set(info.owner, i);
    const proc = procSlot.get(info.owner.process)!;
    processes[proc].lanes++;
    const o = info.owner;
    const { detail, test } = info.kind === 'session' ? sessionDetail(o as ModelSession) : connectionDetail(o as ModelConnection);
    return { id: o.label, kind: info.kind, process: proc, detail, at: b.place(o.at), test, x0: b.x(info.first), x1: b.x(info.last), findings: [] };
  });
  return { processes, lanes, laneIndex, procSlot };
}

/** The nearest process (itself or an ancestor) that ran tests: a worker's lanes sit under its parent's tests. */
function testsOwner(p: ModelProcess): ModelProcess | undefined {
  for (let q: ModelProcess | undefined = p; q; q = q.parent) if (q.tests.length > 0) return q;
  return undefined;
}

/** 'pid 1234 · python -m pytest -q'. */
function processLabel(p: ModelProcess): string {
  const argv = p.header.argv ?? [];
  const exe = (argv[0] ?? p.header.lang ?? '').split(/[\\/]/).pop() ?? '';
  let cmd = [exe, ...argv.slice(1)].join(' ').trim();
  if (cmd.length > 80) cmd = `${cmd.slice(0, 79)}…`;
  return cmd ? `pid ${p.pid} · ${cmd}` : `pid ${p.pid}`;
}

/** 'Session · test.db'. */
function sessionDetail(s: ModelSession): { detail: string; test?: string } {
  const db = s.transactions.map((t) => databaseShortName(t.connection.db)).find((d) => d);
  return { detail: [s.cls ?? 'Session', db].filter(Boolean).join(' · '), test: s.test };
}

/** 'sqlite3 · test.db'. */
function connectionDetail(c: ModelConnection): { detail: string; test?: string } {
  return { detail: [c.driver ?? 'connection', databaseShortName(c.db)].filter(Boolean).join(' · '), test: c.transactions[0]?.test };
}
