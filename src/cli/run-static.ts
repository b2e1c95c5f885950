/**
 * The static half of `txlens run`: the static rules over the files a run
 * touched, de-duplicated against the run's own findings and confirmed where
 * the trace shows what the source only suggests.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { Finding } from '../analysis/findings';
import type { ModelRun } from '../model/model';
import { relPath } from '../present/paths';
import { plural } from '../present/wording';
import { StaticChecker, sortFindings } from '../static/checker';
import { storeName, type PersistOptions } from '../static/persist';
import { dependencyOverrides } from '../static/python/overrides';
import { cacheDir, ownFolder } from '../cache/folder';

/**
 * Where the static results of a workspace are kept between runs: the user's txlens cache
 * folder (src/cache/folder.ts, beside the code caches; off with TXLENS_CACHE_DIR=off), for this build of
 * txlens. Undefined without a build hash or a folder of the user's own.
 */
export function staticStore(root: string, buildHash: string | undefined, env: NodeJS.ProcessEnv = process.env): PersistOptions | undefined {
  const dir = cacheDir(env);
  if (!buildHash || !dir || !ownFolder(dir)) return undefined;
  return { file: join(dir, storeName(resolve(root))), build: buildHash };
}

/** A checker for a run's folder that keeps its results for the next run (staticStore). */
export function runChecker(root: string, buildHash: string | undefined): StaticChecker {
  return new StaticChecker(root, { persist: staticStore(root, buildHash) });
}

function inside(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** Files a run touched: every user frame in the trace and every test file of the run. */
export function filesOfRun(model: ModelRun, root: string): string[] {
  const files = new Set<string>();
  // Every statement names its file, and a suite's statements come from a few files: each
  // path is judged (and stat'ed) once, not once per statement.
  const seen = new Set<string>();
  const add = (f: string | undefined) => {
    if (!f || seen.has(f)) return;
    seen.add(f);
    if (isAbsolute(f) && inside(root, f) && existsSync(f)) files.add(f);
  };
  for (const t of model.tests) add(t.file);
  for (const st of model.statements) add(st.at?.[0]);
  for (const c of model.connections) {
    add(c.at?.[0]);
    add(c.engineAt?.[0]);
  }
  for (const s of model.sessions) add(s.at?.[0]);
  return [...files];
}

function sameTest(model: ModelRun, dynamicTest: string | undefined, staticFinding: Finding): boolean {
  if (!dynamicTest || !staticFinding.test) return false;
  const t = model.tests.find((x) => x.id === dynamicTest);
  if (!t) return false;
  // A patch in a conftest fixture reaches every test below the conftest's folder (pytest's own scoping).
  const patchFile = staticFinding.location.file;
  if (basename(patchFile) === 'conftest.py') return t.file.startsWith(dirname(patchFile) + sep);
  if (t.file !== patchFile) return false;
  const wanted = staticFinding.test.split('::').slice(1).join('::');
  const id = t.id.replace(/\[.*\]$/, '');
  return id === wanted || id.endsWith(`::${wanted}`) || t.name.replace(/\[.*\]$/, '') === wanted.split('::').pop();
}

/** Whether a test is one the file's fixtures or code reach: below a conftest's folder, or in the file itself. */
function testReachedBy(model: ModelRun, testId: string | undefined, file: string): boolean {
  const t = testId ? model.tests.find((x) => x.id === testId) : undefined;
  if (!t) return false;
  return basename(file) === 'conftest.py' ? t.file.startsWith(dirname(file) + sep) : t.file === file;
}

function linesOf(f: Finding): Set<string> {
  return new Set([f.location, ...f.related].map((l) => `${l.file}:${l.line}`));
}

/** The first and last line a finding points at in its own file. */
function spanOf(f: Finding): [number, number] {
  const lines = [f.location, ...f.related].filter((l) => l.file === f.location.file).map((l) => l.line);
  return [Math.min(...lines), Math.max(...lines)];
}

/** Two findings of one rule that point at a shared line of the same file describe one bug. */
function sameStory(a: Finding, b: Finding): boolean {
  if (a.rule !== b.rule) return false;
  const lines = linesOf(a);
  for (const l of linesOf(b)) if (lines.has(l)) return true;
  return false;
}

/**
 * missing-commit: the trace places it at the session's end, its opening and its lost
 * statements; the source at the last write and the way out of the function. A static
 * finding whose lines lie within the span of a run's finding in the same file is that
 * session's story, when it is the only static one there (else the span covers several
 * functions and says nothing about which).
 */
function sameSession(dynamicFinding: Finding, staticFinding: Finding, allStatic: Finding[]): boolean {
  if (dynamicFinding.rule !== 'missing-commit' || staticFinding.rule !== 'missing-commit' || dynamicFinding.location.file !== staticFinding.location.file) return false;
  const [d0, d1] = spanOf(dynamicFinding);
  const within = (f: Finding) => {
    const [s0, s1] = spanOf(f);
    return f.rule === 'missing-commit' && f.location.file === dynamicFinding.location.file && d0 <= s0 && s1 <= d1;
  };
  return within(staticFinding) && allStatic.filter(within).length === 1;
}

/**
 * Static findings for the files of a run, de-duplicated against the dynamic
 * ones. A static finding alone is at most a warning; the run confirms one
 * and makes it an error:
 * - a stale-import-patch when the run shows the module that imported the
 *   name by value really used another database than the test;
 * - a dependency override that misses the routes' dependency when the run's
 *   requests reached a non-test database from those routes: the per-route
 *   non-test-database findings are the symptom, so they are folded into the
 *   one finding at the override line (as related places) and listed in `folded`
 *   for the caller to drop.
 */
export async function staticFindingsForRun(
  model: ModelRun,
  dynamic: Finding[],
  root: string,
  warmChecker?: StaticChecker,
  buildHash?: string,
): Promise<{ findings: Finding[]; notes: string[]; folded: Finding[] }> {
  const files = filesOfRun(model, root);
  const folded: Finding[] = [];
  if (files.length === 0) return { findings: [], notes: [], folded };
  let findings: Finding[];
  let notes: string[];
  try {
    // A checker that already read this root (while the run went on) re-reads only what changed.
    const checker = warmChecker && resolve(warmChecker.root) === resolve(root) ? warmChecker : runChecker(root, buildHash);
    ({ findings, notes } = await checker.check(files));
  } catch (e) {
    // The run's own findings stand without the static ones.
    return { findings: [], notes: [`static rules skipped: ${(e as Error).message}`], folded };
  }
  const out: Finding[] = [];
  for (const f of findings) {
    // The run already tells this story (same rule, same lines): the trace's finding stays,
    // with the test and the evidence, and gains the mechanical fix only the source can offer.
    const twins = dynamic.filter((d) => sameStory(d, f) || sameSession(d, f, findings));
    if (twins.length) {
      for (const twin of twins) if (twin.fixes.length === 0) twin.fixes.push(...f.fixes);
      continue;
    }
    const override = dependencyOverrides.get(f);
    if (override) {
      const routeFiles = new Set(override.routeFiles);
      const throughRoutes = (d: Finding) => routeFiles.has(d.location.file) || d.related.some((r) => r.file === override.dependencyFile);
      const proofs = dynamic.filter((d) => d.rule === 'non-test-database' && throughRoutes(d) && testReachedBy(model, d.test, f.location.file));
      if (proofs.length) {
        folded.push(...proofs);
        const seen = new Set<string>();
        const symptoms = proofs.filter((d) => !seen.has(`${d.location.file}:${d.location.line}`) && seen.add(`${d.location.file}:${d.location.line}`));
        const tests = new Set(proofs.map((d) => d.test));
        out.push({
          ...f,
          severity: 'error',
          test: proofs[0].test ?? f.test,
          message: `${f.message} Confirmed by the run: ${plural(tests.size, 'test')} reached a non-test database through the routes (${symptoms
            .slice(0, 3)
            .map((d) => `${relPath(d.location.file, root)}:${d.location.line}`)
            .join(', ')}).`,
          related: [
            ...f.related,
            ...symptoms.map((d) => ({ file: d.location.file, line: d.location.line, message: `non-test-database${d.test ? ` in ${d.test}` : ''}: ${d.message}` })),
          ],
        });
        continue;
      }
    }
    if (f.rule === 'stale-import-patch') {
      const importers = new Set(f.related.map((r) => r.file));
      const proof = dynamic.find(
        (d) => d.rule === 'non-test-database' && sameTest(model, d.test, f) && (importers.has(d.location.file) || d.related.some((r) => importers.has(r.file))),
      );
      if (proof) {
        const where = `${relPath(proof.location.file, root)}:${proof.location.line}`;
        out.push({
          ...f,
          severity: 'error',
          // The test that proved it is where a reader meets this failure.
          test: proof.test ?? f.test,
          message: `${f.message} Confirmed by the run: the module that kept the original used another database than the test's (${where}).`,
          related: [...f.related, { file: proof.location.file, line: proof.location.line, message: `non-test-database: ${proof.message}` }],
        });
        continue;
      }
    }
    out.push(f);
  }
  return { findings: sortFindings(out), notes, folded };
}
