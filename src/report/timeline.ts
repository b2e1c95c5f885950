/**
 * The session timeline as data: one lane per ORM session (or per connection
 * for work outside any session), grouped by process; transaction bars, a tick
 * per statement, arrows from a write to the reads that could not see it, and
 * markers for findings. The same view model feeds the editor's webview and the
 * standalone HTML file of `txlens report --html`; media/timeline.js draws it.
 *
 * Positions are precomputed here on a warped time axis: every gap between two
 * consecutive events is drawn with a width that grows with the logarithm of its
 * duration. Order is what tells the story (the read came after the INSERT and
 * before the COMMIT), and a linear axis would squash a test's statements into a
 * pixel next to one slow fixture. The axis labels carry the real times.
 *
 * The view is bounded whatever the size of the run: dense ticks on a lane merge
 * into one aggregate tick, and lanes, bars, ticks and arrows are capped with a
 * note saying what was left out.
 */
import type { Finding, Severity } from '../analysis/findings';
import type { ModelConnection, ModelIdentityHit, ModelProcess, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../model/model';
import { runCounts, type Counts } from '../model/model';
import { uncommittedPairs } from '../model/query-facts';
import type { RollbackCause, SourceFrame } from '../trace/schema';
import { relPath } from './render';

export const TIMELINE_VERSION = 1;
export const TIMELINE_TITLE = 'txlens: Session Timeline';

/** A place in the user's source: `file` absolute (for jumping), `path` for display. */
export interface TimelinePlace {
  file: string;
  line: number;
  path: string;
}

export interface TimelineProcess {
  pid: number;
  /** 'pid 1234 · python -m pytest -q'. */
  label: string;
  /** Index of the nearest process (itself or an ancestor) whose tests cover this one's lanes. */
  testsFrom: number;
  lanes: number;
}

export interface TimelineLane {
  /** 'S3' for a session, 'C2' for a connection's work outside any session. Unique in the view. */
  id: string;
  kind: 'session' | 'connection';
  process: number;
  /** Short description: the session class or driver, and the database. */
  detail: string;
  at?: TimelinePlace;
  test?: string;
  x0: number;
  x1: number;
  /** Indexes into `findings` of findings placed on this lane. */
  findings: number[];
}

export type BarOutcome = 'commit' | 'rollback' | 'open';

export interface TimelineBar {
  id: string;
  lane: number;
  x0: number;
  x1: number;
  outcome: BarOutcome;
  /** A rollback that lost nothing (no writes): drawn quietly. */
  quiet: boolean;
  cause?: RollbackCause;
  /** 'committed', 'rolled back: session closed without commit', 'never ended', ... */
  outcomeText: string;
  /** ns from the start of the run. */
  start: number;
  end?: number;
  begin?: TimelinePlace;
  endAt?: TimelinePlace;
  connection: string;
  isolation?: string;
  database?: string;
  statements: number;
  writes: number;
  test?: string;
}

export type TickKind = 'read' | 'write' | 'ddl' | 'tx' | 'other' | 'identity';

export interface TickItem {
  verb: string;
  tables: string[];
  sql?: string;
  at?: TimelinePlace;
}

export interface TimelineTick {
  lane: number;
  x: number;
  /** ns from the start of the run (the statement's completion). */
  time: number;
  kind: TickKind;
  verb: string;
  tables: string[];
  /** SQL text, truncated; absent for identity-map hits (no SQL was sent). */
  sql?: string;
  at?: TimelinePlace;
  /** Index of the transaction bar it ran in. */
  bar?: number;
  rows?: number;
  /** Duration in ns. */
  dur?: number;
  error?: string;
  test?: string;
  /** More than one when dense statements were merged into this tick; `items` lists the first few. */
  count: number;
  items?: TickItem[];
}

export type ArrowKind = 'uncommitted' | 'stale';

export interface TimelineArrow {
  /** Tick index of the write. */
  from: number;
  /** Tick index of the read that could not see it (or saw an older state). */
  to: number;
  kind: ArrowKind;
  /** Index into `findings` when a finding reports this very pair. */
  finding?: number;
  /** 'S8 tx16 INSERT jobs (uncommitted) → S9 SELECT jobs'. */
  text: string;
}

export interface TimelineFinding {
  rule: string;
  severity: Severity;
  message: string;
  at: TimelinePlace;
  related: (TimelinePlace & { message: string })[];
  test?: string;
  /** Where it sits on the timeline, when a statement, transaction end or session matches its place. */
  lane?: number;
  x?: number;
  tick?: number;
  bar?: number;
}

export interface TimelineTest {
  id: string;
  name: string;
  /** What people read on the chart: the id without its file ('test_b[1]', 'TestX::test_b'); `path` has the file. */
  label: string;
  /** The test's file for display, relative to the project root ('' when the id names none). */
  path: string;
  outcome?: string;
  message?: string;
  /** Findings attributed to this test. */
  findings: number;
  /** Failed, errored or has a finding: what the timeline opens on. */
  attention: boolean;
  process: number;
  x0: number;
  x1: number;
}

export interface TimelineAxisMark {
  x: number;
  /** ns from the start of the run. */
  time: number;
  label: string;
}

export interface TimelineView {
  version: number;
  title: string;
  /** What was traced, for the heading: the run's command when known. */
  subtitle: string;
  counts: Counts;
  processes: TimelineProcess[];
  lanes: TimelineLane[];
  bars: TimelineBar[];
  ticks: TimelineTick[];
  arrows: TimelineArrow[];
  findings: TimelineFinding[];
  tests: TimelineTest[];
  /** Ids of the tests that failed or have a finding, in run order, each once. */
  focus: string[];
  /**
   * What the page shows first: 'focus', the tests in `focus` side by side, when the
   * whole run would squeeze one of them narrower than a readable label; else 'run'.
   */
  opensOn: 'focus' | 'run';
  axis: TimelineAxisMark[];
  /** What was left out or merged to keep the picture bounded, and the model's own notes. */
  notes: string[];
}

export interface TimelineOptions {
  /** Display paths are made relative to this folder. */
  cwd: string;
  maxLanes?: number;
  maxTicks?: number;
  maxBars?: number;
  maxArrows?: number;
  /** Width the aggregation assumes, in pixels; ticks closer than `minTickGap` pixels merge. */
  nominalWidth?: number;
  minTickGap?: number;
  /** Longest SQL text kept per statement. */
  maxSql?: number;
}

const DEFAULTS = {
  maxLanes: 250,
  maxTicks: 12_000,
  maxBars: 12_000,
  maxArrows: 400,
  nominalWidth: 1200,
  minTickGap: 4,
  maxSql: 2000,
};

/** Gaps shorter than this are drawn almost linearly; longer ones logarithmically. */
const WARP_UNIT_NS = 20_000;
const AGGREGATE_ITEMS = 8;

const CAUSE_SHORT: Record<RollbackCause, string> = {
  explicit: 'rollback() called',
  error: 'rolled back by an error',
  close: 'connection closed without commit',
  'session-close': 'session closed without commit',
  'pool-reset': "pool's reset-on-return",
  exit: 'process ended before commit',
  gc: 'garbage collected without commit',
};

/** Maps run times (ns) onto [0, 1], keeping order and shrinking long gaps. */
class TimeWarp {
  private readonly times: Float64Array;
  private readonly pos: Float64Array;

  constructor(raw: number[]) {
    const sorted = Float64Array.from(raw).sort();
    let n = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
    this.times = sorted.slice(0, Math.max(n, 1));
    this.pos = new Float64Array(this.times.length);
    for (let i = 1; i < this.times.length; i++) this.pos[i] = this.pos[i - 1] + Math.log1p((this.times[i] - this.times[i - 1]) / WARP_UNIT_NS);
    const total = this.pos[this.times.length - 1] || 1;
    for (let i = 0; i < this.pos.length; i++) this.pos[i] /= total;
  }

  get first(): number {
    return this.times[0];
  }

  get last(): number {
    return this.times[this.times.length - 1];
  }

  x(time: number): number {
    const t = this.times;
    if (time <= t[0]) return 0;
    if (time >= t[t.length - 1]) return 1;
    let lo = 0;
    let hi = t.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (t[mid] <= time) lo = mid;
      else hi = mid;
    }
    const span = t[hi] - t[lo];
    return this.pos[lo] + (span > 0 ? ((this.pos[hi] - this.pos[lo]) * (time - t[lo])) / span : 0);
  }

  /** The time drawn at `x`, for axis labels. */
  timeAt(x: number): number {
    const p = this.pos;
    if (x <= 0) return this.times[0];
    if (x >= 1) return this.last;
    let lo = 0;
    let hi = p.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (p[mid] <= x) lo = mid;
      else hi = mid;
    }
    const span = p[hi] - p[lo];
    return this.times[lo] + (span > 0 ? ((this.times[hi] - this.times[lo]) * (x - p[lo])) / span : 0);
  }
}

export function timeLabel(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(s < 10 ? 2 : 1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function processLabel(p: ModelProcess): string {
  const argv = p.header.argv ?? [];
  const exe = (argv[0] ?? p.header.lang ?? '').split(/[\\/]/).pop() ?? '';
  let cmd = [exe, ...argv.slice(1)].join(' ').trim();
  if (cmd.length > 80) cmd = `${cmd.slice(0, 79)}…`;
  return cmd ? `pid ${p.pid} · ${cmd}` : `pid ${p.pid}`;
}

function databaseName(conn: ModelConnection): string | undefined {
  const db = conn.db;
  if (!db) return undefined;
  if (db.memory) return ':memory:';
  const name = db.file ?? db.name ?? db.system;
  return name.split(/[\\/]/).pop() ?? name;
}

function outcomeText(tx: ModelTransaction): string {
  if (tx.outcome === 'commit') return 'committed';
  if (tx.outcome === 'open') return 'never ended';
  if (tx.writes.length === 0) return 'ended, nothing to commit';
  return tx.cause ? `rolled back: ${CAUSE_SHORT[tx.cause]}` : 'ended without a recorded commit or rollback';
}

/** The lane a piece of work belongs to: its session, else its connection. */
type Owner = ModelSession | ModelConnection;

export function timelineView(model: ModelRun, findings: Finding[], options: TimelineOptions): TimelineView {
  const opt = { ...DEFAULTS, ...options };
  const notes: string[] = [];
  const placeCache = new Map<string, TimelinePlace>();
  const place = (at: SourceFrame | undefined): TimelinePlace | undefined => {
    if (!at) return undefined;
    const k = `${at[0]}\u0000${at[1]}`;
    let p = placeCache.get(k);
    if (!p) placeCache.set(k, (p = { file: at[0], line: at[1], path: relPath(at[0], opt.cwd) }));
    return p;
  };
  const truncate = (sql: string) => (sql.length > opt.maxSql ? `${sql.slice(0, opt.maxSql)}… (${sql.length - opt.maxSql} more characters)` : sql);

  // ---- lanes: sessions, and connections for work outside any session ----
  const ownerOfTx = (tx: ModelTransaction): Owner => tx.session ?? tx.connection;
  const ownerOfSt = (st: ModelStatement): Owner => st.session ?? st.transaction?.session ?? st.connection;
  interface LaneInfo {
    owner: Owner;
    kind: 'session' | 'connection';
    first: number;
    last: number;
    priority: boolean;
  }
  const laneInfo = new Map<Owner, LaneInfo>();
  const touch = (owner: Owner, time: number, kind: 'session' | 'connection') => {
    let info = laneInfo.get(owner);
    if (!info) laneInfo.set(owner, (info = { owner, kind, first: time, last: time, priority: false }));
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

  // ---- the time axis ----
  const times: number[] = [];
  for (const info of laneInfo.values()) times.push(info.first, info.last);
  for (const tx of model.transactions) {
    times.push(tx.start);
    if (tx.end !== undefined) times.push(tx.end);
  }
  for (const st of model.statements) times.push(st.time);
  for (const h of model.identityHits) times.push(h.time);
  for (const t of model.tests) {
    times.push(t.start);
    if (t.end !== undefined) times.push(t.end);
  }
  if (times.length === 0) times.push(0);
  const warp = new TimeWarp(times);
  const origin = warp.first;
  const X = (t: number) => warp.x(t);

  // ---- which statements could not see which writes (before capping, so lanes involved are kept) ----
  const rawArrows = uncommittedPairs(model);
  const staleFromFindings = findings
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => f.rule === 'stale-read' && f.related.length > 0);
  for (const a of rawArrows) {
    laneInfo.get(ownerOfSt(a.write))!.priority = true;
    laneInfo.get(ownerOfSt(a.read))!.priority = true;
  }

  // Findings placed on the timeline: first a statement at the finding's line (same test), then a transaction
  // ended there, then an identity-map hit, then a session opened there.
  const sameTest = (f: Finding, test: string | undefined) => !f.test || f.test === test;
  const atKey = (at: SourceFrame | undefined) => (at ? `${at[0]}\u0000${at[1]}` : '');
  const stmtsAt = new Map<string, ModelStatement[]>();
  for (const st of model.statements) {
    if (!st.at) continue;
    const k = atKey(st.at);
    const list = stmtsAt.get(k);
    if (list) list.push(st);
    else stmtsAt.set(k, [st]);
  }
  interface Placed {
    owner: Owner;
    time: number;
    st?: ModelStatement;
    hit?: ModelIdentityHit;
    tx?: ModelTransaction;
  }
  const placeFinding = (f: Finding): Placed | undefined => {
    const k = `${f.location.file}\u0000${f.location.line}`;
    const st = (stmtsAt.get(k) ?? []).find((s) => sameTest(f, s.test));
    if (st) return { owner: ownerOfSt(st), time: st.time, st };
    const tx = model.transactions.find((t) => atKey(t.endAt) === k && sameTest(f, t.test));
    if (tx) return { owner: ownerOfTx(tx), time: tx.end ?? tx.start, tx };
    const hit = model.identityHits.find((h) => atKey(h.at) === k && sameTest(f, h.test));
    if (hit) return { owner: hit.session, time: hit.time, hit };
    const sess = model.sessions.find((s) => atKey(s.at) === k && sameTest(f, s.test));
    if (sess) return { owner: sess, time: sess.opened };
    return undefined;
  };
  const placed = findings.map(placeFinding);
  for (const p of placed) if (p && laneInfo.has(p.owner)) laneInfo.get(p.owner)!.priority = true;

  // Lanes kept: those the story needs (arrows, findings) first, then by first activity.
  let kept = [...laneInfo.values()];
  if (kept.length > opt.maxLanes) {
    kept.sort((a, b) => Number(b.priority) - Number(a.priority) || a.first - b.first);
    const dropped = kept.length - opt.maxLanes;
    kept = kept.slice(0, opt.maxLanes);
    notes.push(`${dropped} of ${laneInfo.size} lanes not shown (the first ${opt.maxLanes} by activity are, and every lane a finding or arrow is on)`);
  }
  // Group by process (in order of start), then by first activity.
  const procOrder = [...model.processes].sort((a, b) => a.start - b.start || a.pid - b.pid);
  const procRank = new Map(procOrder.map((p, i) => [p, i]));
  const ownerProcess = (o: Owner) => o.process;
  kept.sort((a, b) => procRank.get(ownerProcess(a.owner))! - procRank.get(ownerProcess(b.owner))! || a.first - b.first);

  const usedProcs = procOrder.filter((p) => kept.some((k) => ownerProcess(k.owner) === p));
  const procSlot = new Map(usedProcs.map((p, i) => [p, i]));
  const testsOwner = (p: ModelProcess): ModelProcess | undefined => {
    for (let q: ModelProcess | undefined = p; q; q = q.parent) if (q.tests.length > 0) return q;
    return undefined;
  };
  const processes: TimelineProcess[] = usedProcs.map((p, i) => {
    const owner = testsOwner(p);
    return { pid: p.pid, label: processLabel(p), testsFrom: owner && procSlot.has(owner) ? procSlot.get(owner)! : i, lanes: 0 };
  });

  const laneIndex = new Map<Owner, number>();
  const lanes: TimelineLane[] = kept.map((info, i) => {
    laneIndex.set(info.owner, i);
    const proc = procSlot.get(ownerProcess(info.owner))!;
    processes[proc].lanes++;
    const o = info.owner;
    let detail: string;
    let test: string | undefined;
    if (info.kind === 'session') {
      const s = o as ModelSession;
      const db = s.transactions.map((t) => databaseName(t.connection)).find((d) => d);
      detail = [s.cls ?? 'Session', db].filter(Boolean).join(' · ');
      test = s.test;
    } else {
      const c = o as ModelConnection;
      detail = [c.driver ?? 'connection', databaseName(c)].filter(Boolean).join(' · ');
      test = c.transactions[0]?.test;
    }
    return { id: o.label, kind: info.kind, process: proc, detail, at: place(o.at), test, x0: X(info.first), x1: X(info.last), findings: [] };
  });

  // ---- bars ----
  const bars: TimelineBar[] = [];
  const barIndex = new Map<ModelTransaction, number>();
  let droppedBars = 0;
  for (const tx of model.transactions) {
    const lane = laneIndex.get(ownerOfTx(tx));
    if (lane === undefined) continue;
    if (bars.length >= opt.maxBars) {
      droppedBars++;
      continue;
    }
    barIndex.set(tx, bars.length);
    bars.push({
      id: tx.label,
      lane,
      x0: X(tx.start),
      x1: tx.end === undefined ? 1 : X(tx.end),
      outcome: tx.outcome,
      quiet: tx.outcome === 'rollback' && tx.writes.length === 0,
      cause: tx.cause,
      outcomeText: outcomeText(tx),
      start: tx.start - origin,
      end: tx.end === undefined ? undefined : tx.end - origin,
      begin: place(tx.beginAt),
      endAt: place(tx.endAt),
      connection: tx.connection.label,
      isolation: tx.isolation,
      database: databaseName(tx.connection),
      statements: tx.statements.length,
      writes: tx.writes.length,
      test: tx.test,
    });
  }
  if (droppedBars > 0) notes.push(`${droppedBars} transactions not drawn (at most ${opt.maxBars})`);

  // ---- ticks: statements and identity-map hits, merged where dense ----
  interface RawTick {
    lane: number;
    x: number;
    time: number;
    st?: ModelStatement;
    hit?: ModelIdentityHit;
    pinned: boolean;
  }
  const pinned = new Set<ModelStatement | ModelIdentityHit>();
  for (const a of rawArrows) pinned.add(a.write).add(a.read);
  for (const p of placed) if (p?.st) pinned.add(p.st);
  for (const p of placed) if (p?.hit) pinned.add(p.hit);
  const raw: RawTick[] = [];
  for (const st of model.statements) {
    const lane = laneIndex.get(ownerOfSt(st));
    if (lane !== undefined) raw.push({ lane, x: X(st.time), time: st.time, st, pinned: pinned.has(st) });
  }
  for (const hit of model.identityHits) {
    const lane = laneIndex.get(hit.session);
    if (lane !== undefined) raw.push({ lane, x: X(hit.time), time: hit.time, hit, pinned: pinned.has(hit) });
  }
  raw.sort((a, b) => a.lane - b.lane || a.time - b.time);

  const kindOf = (r: RawTick): TickKind => (r.hit ? 'identity' : (r.st!.op as TickKind));
  const single = (r: RawTick): TimelineTick => {
    if (r.hit) {
      const h = r.hit;
      return {
        lane: r.lane,
        x: r.x,
        time: r.time - origin,
        kind: 'identity',
        verb: `get ${h.entity}`,
        tables: h.table ? [h.table] : [],
        at: place(h.at),
        test: h.test,
        count: 1,
      };
    }
    const st = r.st!;
    return {
      lane: r.lane,
      x: r.x,
      time: r.time - origin,
      kind: kindOf(r),
      verb: st.verb || st.op.toUpperCase(),
      tables: st.writes.length ? st.writes : st.reads,
      sql: truncate(st.sql),
      at: place(st.at),
      bar: st.transaction ? barIndex.get(st.transaction) : undefined,
      rows: st.rows,
      dur: st.dur,
      error: st.err ? `${st.err.type ?? 'error'}: ${st.err.message}` : undefined,
      test: st.test,
      count: 1,
    };
  };
  const item = (r: RawTick): TickItem => {
    const t = single(r);
    return { verb: t.verb, tables: t.tables, sql: t.sql && t.sql.length > 300 ? `${t.sql.slice(0, 300)}…` : t.sql, at: t.at };
  };
  const KIND_WEIGHT: Record<TickKind, number> = { write: 5, ddl: 4, identity: 3, read: 2, other: 1, tx: 0 };

  let gap = opt.minTickGap / opt.nominalWidth;
  let ticks: TimelineTick[] = [];
  const tickOf = new Map<ModelStatement | ModelIdentityHit, number>();
  for (let attempt = 0; ; attempt++) {
    ticks = [];
    tickOf.clear();
    let group: RawTick[] = [];
    const flush = () => {
      if (group.length === 0) return;
      if (group.length === 1) {
        tickOf.set(group[0].st ?? group[0].hit!, ticks.length);
        ticks.push(single(group[0]));
      } else {
        // The merged tick shows its strongest member (a write over a read) and counts the rest.
        let lead = group[0];
        for (const r of group) if (KIND_WEIGHT[kindOf(r)] > KIND_WEIGHT[kindOf(lead)]) lead = r;
        const t = single(lead);
        const verbs = new Map<string, number>();
        for (const r of group) {
          const s = single(r);
          const k = `${s.verb}${s.tables.length ? ` ${s.tables.join(', ')}` : ''}`;
          verbs.set(k, (verbs.get(k) ?? 0) + 1);
        }
        t.count = group.length;
        t.items = group.slice(0, AGGREGATE_ITEMS).map(item);
        t.verb = `${group.length} statements`;
        t.tables = [...new Set(group.flatMap((r) => single(r).tables))].slice(0, 6);
        t.sql = [...verbs].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('\n');
        t.error = group.some((r) => r.st?.err) ? 'some of these statements failed' : undefined;
        const bars = new Set(group.map((r) => (r.st?.transaction ? barIndex.get(r.st.transaction) : undefined)));
        t.bar = bars.size === 1 ? [...bars][0] : undefined;
        t.rows = undefined;
        t.dur = undefined;
        for (const r of group) tickOf.set(r.st ?? r.hit!, ticks.length);
        ticks.push(t);
      }
      group = [];
    };
    for (const r of raw) {
      const prev = group[group.length - 1];
      // Statements the story points at (arrows, findings) always keep a tick of their own.
      if (prev && (r.pinned || prev.pinned || prev.lane !== r.lane || r.x - group[0].x >= gap)) flush();
      group.push(r);
    }
    flush();
    if (ticks.length <= opt.maxTicks || attempt >= 12) break;
    gap *= 2;
  }
  if (ticks.length < raw.length) {
    notes.push(`${raw.length - ticks.length + ticks.filter((t) => t.count > 1).length} statements drawn as ${ticks.filter((t) => t.count > 1).length} merged ticks where they ran too close together to tell apart`);
  }
  if (ticks.length > opt.maxTicks) {
    const dropped = ticks.length - opt.maxTicks;
    ticks = ticks.slice(0, opt.maxTicks);
    notes.push(`${dropped} ticks not drawn (at most ${opt.maxTicks})`);
  }
  const tickAt = (x: ModelStatement | ModelIdentityHit) => {
    const i = tickOf.get(x);
    return i !== undefined && i < ticks.length ? i : undefined;
  };

  // ---- findings and their places ----
  const tlFindings: TimelineFinding[] = findings.map((f, i) => {
    const out: TimelineFinding = {
      rule: f.rule,
      severity: f.severity,
      message: f.message,
      at: { file: f.location.file, line: f.location.line, path: relPath(f.location.file, opt.cwd) },
      related: f.related.map((r) => ({ file: r.file, line: r.line, path: relPath(r.file, opt.cwd), message: r.message })),
      test: f.test,
    };
    const p = placed[i];
    const lane = p ? laneIndex.get(p.owner) : undefined;
    if (p && lane !== undefined) {
      out.lane = lane;
      out.x = X(p.time);
      const tick = p.st ? tickAt(p.st) : p.hit ? tickAt(p.hit) : undefined;
      if (tick !== undefined) out.tick = tick;
      if (p.tx && barIndex.has(p.tx)) out.bar = barIndex.get(p.tx);
      lanes[lane].findings.push(i);
    }
    return out;
  });

  // ---- arrows ----
  const arrows: TimelineArrow[] = [];
  const describe = (st: ModelStatement) => `${ownerOfSt(st).label}${st.transaction ? ` ${st.transaction.label}` : ''} ${st.verb} ${(st.writes.length ? st.writes : st.reads).join(', ')}`.trim();
  const findingFor = (rule: string, read: SourceFrame | undefined, write: SourceFrame | undefined, test: string | undefined) =>
    findings.findIndex(
      (f) =>
        f.rule === rule &&
        sameTest(f, test) &&
        read !== undefined &&
        f.location.file === read[0] &&
        f.location.line === read[1] &&
        (write === undefined || f.related.some((r) => r.file === write[0] && r.line === write[1])),
    );
  // Finding-backed arrows first, so the cap never drops the ones that explain a failure.
  const candidates = rawArrows.map((a) => ({ ...a, finding: findingFor('uncommitted-read', a.read.at, a.write.at, a.read.test) }));
  candidates.sort((a, b) => Number(b.finding >= 0) - Number(a.finding >= 0) || a.read.time - b.read.time);
  const seenPairs = new Set<string>();
  let droppedArrows = 0;
  for (const a of candidates) {
    const from = tickAt(a.write);
    const to = tickAt(a.read);
    if (from === undefined || to === undefined) continue;
    const k = `${from}:${to}`;
    if (seenPairs.has(k)) continue;
    seenPairs.add(k);
    if (arrows.length >= opt.maxArrows) {
      droppedArrows++;
      continue;
    }
    arrows.push({
      from,
      to,
      kind: 'uncommitted',
      finding: a.finding >= 0 ? a.finding : undefined,
      text: `${describe(a.read)} could not see ${describe(a.write)} (not committed yet)`,
    });
  }
  // Stale reads: from the committed write the finding names to the read or identity-map hit that missed it.
  for (const { f, i } of staleFromFindings) {
    const target = tlFindings[i].tick;
    if (target === undefined) continue;
    const writeAt = f.related[0];
    const write = (stmtsAt.get(`${writeAt.file}\u0000${writeAt.line}`) ?? []).find(
      (s) => s.op === 'write' && sameTest(f, s.test) && s.time < ticks[target].time + origin,
    );
    const from = write ? tickAt(write) : undefined;
    if (from === undefined || seenPairs.has(`${from}:${target}`)) continue;
    seenPairs.add(`${from}:${target}`);
    arrows.push({ from, to: target, kind: 'stale', finding: i, text: `${ticks[target].verb} returned the state from before ${describe(write!)} was committed` });
  }
  if (droppedArrows > 0) notes.push(`${droppedArrows} more reads of uncommitted writes not drawn as arrows (at most ${opt.maxArrows})`);

  // ---- tests and axis ----
  const tests: TimelineTest[] = [];
  const findingsOf = new Map<string, number>();
  for (const f of findings) if (f.test) findingsOf.set(f.test, (findingsOf.get(f.test) ?? 0) + 1);
  for (const t of model.tests) {
    const proc = procSlot.get(t.process);
    if (proc === undefined) continue;
    const own = findingsOf.get(t.id) ?? 0;
    tests.push({
      id: t.id,
      name: t.name,
      label: testLabel(t.id, t.name),
      path: t.file ? relPath(t.file, opt.cwd) : '',
      outcome: t.outcome,
      message: t.message,
      findings: own,
      attention: t.outcome === 'failed' || t.outcome === 'error' || own > 0,
      process: proc,
      x0: X(t.start),
      x1: X(t.end ?? t.process.end),
    });
  }
  const focus = [...new Set(tests.filter((t) => t.attention).map((t) => t.id))];
  const squeezed = tests.some((t) => t.attention && (t.x1 - t.x0) * opt.nominalWidth < READABLE_TEST_PX);
  const axis: TimelineAxisMark[] = [];
  const AXIS_STEPS = 10;
  for (let i = 0; i <= AXIS_STEPS; i++) {
    const x = i / AXIS_STEPS;
    const time = warp.timeAt(x) - origin;
    axis.push({ x, time, label: i === 0 ? '0' : `+${timeLabel(time)}` });
  }

  const command = model.run?.command?.join(' ');
  notes.push(...model.notes);
  return {
    version: TIMELINE_VERSION,
    title: TIMELINE_TITLE,
    subtitle: command ? `${command}` : relPath(model.dir, opt.cwd),
    counts: runCounts(model),
    processes,
    lanes,
    bars,
    ticks,
    arrows,
    findings: tlFindings,
    tests,
    focus,
    opensOn: squeezed ? 'focus' : 'run',
    axis,
    notes,
  };
}

/** Narrowest band, in pixels at the nominal width, that holds a test's name: below it the page opens on the focus tests. */
const READABLE_TEST_PX = 160;

/** 'tests/test_a.py::TestX::test_b[1]' → 'TestX::test_b[1]'; a runner's title without '::' stays whole. */
export function testLabel(id: string, name: string): string {
  const i = id.indexOf('::');
  return i < 0 ? name || id : id.slice(i + 2);
}

