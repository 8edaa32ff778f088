/**
 * Walks a directory tree in a deterministic order: depth first, a directory before its
 * contents, names sorted by code point. Symlinks are reported as links and never followed;
 * excluded paths and the backup destination are not entered. State is one sorted name list
 * per directory on the current path, so memory does not grow with the number of files.
 */
import type { BigIntStats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import type { Exclusions } from './exclusions.js';

export type WalkKind = 'file' | 'directory' | 'symlink' | 'special';

export interface WalkEntry {
  /** '/'-separated path relative to the walked root; "." for the root itself. */
  relPath: string;
  absPath: string;
  kind: WalkKind;
  stats: BigIntStats;
}

export interface WalkHooks {
  /** A path left out, with the reason (an excluded directory is reported once, not its contents). */
  onExcluded(relPath: string, reason: string): void;
  /** Something that could not be read; the walk goes on. */
  onWarning(code: 'VANISHED' | 'UNREADABLE', relPath: string, message: string): void;
}

export interface WalkOptions {
  exclusions: Exclusions;
  /** Directories never entered (the backup destination), by device and inode so aliases match too. */
  skipDirectories?: ReadonlyArray<{ dev: bigint; ino: bigint; reason: string }>;
  signal?: AbortSignal;
}

function kindOf(stats: BigIntStats): WalkKind {
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile()) return 'file';
  return 'special';
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Frame {
  relDir: string;
  absDir: string;
  names: string[];
  next: number;
}

export async function* walkTree(root: string, options: WalkOptions, hooks: WalkHooks): AsyncGenerator<WalkEntry> {
  const rootStats = await lstat(root, { bigint: true });
  yield { relPath: '.', absPath: root, kind: 'directory', stats: rootStats };
  const stack: Frame[] = [];
  const rootNames = await readNames(root, '.', hooks);
  if (rootNames) stack.push({ relDir: '', absDir: root, names: rootNames, next: 0 });

  while (stack.length > 0) {
    options.signal?.throwIfAborted();
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.names.length) {
      stack.pop();
      continue;
    }
    const name = frame.names[frame.next];
    frame.next += 1;
    const relPath = frame.relDir === '' ? name : `${frame.relDir}/${name}`;
    // Not path.join: the names of a directory listing have no '/', so there is nothing to normalise.
    const absPath = frame.absDir.endsWith('/') ? frame.absDir + name : `${frame.absDir}/${name}`;
    let stats: BigIntStats;
    try {
      // Synchronous: microseconds, against a thread-pool round trip per entry (see tar-writer.ts).
      stats = lstatSync(absPath, { bigint: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Node decodes names as UTF-8; a name in another encoding comes back with U+FFFD and
      // cannot be opened by that string. Say so rather than calling it vanished.
      if (code === 'ENOENT' && name.includes('\uFFFD')) hooks.onWarning('UNREADABLE', relPath, `${relPath}: the name is not valid UTF-8, so it is not archived; rename it`);
      else if (code === 'ENOENT') hooks.onWarning('VANISHED', relPath, `${relPath} vanished before it could be archived`);
      else hooks.onWarning('UNREADABLE', relPath, `${relPath} cannot be read: ${(error as Error).message}`);
      continue;
    }
    const kind = kindOf(stats);
    const isDirectory = kind === 'directory';
    const skip = isDirectory ? options.skipDirectories?.find((d) => d.dev === stats.dev && d.ino === stats.ino) : undefined;
    const reason = skip?.reason ?? options.exclusions.match(relPath, isDirectory);
    if (reason !== null) {
      hooks.onExcluded(relPath, reason);
      continue;
    }
    yield { relPath, absPath, kind, stats };
    if (isDirectory) {
      const names = await readNames(absPath, relPath, hooks);
      if (names && names.length > 0) stack.push({ relDir: relPath, absDir: absPath, names, next: 0 });
    }
  }
}

async function readNames(absDir: string, relDir: string, hooks: WalkHooks): Promise<string[] | null> {
  try {
    return (await readdir(absDir)).sort(byCodePoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') hooks.onWarning('VANISHED', relDir, `directory ${relDir} vanished while it was archived`);
    else hooks.onWarning('UNREADABLE', relDir, `directory ${relDir} cannot be listed, its contents are missing from the archive: ${(error as Error).message}`);
    return null;
  }
}
