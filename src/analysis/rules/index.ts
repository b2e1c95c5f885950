/**
 * The dynamic rules, one module each. Rule ids are stable public names (CLI,
 * SARIF, the Problems panel): never rename one.
 */
import type { DynamicRule } from '../findings';
import { nonTestDatabaseRule } from './non-test-database';
import { sharedConnectionConcurrencyRule } from './shared-connection-concurrency';
import { sqliteMemoryIsolationRule } from './sqlite-memory-isolation';
import { lockWaitRule } from './lock-wait';
import { commitEscapesRollbackRule } from './commit-escapes-rollback';
import { missingCommitRule } from './missing-commit';
import { poolReleaseInTransactionRule } from './pool-release-in-transaction';
import { testStateLeakRule } from './test-state-leak';
import { staleReadRule } from './stale-read';
import { uncommittedReadRule } from './uncommitted-read';

export const DYNAMIC_RULES: DynamicRule[] = [
  missingCommitRule,
  testStateLeakRule,
  commitEscapesRollbackRule,
  poolReleaseInTransactionRule,
  uncommittedReadRule,
  staleReadRule,
  lockWaitRule,
  sqliteMemoryIsolationRule,
  sharedConnectionConcurrencyRule,
  nonTestDatabaseRule,
];
