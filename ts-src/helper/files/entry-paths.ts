/** Pure checks on archive entry paths and link targets, shared by the writer and the extractor. */
import { posix } from 'node:path';

/**
 * Normalizes an archive member name to '/'-separated segments relative to the root, or
 * returns why it is refused: absolute paths, '..' segments and NUL bytes could place a file
 * outside the target. "." and "./" (the root itself) give an empty list.
 */
export function entrySegments(name: string): { segments: string[] } | { refused: string } {
  if (name.includes('\0')) return { refused: 'contains a NUL byte' };
  if (name.startsWith('/')) return { refused: 'is an absolute path' };
  const segments: string[] = [];
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return { refused: "contains a '..' segment" };
    segments.push(segment);
  }
  return { segments };
}

/**
 * True when a symlink at `relPath` (relative to the root) with `target` points outside the
 * root, judged on the text alone: absolute targets, or '..' climbing above the root.
 */
export function linkEscapes(relPath: string, target: string): boolean {
  if (target === '' || target.startsWith('/')) return true;
  const parent = posix.dirname(relPath === '.' ? '' : relPath);
  const resolved = posix.normalize(posix.join(parent === '.' ? '' : parent, target));
  return resolved === '..' || resolved.startsWith('../');
}
