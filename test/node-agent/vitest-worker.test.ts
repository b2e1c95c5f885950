// Which processes and threads the agent watches for vitest's test boundaries.
// Vitest 3 runs test files in tinypool's workers; vitest 4 dropped tinypool for
// a pool of its own: its forks run vitest's dist/workers/forks.js, its worker
// threads start with no argv and no workerData, only vitest's environment
// (VITEST, VITEST_MODE). A worker missed here traces every
// statement with no test at all (seen on a vitest 4 suite: 0 of 78 tests).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVitestWorker } from '../../src/agents/node/vitest';

const mainThread = { isMainThread: true, workerData: undefined };
const node = '/usr/bin/node';

test('the workers of vitest 3 (tinypool) and of vitest 4 (its own pool) are vitest workers; other processes are not', () => {
  assert.equal(isVitestWorker([node, '/app/node_modules/tinypool/dist/entry/process.js'], mainThread), true);
  assert.equal(isVitestWorker([node, '/app/node_modules/vitest/dist/workers/forks.js'], mainThread), true);
  assert.equal(isVitestWorker([node, '/app/node_modules/vitest/dist/workers/vmForks.js'], mainThread), true);
  assert.equal(isVitestWorker([node, 'C:\\app\\node_modules\\vitest\\dist\\workers\\forks.js'], mainThread), true);
  // A vitest 4 worker thread, as the preload sees it.
  const vitest4Env = { VITEST: 'true', VITEST_MODE: 'RUN' };
  assert.equal(isVitestWorker([node], { isMainThread: false, workerData: undefined }, vitest4Env), true);
  // The same environment in vitest's main thread, or in a thread with data of its own: not a test worker.
  assert.equal(isVitestWorker([node, '/app/node_modules/vitest/vitest.mjs'], mainThread, vitest4Env), false);
  assert.equal(isVitestWorker([node], { isMainThread: false, workerData: { job: 1 } }, vitest4Env), false);
  // A vitest 3 worker thread: tinypool's data first in its workerData.
  assert.equal(isVitestWorker([node, '/app/run.js'], { isMainThread: false, workerData: [{ workerId: 1 }] }), true);

  assert.equal(isVitestWorker([node, '/app/node_modules/vitest/vitest.mjs'], mainThread), false);
  assert.equal(isVitestWorker([node, '/app/test/workers/forks.js'], mainThread), false);
  assert.equal(isVitestWorker([node, '/app/worker.js'], { isMainThread: false, workerData: { workerId: 1 } }, {}), false);
  assert.equal(isVitestWorker([node], { isMainThread: false, workerData: undefined }, {}), false);
});
