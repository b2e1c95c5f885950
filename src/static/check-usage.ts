/** `txlens check`'s usage text, apart from the checker so the CLI's entry can print it without loading the checker. */
export const CHECK_USAGE = `  txlens check [--json] [--fix] [--fail-on LEVEL] [--root DIR] [PATH...]
      Read the workspace's source (Python, TypeScript/JavaScript) for causes that show before
      anything runs: stale-import-patch, missing-commit, placeholder-session. PATHs (files or
      folders) limit where findings are reported; the whole root is read for cross-file rules.
      --fix applies each finding's preferred fix and checks again. Exits 1 on a finding at
      --fail-on's level: error (default), warning, never.`;
