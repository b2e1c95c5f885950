/**
 * Applying the checker's preferred fixes to the workspace (`txlens check --fix`).
 */
import type { StaticChecker } from './checker';
import { EditPlan } from './fix';

export interface AppliedFix {
  rule: string;
  title: string;
  files: string[];
  /** Set when the fix was not applied: with the fixes planned before it, the file would not parse. */
  withheld?: 'breaks-syntax';
}

/**
 * Applies preferred fixes round by round (a fix can make another one moot), re-checking in
 * between. Each fix is tried on a scratch copy with the fixes planned before it; one that
 * would leave a file that does not parse is not applied (listed with `withheld`), and no
 * file is written that does not parse.
 */
export async function applyPreferredFixes(checker: StaticChecker, paths: string[] | undefined, maxRounds = 10): Promise<AppliedFix[]> {
  const applied: AppliedFix[] = [];
  const tried = new Set<string>();
  for (let round = 0; round < maxRounds; round++) {
    const { findings } = await checker.check(paths);
    const plan = new EditPlan((file, after, before) => checker.parsesAfterEdit(file, after, before));
    const picked: AppliedFix[] = [];
    for (const f of findings) {
      const fix = f.fixes.find((x) => x.preferred) ?? (f.fixes.length === 1 ? f.fixes[0] : undefined);
      if (!fix || fix.edits.length === 0) continue;
      const key = `${f.rule}|${f.location.file}|${f.location.line}|${fix.title}`;
      if (tried.has(key)) continue;
      if (!plan.add(fix.edits)) {
        if (plan.refusal === 'breaks-syntax') {
          tried.add(key);
          applied.push({ rule: f.rule, title: fix.title, files: [...new Set(fix.edits.map((e) => e.file))], withheld: 'breaks-syntax' });
        }
        continue; // overlaps a fix planned this round: next round, after re-checking
      }
      tried.add(key);
      picked.push({ rule: f.rule, title: fix.title, files: [...new Set(fix.edits.map((e) => e.file))] });
    }
    if (picked.length === 0) break;
    const written = new Set(plan.apply());
    for (const file of written) checker.invalidate(file);
    applied.push(...picked.map((p) => (p.files.every((f) => written.has(f)) ? p : { ...p, withheld: 'breaks-syntax' as const })));
  }
  return applied;
}
