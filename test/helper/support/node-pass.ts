/**
 * The second Node pass (scripts/run-tests.mjs runs the helper tests again under
 * CIVIBACKUP_SECOND_NODE, setting CIVIBACKUP_SECOND_NODE_PASS=1). A test whose subject does not
 * depend on Node's version (MariaDB's locking, kill points the first pass already proves)
 * takes `firstNodeOnly(why)` as its options' `skip`: it is reported as skipped there, with why.
 */
export function firstNodeOnly(why: string): string | false {
  return process.env.CIVIBACKUP_SECOND_NODE_PASS === '1' ? `first Node only: ${why}` : false;
}
