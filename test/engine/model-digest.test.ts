import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse } from '../../src/analysis/analyse';
import { loadModel } from '../../src/model/model';
import { generateTrace } from '../../bench/trace-generator';
import { modelDigest, type ModelDigest } from '../support/model-digest';
import { repoRoot } from '../support/env';

// The analysis benchmark's trace (deterministic for a size), read, modelled and analysed: every
// record of the model and every finding must stay as recorded when the model's representation or
// the reader changes for speed. A rule change that alters a finding here updates the fixture on purpose.
test('the benchmark trace of 20,000 events models and analyses exactly as recorded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'txlens-digest-'));
  try {
    generateTrace(dir, 20_000);
    const model = loadModel(dir);
    const got = modelDigest(model, analyse(model).findings);
    const want = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'model', 'bench-trace-20000.json'), 'utf8')) as ModelDigest;
    assert.deepEqual(got.counts, want.counts);
    assert.deepEqual(got.findings, want.findings);
    assert.deepEqual(got.notes, want.notes);
    for (const part of ['statements', 'transactions', 'sessions', 'connections', 'tests', 'identityHits'] as const) {
      assert.equal(got[part], want[part], `${part} differ from the recorded model`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
