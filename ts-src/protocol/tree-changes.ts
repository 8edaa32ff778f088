/**
 * What changed in a directory between a set and the previous set of the same source: the
 * helper computes it while it backs the directory up (files/tree-changes.ts), reports it in
 * the backup's result (`summary.codeChanges` for CiviCRM's code), PHP keeps it in the site's
 * private files (CRM_Civibackup_CodeChanges) and the page shows it in a set's details.
 * It names files, so it is never written to the destination in clear (docs/security.md).
 */

/** The directory label of CiviCRM's own code root (CRM_Civibackup_JobBuilder). */
export const CODE_LABEL = 'code';

/**
 * At most this many changed paths are listed (the first ones in walk order); the counts are
 * exact. A CiviCRM upgrade changes thousands of files: the list says "and N more".
 */
export const CHANGED_PATHS_LIMIT = 500;

/**
 * added: a file or symlink that the previous set did not have at this path; removed: the
 * reverse; modified: content (or size), permission bits, symlink target or type differ.
 * A file whose only change is its mtime (touched, or copied again) is not modified.
 * Directories are not listed: their files are.
 */
export type TreeChangeKind = 'added' | 'modified' | 'removed';

export interface TreeChange {
  path: string;
  change: TreeChangeKind;
}

/**
 * Why a set has nothing to compare with:
 * - no-previous-set: no earlier set of this source in the repository (the first backup);
 * - not-in-previous-set: the previous set has no directory of this label;
 * - previous-unreadable: the previous set's tree cannot be read here (an encrypted repository
 *   and no tree cache in the state dir, or a damaged cache or catalog).
 */
export type NotComparedReason = 'no-previous-set' | 'not-in-previous-set' | 'previous-unreadable';

export interface TreeChanges {
  /** The directory label (CODE_LABEL for CiviCRM's code). */
  label: string;
  /** The CiviCRM version this set records, when the job said. */
  civicrmVersion?: string;
  /** False: nothing to compare with (`reason` says why); counts are then 0 and paths empty. */
  compared: boolean;
  reason?: NotComparedReason;
  /**
   * The set compared with, as far as known: its id and CiviCRM version. Absent when the
   * previous tree came from a state-dir cache that does not say which set it is (one written by
   * an older helper).
   */
  previous?: { setId: string; civicrmVersion?: string };
  counts: { added: number; modified: number; removed: number };
  /** The first CHANGED_PATHS_LIMIT changes in walk order (protocol/manifest.ts compareTreePaths). */
  paths: TreeChange[];
  /** Changes counted but not in `paths`. */
  omitted: number;
}
