/**
 * The static side of txlens: rules that read source instead of a trace.
 *
 * How a language plugin works
 * ---------------------------
 * The checker (checker.ts) walks the workspace once, gives each source file
 * whose extension a plugin claims to that plugin's `analyze`, and caches the
 * result per file, keyed by path + mtime + size. `analyze` sees ONE file: it
 * parses it (once), runs the rules that need nothing else (they return
 * `findings`), and extracts what cross-file rules need later (`data`) plus
 * the `keys` that tie this file to others (e.g. "the name pkg.mod.NAME is
 * imported by value here", "pkg.mod.NAME is patched here": both files carry
 * the key `pkg.mod.NAME`).
 *
 * Then `link` runs per file with a view of every other file's cached data of
 * the same plugin, found through keys, and returns the cross-file findings
 * located in that file. When one file changes, the checker analyses it again
 * and links again only the files that share one of its old or new keys, so
 * re-checking one file in a big workspace costs one parse plus a few links.
 *
 * Rules of the game:
 * - `analyze` and `link` must not throw for bad input: a file that does not
 *   parse returns `skipped` with a note. (The checker still catches throws
 *   and turns them into notes, but then the file has no findings at all.)
 * - Paths in findings are absolute (the CLI makes them relative for output);
 *   lines and columns are 1-based; edits in fixes use the Finding shape.
 * - Fixes are vetted by the checker (`syntaxErrorCount`): one whose edited file
 *   would not parse is dropped before anyone sees it.
 * - No `vscode`, no native modules (the extension host loads this): wasm is fine.
 * - `init` is awaited once before the first `analyze` (load parsers there);
 *   a workspace without files of the plugin's language never calls it.
 */
import type { Finding } from '../analysis/findings';

export interface SourceFile {
  /** Absolute path. */
  path: string;
  /** Relative to the workspace root with '/' separators (for test-file patterns and module names). */
  rel: string;
  text: string;
}

/** What a plugin may ask about the workspace besides the file in hand. */
export interface WorkspaceView {
  /** Absolute root of the workspace. */
  root: string;
  /** Whether an absolute path is a file in the workspace (answered from the walk, cheap). */
  isFile(path: string): boolean;
  /** Whether an absolute path is a folder in the workspace that holds at least one walked file. */
  isDir(path: string): boolean;
}

export interface FileAnalysis<D = unknown> {
  /** Findings that depend on this file alone (cached with it). */
  findings: Finding[];
  /** Keys shared with other files; see the header. Other files find this one through them (filesWithKey). */
  keys: string[];
  /**
   * Keys whose files this file's `link` reads (e.g. a test: the names it patches).
   * When given, a change to file F re-links only F and the files whose `links`
   * name one of F's old or new `keys`, so a name imported by 2,000 modules
   * does not re-link all of them when one changes. When absent, `keys` serve
   * both roles (every file sharing a key is re-linked).
   */
  links?: string[];
  /** What `link` needs from this file later; kept in the cache, so keep it small (no syntax trees). */
  data: D;
  /** Set when the file could not be analysed (syntax errors, ...); `notes` says why. */
  skipped?: boolean;
  /** One line each, without the path (the checker prefixes it). */
  notes?: string[];
}

export interface LinkedFile<D> {
  path: string;
  rel: string;
  data: D;
}

export interface LinkContext<D> {
  workspace: WorkspaceView;
  /** The other files (same plugin) whose analysis listed `key`, the asking file included when it did. */
  filesWithKey(key: string): LinkedFile<D>[];
  /** Cached data of one file of this plugin, when it was analysed. */
  file(path: string): LinkedFile<D> | undefined;
}

export interface LanguagePlugin<D = unknown> {
  /** 'python', 'typescript', ... */
  id: string;
  /** Lower-case extensions with the dot: ['.py']. */
  extensions: string[];
  /** Loads parsers; awaited once before the first analyze of a file of this language (never when there is none). */
  init(): Promise<void>;
  /** A check or update begins: forget what may have changed on disk since the last one (config files' mtimes, ...). */
  beginPass?(): void;
  analyze(file: SourceFile, workspace: WorkspaceView): FileAnalysis<D>;
  /** Cross-file findings located in `file`. */
  link?(file: LinkedFile<D>, ctx: LinkContext<D>): Finding[];
  /**
   * How many syntax errors the parser finds in `text` as the file at `path`
   * (tree-sitter ERROR and MISSING nodes, compiler parse diagnostics). The
   * checker applies every fix to a scratch copy and withholds the ones that
   * add errors, so a fix offered never breaks the code it edits.
   */
  syntaxErrorCount?(path: string, text: string): number;
  /**
   * Names of files that are not sources but whose content `analyze` reads (package.json,
   * tsconfig.json): results kept between runs (persist.ts) are reused only while these
   * are unchanged too.
   */
  configFiles?: RegExp;
  /**
   * What the plugin keeps beside a finding it returned, outside the finding so that it
   * never reaches a report (e.g. which files prove it): results kept between runs store
   * it with the finding and give it back when the finding is read again.
   */
  findingExtras?: { get(finding: Finding): unknown; set(finding: Finding, extra: unknown): void };
}

export interface CheckResult {
  findings: Finding[];
  /** "path: what happened" for skipped files (binary, too big, syntax errors, loops). */
  notes: string[];
}

export interface UpdateResult extends CheckResult {
  /** Absolute paths whose findings may have changed: replace their diagnostics with `findings` located there. */
  affected: string[];
}
