/** `txlens check`'s usage text, apart from the checker so the CLI's entry can print it without loading the checker. */
export const CHECK_USAGE = `  txlens check [--json] [--fix] [--fail-on error|warning|never] [--root DIR] [PATH...]
      Read the workspace's source (Python, TypeScript/JavaScript) for causes that show before
      anything runs: stale-import-patch, missing-commit, placeholder-session. PATHs (files or
      folders) limit where findings are reported; the whole root is read for cross-file rules.
      --fix applies each finding's preferred fix (re-parsed first: never one that breaks the file)
      and checks again. Source alone shows no consequence, so its findings are at most warnings
      (a run confirms them: txlens run); the exit status is 1 when a finding reaches --fail-on
      (default error, so use --fail-on warning to fail a CI job on static findings).`;
