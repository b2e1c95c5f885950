/**
 * The dynamic rules, one module each. Rule ids are stable public names (CLI,
 * SARIF, the Problems panel): never rename one.
 */
import type { DynamicRule } from '../findings';

export const DYNAMIC_RULES: DynamicRule[] = [];
