/**
 * StaticChecker: runs the language plugins over a workspace and keeps a cache
 * per file (path + mtime + size) and an index of the keys files share, so the
 * editor can re-check one saved file without re-reading the others.
 * Pure Node: the CLI and the VS Code extension both use it.
 */
import { readFileSync, readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Finding } from '../analysis/findings';
import { byCodePoint } from '../present/paths';
import { applyEditsToText } from './fix';
import { languagePlugins } from './languages';
import { loadResults, saveResults, shapeOf, type PersistOptions, type StoredFile, type StoredLink } from './persist';
import type { CheckResult, FileAnalysis, LanguagePlugin, LinkContext, LinkedFile, UpdateResult, WorkspaceView } from './types';

/** Folders that never hold the user's own source. */
const SKIP_DIRS = new Set([
  '.git', '.hg', '.svn', 'node_modules', '__pycache__', '.txlens', '.txlens-dev', 'dist', 'build', 'out',
  'site-packages', '.venv', 'venv', '.tox', '.nox', '.mypy_cache', '.pytest_cache', '.ruff_cache', '.eggs',
]);

export const MAX_FILE_BYTES = 1024 * 1024;

interface Entry {
  path: string;
  rel: string;
  plugin: LanguagePlugin<unknown>;
  mtimeMs: number;
  size: number;
  analysis?: FileAnalysis<unknown>;
  /** Why the file is not analysed (binary, too big, unreadable, plugin failure). */
  note?: string;
  /** Notes of the last link (fixes withheld), replaced at each link. */
  linkNotes?: string[];
  /** What the last link returned (fixes vetted), for results kept between runs. */
  linked?: StoredLink;
  /** The generation of its plugin's files that `linked` was computed on. */
  linkedGen?: number;
}

export interface StaticCheckerOptions {
  /** Plugins to run (default: every registered language). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each plugin keeps its own per-file data type
  plugins?: LanguagePlugin<any>[];
  /** Keep results between processes in this file (./persist.ts): unchanged sources are then not parsed again. */
  persist?: PersistOptions;
}

export class StaticChecker {
  readonly root: string;
  private readonly plugins: LanguagePlugin<unknown>[];
  private readonly byExt = new Map<string, LanguagePlugin<unknown>>();
  private readonly entries = new Map<string, Entry>();
  /** plugin id → key → paths whose analysis listed the key. */
  private readonly index = new Map<string, Map<string, Set<string>>>();
  /** plugin id → key → paths whose `link` reads the files holding that key. */
  private readonly readers = new Map<string, Map<string, Set<string>>>();
  private readonly dirs = new Set<string>();
  private walkNotes: string[] = [];
  /** Per plugin: its init, started when the first file of its language is met. */
  private readonly ready = new Map<LanguagePlugin<unknown>, Promise<void>>();
  /** Plugins whose init has finished (their parsers can vet fixes). */
  private readonly initialised = new Set<LanguagePlugin<unknown>>();
  private readonly view: WorkspaceView;
  private walked = false;
  private readonly persist?: PersistOptions;
  private storeRead = false;
  /** Something was analysed or linked since the results were last read or written. */
  private unsaved = false;
  /** The shape fingerprint of the last walk (./persist.ts). */
  private shape = '';
  /**
   * The shape of the first walk. Files are analysed again when they change, not when the
   * shape does (a file added mid-process leaves the others' module names as they were), so
   * results are kept for the next process only while the shape is the one they were made in.
   */
  private firstShape?: string;
  /** Config files the plugins read (configFiles), with size and mtime, found by the last walk. */
  private configStamps: Array<[string, number, number]> = [];
  /**
   * Per plugin, how many times one of its files was analysed anew or went away. A link
   * result kept with persistence holds while its generation is the plugin's: a change to
   * any file may change what links read, so it re-links all of the plugin's files.
   */
  private readonly generation = new Map<string, number>();

  constructor(root: string, opts: StaticCheckerOptions = {}) {
    this.root = resolve(root);
    this.plugins = opts.plugins ?? languagePlugins();
    this.persist = opts.persist;
    this.view = { root: this.root, isFile: (p) => this.entries.has(p), isDir: (p) => this.dirs.has(p) };
    for (const p of this.plugins) {
      this.index.set(p.id, new Map());
      this.readers.set(p.id, new Map());
      for (const ext of p.extensions) this.byExt.set(ext, p);
    }
  }

  /**
   * Loads the parsers of the plugins that have files here, and only those: a
   * Python-only workspace never loads the TypeScript compiler, and the reverse
   * never loads the tree-sitter wasm.
   */
  private init(plugins: Iterable<LanguagePlugin<unknown>>): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const p of plugins) {
      let r = this.ready.get(p);
      if (!r) this.ready.set(p, (r = p.init().then(() => void this.initialised.add(p))));
      waits.push(r);
    }
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * Checks the workspace (re-reading only files whose mtime or size changed)
   * and returns the findings located in `paths` (files or folders, absolute or
   * relative to the root; default: everywhere).
   */
  async check(paths?: string[]): Promise<CheckResult> {
    await this.refreshAll();
    const scope = paths?.length ? paths.map((p) => (isAbsolute(p) ? p : resolve(this.root, p))) : undefined;
    const inScope = (file: string) => !scope || scope.some((s) => file === s || file.startsWith(s.endsWith(sep) ? s : s + sep));
    // Linking vets fixes with the parser: load it for files whose stored links cannot serve.
    await this.init(
      [...this.entries.values()].filter((e) => inScope(e.path) && e.analysis && !e.analysis.skipped && e.plugin.link && !this.storedLink(e)).map((e) => e.plugin),
    );
    const findings: Finding[] = [];
    const notes: string[] = [...this.walkNotes];
    for (const e of this.entries.values()) {
      if (!inScope(e.path)) continue;
      findings.push(...this.findingsOf(e));
      notes.push(...this.notesOf(e));
    }
    this.saveResults();
    return { findings: sortFindings(findings), notes };
  }

  /**
   * One file changed, appeared or disappeared: analyse it again, link it and
   * every file that shares an old or new key with it, and return their findings.
   */
  async update(file: string): Promise<UpdateResult> {
    if (!this.walked) await this.refreshAll();
    else for (const p of this.plugins) p.beginPass?.();
    const path = isAbsolute(file) ? file : resolve(this.root, file);
    const before = this.entries.get(path);
    const oldKeys = before?.analysis?.keys ?? [];
    const plugin = this.byExt.get(extname(path).toLowerCase());
    if (plugin) await this.init([plugin]);
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(path);
    } catch {
      st = undefined;
    }
    let entry: Entry | undefined;
    if (!plugin || !st?.isFile()) {
      if (before) this.remove(before);
    } else {
      entry = this.refreshFile(path, plugin, st.mtimeMs, st.size);
    }
    const pluginId = plugin?.id ?? before?.plugin.id;
    const affected = new Set<string>([path]);
    if (pluginId) {
      const readers = this.readers.get(pluginId)!;
      for (const k of [...oldKeys, ...(entry?.analysis?.keys ?? [])]) for (const p of readers.get(k) ?? []) affected.add(p);
    }
    const findings: Finding[] = [];
    const notes: string[] = [];
    for (const p of affected) {
      const e = this.entries.get(p);
      if (!e) continue;
      findings.push(...this.findingsOf(e));
      notes.push(...this.notesOf(e));
    }
    return { findings: sortFindings(findings), notes, affected: [...affected] };
  }

  /** Forgets what was read from a file, so the next check reads it again whatever its mtime says. */
  invalidate(file: string): void {
    const e = this.entries.get(isAbsolute(file) ? file : resolve(this.root, file));
    if (e) {
      this.unindex(e);
      this.changed(e.plugin);
      e.mtimeMs = -1;
      e.analysis = undefined;
      e.note = undefined;
    }
  }

  /** Files the checker knows, for tests and the editor. */
  files(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Whether `after`, the text of `file` once edited, parses no worse than `before` did
   * (no more syntax errors). A file no loaded parser can read is not written blind: false.
   */
  parsesAfterEdit(file: string, after: string, before: string): boolean {
    const plugin = this.byExt.get(extname(file).toLowerCase());
    if (!plugin?.syntaxErrorCount || !this.initialised.has(plugin)) return false;
    const errors = plugin.syntaxErrorCount(file, after);
    return errors === 0 || errors <= plugin.syntaxErrorCount(file, before);
  }

  /**
   * Drops, from each finding, the fixes whose edits would leave a file that does not parse
   * (applied to a scratch copy of each file they touch, then parsed again); says so in `notes`.
   */
  private vetFixes(findings: Finding[], textOf: (file: string) => string | undefined, notes: string[]): void {
    for (const f of findings) {
      if (f.fixes.length === 0) continue;
      const kept = f.fixes.filter((fix) =>
        [...new Set(fix.edits.map((e) => e.file))].every((file) => {
          const before = textOf(file);
          return before !== undefined && this.parsesAfterEdit(file, applyEditsToText(before, fix.edits.filter((e) => e.file === file)), before);
        }),
      );
      if (kept.length === f.fixes.length) continue;
      const dropped = f.fixes.filter((x) => !kept.includes(x)).map((x) => `"${x.title}"`);
      notes.push(`line ${f.location.line}: ${f.rule} fix withheld, the edited code would not parse: ${dropped.join(', ')}`);
      f.fixes = kept;
    }
  }

  /**
   * The severity contract: source alone shows no consequence, so a static finding is at
   * most a warning (the rules say so themselves; this holds any rule to it). A run raises
   * the ones its trace confirms (src/cli/run-static.ts).
   */
  private atMostWarning(findings: Finding[]): Finding[] {
    return findings.map((f) => (f.severity === 'error' ? { ...f, severity: 'warning' } : f));
  }

  private notesOf(e: Entry): string[] {
    return [e.note, ...(e.analysis?.notes ?? []), ...(e.linkNotes ?? [])].filter((n): n is string => !!n).map((n) => `${e.rel}: ${n}`);
  }

  private findingsOf(e: Entry): Finding[] {
    if (!e.analysis || e.analysis.skipped) return [];
    const out = this.atMostWarning(e.analysis.findings);
    e.linkNotes = undefined;
    const stored = this.storedLink(e);
    if (stored) {
      e.linkNotes = stored.notes;
      out.push(...this.atMostWarning(stored.findings));
    } else if (e.plugin.link) {
      try {
        const linked = e.plugin.link({ path: e.path, rel: e.rel, data: e.analysis.data }, this.linkContext(e.plugin));
        if (linked.some((f) => f.fixes.length)) this.vetFixes(linked, readText, (e.linkNotes = []));
        if (this.persist) {
          const extras = e.plugin.findingExtras;
          e.linked = { findings: linked, notes: e.linkNotes, extras: extras ? linked.map((f) => extras.get(f) ?? null) : undefined };
          e.linkedGen = this.generationOf(e.plugin);
          this.unsaved = true;
        }
        out.push(...this.atMostWarning(linked));
      } catch (err) {
        e.analysis.notes = [...(e.analysis.notes ?? []), `cross-file rules failed: ${(err as Error).message}`];
      }
    }
    return out;
  }

  private linkContext(plugin: LanguagePlugin<unknown>): LinkContext<unknown> {
    const idx = this.index.get(plugin.id)!;
    const linked = (p: string): LinkedFile<unknown> | undefined => {
      const e = this.entries.get(p);
      return e?.analysis && !e.analysis.skipped && e.plugin === plugin ? { path: e.path, rel: e.rel, data: e.analysis.data } : undefined;
    };
    return {
      workspace: this.view,
      filesWithKey: (key) => [...(idx.get(key) ?? [])].map(linked).filter((f): f is LinkedFile<unknown> => f !== undefined),
      file: linked,
    };
  }


  private async refreshAll(): Promise<void> {
    for (const p of this.plugins) p.beginPass?.();
    const seen = new Set<string>();
    this.walkNotes = [];
    this.dirs.clear();
    const found: Array<{ path: string; plugin: LanguagePlugin<unknown>; mtimeMs: number; size: number }> = [];
    this.configStamps = [];
    this.walk(this.root, new Set(), (path, plugin, mtimeMs, size) => found.push({ path, plugin, mtimeMs, size }));
    if (this.persist) {
      this.shape = shapeOf(this.persist.build, this.root, this.dirs, found.map((f) => f.path), this.configStamps);
      this.firstShape ??= this.shape;
      if (!this.storeRead) {
        this.storeRead = true;
        this.seed(found);
      }
    }
    // Parsers only for files that must be read: none when every file's analysis is at hand.
    await this.init(new Set(found.filter((f) => !this.upToDate(this.entries.get(f.path), f.plugin, f.mtimeMs, f.size)).map((f) => f.plugin)));
    // Folders first, then files: a plugin may ask whether a sibling exists while analysing.
    for (const f of found) if (!this.entries.has(f.path)) this.entries.set(f.path, this.blankEntry(f.path, f.plugin, -1, -1));
    for (const f of found) {
      seen.add(f.path);
      this.refreshFile(f.path, f.plugin, f.mtimeMs, f.size);
    }
    for (const e of [...this.entries.values()]) if (!seen.has(e.path)) this.remove(e);
    this.walked = true;
  }

  private blankEntry(path: string, plugin: LanguagePlugin<unknown>, mtimeMs: number, size: number): Entry {
    return { path, rel: relative(this.root, path).split(sep).join('/'), plugin, mtimeMs, size };
  }

  private walk(dir: string, ancestors: Set<string>, visit: (path: string, plugin: LanguagePlugin<unknown>, mtimeMs: number, size: number) => void): void {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch (e) {
      this.walkNotes.push(`${this.relOf(dir)}: skipped, unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      return;
    }
    if (ancestors.has(real)) {
      this.walkNotes.push(`${this.relOf(dir)}: skipped, symbolic link loop`);
      return;
    }
    let items: Dirent[];
    try {
      items = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      this.walkNotes.push(`${this.relOf(dir)}: skipped, unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      return;
    }
    // A virtualenv is third-party code whatever its folder is called.
    if (items.some((d) => d.name === 'pyvenv.cfg')) return;
    const inner = new Set(ancestors).add(real);
    this.dirs.add(dir);
    for (const d of items) {
      const path = join(dir, d.name);
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      if (d.isSymbolicLink()) {
        try {
          const st = statSync(path);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          this.walkNotes.push(`${this.relOf(path)}: skipped, ${code === 'ELOOP' ? 'symbolic link loop' : 'broken symbolic link'}`);
          continue;
        }
      }
      if (isDir) {
        if (SKIP_DIRS.has(d.name) || d.name.endsWith('.egg-info')) continue;
        this.walk(path, inner, visit);
      } else if (isFile) {
        const plugin = this.byExt.get(extname(d.name).toLowerCase());
        if (!plugin) {
          if (this.persist && this.plugins.some((p) => p.configFiles?.test(d.name))) {
            try {
              const st = statSync(path);
              this.configStamps.push([path, st.size, st.mtimeMs]);
            } catch {
              // unreadable: the plugin cannot read it either
            }
          }
          continue;
        }
        try {
          const st = statSync(path);
          visit(path, plugin, st.mtimeMs, st.size);
        } catch (e) {
          // A name that is not valid UTF-8 comes back from readdir altered and cannot be opened by it.
          const code = (e as NodeJS.ErrnoException).code ?? 'error';
          if (d.name.includes('\uFFFD')) this.walkNotes.push(`${this.relOf(path)}: skipped, its file name is not valid UTF-8`);
          else if (code !== 'ENOENT') this.walkNotes.push(`${this.relOf(path)}: skipped, unreadable (${code})`);
          // ENOENT otherwise: vanished between readdir and stat, nothing to check
        }
      }
    }
  }

  private relOf(path: string): string {
    return relative(this.root, path).split(sep).join('/') || '.';
  }

  private refreshFile(path: string, plugin: LanguagePlugin<unknown>, mtimeMs: number, size: number): Entry {
    const cached = this.entries.get(path);
    if (this.upToDate(cached, plugin, mtimeMs, size)) return cached!;
    if (cached) this.unindex(cached);
    this.changed(plugin);
    const e = this.blankEntry(path, plugin, mtimeMs, size);
    this.entries.set(path, e);
    if (size > MAX_FILE_BYTES) {
      e.note = `skipped, larger than ${MAX_FILE_BYTES / 1024 / 1024} MB (${Math.round(size / 1024)} KB)`;
      return e;
    }
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      e.note = `skipped, unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
      return e;
    }
    if (buf.includes(0)) {
      e.note = 'skipped, binary content (NUL byte)';
      return e;
    }
    try {
      const text = buf.toString('utf8');
      e.analysis = plugin.analyze({ path, rel: e.rel, text }, this.view);
      if (e.analysis.findings.some((f) => f.fixes.length)) {
        this.vetFixes(e.analysis.findings, (f) => (f === path ? text : readText(f)), (e.analysis.notes ??= []));
      }
    } catch (err) {
      e.note = `skipped, ${plugin.id} analysis failed: ${(err as Error).message}`;
      return e;
    }
    addAll(this.index.get(plugin.id)!, e.analysis.keys, path);
    addAll(this.readers.get(plugin.id)!, e.analysis.links ?? e.analysis.keys, path);
    return e;
  }

  private unindex(e: Entry): void {
    if (!e.analysis) return;
    removeAll(this.index.get(e.plugin.id)!, e.analysis.keys, e.path);
    removeAll(this.readers.get(e.plugin.id)!, e.analysis.links ?? e.analysis.keys, e.path);
  }

  private remove(e: Entry): void {
    this.unindex(e);
    this.changed(e.plugin);
    this.entries.delete(e.path);
  }

  private upToDate(e: Entry | undefined, plugin: LanguagePlugin<unknown>, mtimeMs: number, size: number): boolean {
    return !!e && e.plugin === plugin && e.mtimeMs === mtimeMs && e.size === size && !!(e.analysis || e.note);
  }

  /** A file of `plugin` was analysed anew or went away: the links kept so far no longer hold. */
  private changed(plugin: LanguagePlugin<unknown>): void {
    this.generation.set(plugin.id, this.generationOf(plugin) + 1);
    this.unsaved = true;
  }

  private generationOf(plugin: LanguagePlugin<unknown>): number {
    return this.generation.get(plugin.id) ?? 0;
  }

  /** The link result kept for a file, while it holds (only with persistence: the editor re-links as before). */
  private storedLink(e: Entry): StoredLink | undefined {
    return this.persist && e.linked && e.linkedGen === this.generationOf(e.plugin) ? e.linked : undefined;
  }

  /**
   * Takes the analyses of files unchanged since the stored results were written, when
   * the workspace has the same shape (./persist.ts); their links too, per plugin, when
   * none of the plugin's files changed.
   */
  private seed(found: Array<{ path: string; plugin: LanguagePlugin<unknown>; mtimeMs: number; size: number }>): void {
    const stored = loadResults(this.persist!, this.root);
    if (!stored || stored.shape !== this.shape) return;
    const changedPlugins = new Set<string>();
    for (const f of found) {
      const s = stored.files[f.path];
      if (!s || s.plugin !== f.plugin.id || s.mtimeMs !== f.mtimeMs || s.size !== f.size) {
        changedPlugins.add(f.plugin.id);
        continue;
      }
      const e = this.blankEntry(f.path, f.plugin, f.mtimeMs, f.size);
      e.analysis = s.analysis;
      e.note = s.note;
      this.entries.set(f.path, e);
      if (e.analysis) {
        addAll(this.index.get(f.plugin.id)!, e.analysis.keys, f.path);
        addAll(this.readers.get(f.plugin.id)!, e.analysis.links ?? e.analysis.keys, f.path);
      }
    }
    // Links only for plugins none of whose files changed.
    for (const f of found) {
      const s = stored.files[f.path];
      const e = this.entries.get(f.path);
      if (!s?.linked || !e || changedPlugins.has(f.plugin.id)) continue;
      e.linked = s.linked;
      e.linkedGen = this.generationOf(f.plugin);
      if (s.linked.extras && f.plugin.findingExtras) {
        s.linked.findings.forEach((finding, i) => {
          const extra = s.linked!.extras![i];
          if (extra !== null && extra !== undefined) f.plugin.findingExtras!.set(finding, extra);
        });
      }
    }
    this.unsaved = changedPlugins.size > 0;
  }

  /** Writes what this checker knows for the next process, when something is new since it was read. */
  private saveResults(): void {
    if (!this.persist || !this.unsaved || this.shape !== this.firstShape) return;
    const files: Record<string, StoredFile> = {};
    for (const e of this.entries.values()) {
      if (!e.analysis && !e.note) continue;
      files[e.path] = { plugin: e.plugin.id, mtimeMs: e.mtimeMs, size: e.size, analysis: e.analysis, note: e.note, linked: this.storedLink(e) };
    }
    saveResults(this.persist, { build: this.persist.build, root: this.root, shape: this.shape, files });
    this.unsaved = false;
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function addAll(idx: Map<string, Set<string>>, keys: string[], path: string): void {
  for (const k of keys) {
    let set = idx.get(k);
    if (!set) idx.set(k, (set = new Set()));
    set.add(path);
  }
}

function removeAll(idx: Map<string, Set<string>>, keys: string[], path: string): void {
  for (const k of keys) {
    const set = idx.get(k);
    set?.delete(path);
    if (set?.size === 0) idx.delete(k);
  }
}

export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      byCodePoint(a.location.file, b.location.file) ||
      a.location.line - b.location.line ||
      (a.location.column ?? 0) - (b.location.column ?? 0) ||
      byCodePoint(a.rule, b.rule),
  );
}
