// A trace folder on a full disk: the agent counts the events it could not
// write in its status record (written in full at start, so overwriting it in
// place needs no free block), and the report says how many were lost and why.
// Real: a 1 MiB tmpfs mounted for the test (needs root; under CI=true a
// machine that cannot mount fails the test instead of skipping it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { python, runCli, tempDir } from '../support/env';
import { copyFixture, readTrace, runPython } from '../agent/harness';

describe('disk full under the trace folder', () => {
  let mountPoint = '';
  let mounted = false;
  let cannotMount = '';

  before(() => {
    mountPoint = tempDir('tinyfs');
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (r.status === 0) mounted = true;
    else cannotMount = `cannot mount a 1 MiB tmpfs: ${(r.stderr || r.error?.message || '').trim()}`;
  });

  after(() => {
    if (mounted) spawnSync('umount', [mountPoint]);
  });

  it('20,000 inserts on a 1 MiB disk: what was lost is counted and reported, the outcome is unchanged', async (t) => {
    if (!mounted) {
      if (process.env.CI === 'true') assert.fail(cannotMount);
      t.skip(cannotMount);
      return;
    }
    const workspace = copyFixture('agent-faults');
    const traceDir = join(mountPoint, 'run');
    const r = runPython(python('sa20'), [join(workspace, 'many_inserts.py'), join(workspace, 'items.db')], {
      cwd: workspace,
      env: { TXLENS_TRACE_DIR: traceDir },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'done');

    const statusFiles = readdirSync(traceDir).filter((n) => n.endsWith('.status'));
    assert.equal(statusFiles.length, 1);
    const status = JSON.parse(readFileSync(join(traceDir, statusFiles[0]), 'utf8'));
    assert.match(status.error, /^ENOSPC: No space left on device/);
    // Every insert is either in the trace or counted as lost (lost also counts the commit and close).
    const [proc] = readTrace(traceDir);
    const written = proc.events.filter((e) => e.k === 'stmt' && /^insert/.test(e.sql)).length;
    assert.ok(written < 20000 && written > 0, `${written} inserts written`);
    assert.ok(status.lost >= 20000 - written && status.lost <= 20000 - written + 5, `lost ${status.lost}, written ${written}`);

    const text = await runCli(['report', traceDir]);
    const note = `process ${proc.header.pid}: ${status.lost} events were not written: no space left on device`;
    assert.ok(text.stdout.includes(`Note: ${note}.`), text.stdout + text.stderr);
    const json = await runCli(['report', '--json', traceDir]);
    assert.ok(JSON.parse(json.stdout).notes.includes(note), json.stdout);
  });
});
