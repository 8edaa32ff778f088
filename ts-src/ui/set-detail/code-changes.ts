/** The words for a set's code changes (protocol/tree-changes.ts), through ts(). */
import type { NotComparedReason, TreeChangeKind, TreeChanges } from '../../protocol/tree-changes.js';
import { ts } from '../i18n.js';

export function changeLabel(kind: TreeChangeKind): string {
  if (kind === 'added') return ts('Added');
  if (kind === 'removed') return ts('Removed');
  return ts('Modified');
}

/** "3 modified, 1 added, 0 removed" (exact, also when not every path is listed). */
export function changesCounts(changes: TreeChanges): string {
  return ts('%1 modified, %2 added, %3 removed.', {
    1: changes.counts.modified.toLocaleString(),
    2: changes.counts.added.toLocaleString(),
    3: changes.counts.removed.toLocaleString(),
  });
}

/** Why there is nothing to compare with; never "everything was added". */
export function notComparedText(reason: NotComparedReason | undefined): string {
  switch (reason) {
    case 'no-previous-set':
      return ts('No previous set to compare: this is the first set of this site at this destination.');
    case 'not-in-previous-set':
      return ts('No previous set to compare: the previous set has no copy of CiviCRM\u2019s code.');
    default:
      return ts('No previous set to compare: the previous set\u2019s list of files cannot be read on this server (an encrypted destination, and this server has no copy of that list).');
  }
}

/** The CiviCRM versions of the previous set and this one, when both are known and differ. */
export function versionChange(changes: TreeChanges): string | null {
  const before = changes.previous?.civicrmVersion;
  const now = changes.civicrmVersion;
  if (!before || !now || before === now) return null;
  return ts('CiviCRM %1 in the previous set, %2 in this one.', { 1: before, 2: now });
}
