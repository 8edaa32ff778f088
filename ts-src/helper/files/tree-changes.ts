/**
 * The difference between a directory's new tree and the previous set's, built from the pairs
 * the backup's walk already makes (tree-backup.ts looks each walked path up in the previous
 * tree to skip unchanged files): no second walk, no second read of either tree.
 *
 * Memory is bounded whatever the number of changes: exact counts, and only the first
 * `limit` paths in walk order. Pairs do not arrive in walk order (a removed path is known
 * when the walk passes it, a changed file only once it has been read), so the list keeps up
 * to twice the limit and trims back to the first `limit` when it is full.
 */
import { CHANGED_PATHS_LIMIT, type TreeChange, type TreeChangeKind, type TreeChanges } from '../../protocol/tree-changes.js';
import { compareTreePaths, type TreeEntry } from '../../protocol/manifest.js';

/** Directories are not compared: a changed file says more than its directory's new mtime. */
function listed(entry: TreeEntry | undefined): entry is TreeEntry {
  return entry !== undefined && entry.t !== 'd';
}

function sameBlocks(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  return a.every((id, i) => id === b[i]);
}

/** Whether two file entries hold the same content: by SHA-256 when both have it, else by blob ids (content-addressed). */
function sameContent(previous: TreeEntry, current: TreeEntry): boolean {
  if (previous.s !== current.s) return false;
  if (previous.h !== undefined && current.h !== undefined) return previous.h === current.h;
  return sameBlocks(previous.b, current.b);
}

/**
 * The change from `previous` to `current` at one path (either may be absent), or null.
 * mtime, owner and inode do not count: only what a reader of the code would call a change.
 */
export function entryChange(previous: TreeEntry | undefined, current: TreeEntry | undefined): TreeChangeKind | null {
  const before = listed(previous);
  const after = listed(current);
  if (!before && !after) return null;
  if (!before) return 'added';
  if (!after) return 'removed';
  if (previous.t !== current.t || previous.m !== current.m) return 'modified';
  if (current.t === 'l') return previous.l === current.l ? null : 'modified';
  return sameContent(previous, current) ? null : 'modified';
}

export class TreeChangeCollector {
  private readonly counts = { added: 0, modified: 0, removed: 0 };
  private paths: TreeChange[] = [];

  constructor(private readonly limit = CHANGED_PATHS_LIMIT) {}

  /** One path of the walk: its previous entry (if the previous tree had one) and its new one (if the set has it). */
  compare(previous: TreeEntry | undefined, current: TreeEntry | undefined): void {
    const change = entryChange(previous, current);
    if (change === null) return;
    this.counts[change] += 1;
    this.paths.push({ path: (current ?? previous)!.p, change });
    if (this.paths.length >= 2 * this.limit) this.trim();
  }

  /** A previous entry the walk did not meet: it is not in the new set. */
  removed(previous: TreeEntry): void {
    this.compare(previous, undefined);
  }

  get total(): number {
    return this.counts.added + this.counts.modified + this.counts.removed;
  }

  private trim(): void {
    this.paths.sort((a, b) => compareTreePaths(a.path, b.path));
    if (this.paths.length > this.limit) this.paths.length = this.limit;
  }

  /** The counts and the first paths, for a comparison that went through. */
  result(): Pick<TreeChanges, 'compared' | 'counts' | 'paths' | 'omitted'> {
    this.trim();
    return { compared: true, counts: { ...this.counts }, paths: [...this.paths], omitted: this.total - this.paths.length };
  }
}
