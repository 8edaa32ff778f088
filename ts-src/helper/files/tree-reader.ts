/**
 * Reading and restoring a directory of a v2 set from its tree (tree-format.ts) and blobs.
 *
 * restoreTree writes into a staging directory beside the target and swaps it in at the end,
 * as restoreDirectory does for v1 archives, with the same protections against a hostile or
 * damaged tree: no absolute paths or '..' (entry-paths.ts), entries strictly in tree order
 * (no path twice), nothing written through a symlink (every parent must be a directory this
 * restore created), files created O_EXCL|O_NOFOLLOW, symlinks leaving the directory only
 * when the record lists them, and every file's size and SHA-256 checked against the tree.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants as fsc, fchmodSync, fchownSync, futimesSync, openSync, writeSync } from 'node:fs';
import { chmod, chown, lchown, lstat, lutimes, mkdir, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { compareTreePaths, type FilesRecordV2, type TreeEntry } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { BlobReader } from '../repo/repository.js';
import { entrySegments, linkEscapes } from './entry-paths.js';
import { removeTree } from './extract.js';
import { checkRestoreTarget, createRestoreStaging, policyFor, swapInRestored, type RestoreDirectoryResult } from './restore.js';
import { parseTreeLine, splitLines } from './tree-format.js';

/**
 * Seconds for utimes from a tree's milliseconds. libuv cuts the time to whole microseconds;
 * half a microsecond more makes that cut a rounding, so the restored mtime is within 1 µs.
 */
function secondsOf(ms: number): number {
  return ms / 1000 + 5e-7;
}

const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The plaintext of a list of blobs, one blob at a time, the next one fetched while this one is used. */
async function* blobContents(ids: readonly string[], reader: BlobReader): AsyncGenerator<Buffer> {
  let next: Promise<Buffer> | undefined = ids.length > 0 ? reader.get(ids[0]) : undefined;
  for (let i = 0; i < ids.length; i += 1) {
    const current = next!;
    next = i + 1 < ids.length ? reader.get(ids[i + 1]) : undefined;
    next?.catch(() => undefined); // awaited on the next turn
    yield await current;
  }
}

/** The entries of a directory's tree, streamed (memory: one blob and one line). */
export async function* readTree(record: FilesRecordV2, reader: BlobReader): AsyncGenerator<TreeEntry> {
  const where = `the tree of directory "${record.label}"`;
  try {
    for await (const line of splitLines(blobContents(record.tree, reader))) yield parseTreeLine(line, where);
  } catch (error) {
    if (error instanceof TypeError) throw new BackupError('SET_DAMAGED', `${where} is not valid UTF-8 text.`, { cause: error });
    throw error;
  }
}

export interface RestoreTreeOptions {
  /** Replace a non-empty target (renamed aside, removed after success). */
  force?: boolean;
  reporter?: Reporter;
  signal?: AbortSignal;
}

interface DirectoryMeta {
  rel: string;
  depth: number;
  mode: number;
  mt: number;
  u?: number;
  g?: number;
}

function refused(record: FilesRecordV2, path: string, why: string, target: string): BackupError {
  return new BackupError('HOSTILE_ARCHIVE', `The tree of directory "${record.label}" has an entry "${path}" that ${why}; it was refused and nothing was written to ${target}.`);
}

/** Restores the directory `record` describes into `targetPath` (empty or new, or --force). */
export async function restoreTree(record: FilesRecordV2, reader: BlobReader, targetPath: string, options: RestoreTreeOptions = {}): Promise<RestoreDirectoryResult> {
  const { label } = record;
  const { target, leftovers } = await checkRestoreTarget(targetPath, label, options);
  const staging = await createRestoreStaging(target);
  const policy = policyFor(record, target);
  const warnings: string[] = [...leftovers];
  const stats = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  /** Directories this restore created (the only ones anything is written into). */
  const realDirectories = new Set<string>(['']);
  const directoryMeta: DirectoryMeta[] = [];
  let currentPath = '';
  const progress = (force = false): void =>
    options.reporter?.progress({ type: 'progress', phase: 'files', item: label, files: stats.files, bytes: stats.bytes, bytesTotal: record.bytes, path: currentPath }, force);

  const ensureParents = async (path: string, segments: string[]): Promise<void> => {
    let rel = '';
    for (const segment of segments) {
      rel = rel === '' ? segment : `${rel}/${segment}`;
      if (realDirectories.has(rel)) continue;
      const info = await lstat(join(staging, rel)).catch(() => null);
      if (info !== null) throw refused(record, path, `passes through "${rel}", which is not a directory of this tree`, target);
      // A tree lists a directory before its contents; one that does not is restored anyway.
      await mkdir(join(staging, rel), { mode: 0o700 });
      realDirectories.add(rel);
    }
  };

  try {
    let previous: string | undefined;
    for await (const entry of readTree(record, reader)) {
      options.signal?.throwIfAborted();
      if (previous !== undefined && compareTreePaths(previous, entry.p) >= 0) {
        throw new BackupError('SET_DAMAGED', `The tree of directory "${label}" is out of order at "${entry.p}" (after "${previous}"); nothing was written to ${target}.`);
      }
      previous = entry.p;
      const parsed = entrySegments(entry.p);
      if ('refused' in parsed) throw refused(record, entry.p, parsed.refused, target);
      const segments = parsed.segments;
      const rel = segments.join('/');
      const abs = rel === '' ? staging : join(staging, rel);
      currentPath = entry.p;
      if (segments.length === 0) {
        if (entry.t !== 'd') throw refused(record, entry.p, 'names the directory itself but is not a directory', target);
        directoryMeta.push({ rel, depth: 0, mode: entry.m, mt: entry.mt, u: entry.u, g: entry.g });
        stats.directories += 1;
        continue;
      }
      await ensureParents(entry.p, segments.slice(0, -1));

      switch (entry.t) {
        case 'd': {
          try {
            await mkdir(abs, { mode: 0o700 });
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw refused(record, entry.p, 'names a path the tree already holds', target);
            throw error;
          }
          realDirectories.add(rel);
          directoryMeta.push({ rel, depth: segments.length, mode: entry.m, mt: entry.mt, u: entry.u, g: entry.g });
          stats.directories += 1;
          break;
        }
        case 'f': {
          let fd: number;
          try {
            fd = openSync(abs, CREATE_FLAGS, 0o600);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw refused(record, entry.p, 'names a path the tree already holds', target);
            throw error;
          }
          try {
            const hash = createHash('sha256');
            let written = 0;
            for await (const block of blobContents(entry.b ?? [], reader)) {
              let offset = 0;
              while (offset < block.length) offset += writeSync(fd, block, offset, block.length - offset);
              hash.update(block);
              written += block.length;
              stats.bytes += block.length;
            }
            if (written !== entry.s || (entry.h !== undefined && hash.digest('hex') !== entry.h)) {
              throw new BackupError('SET_DAMAGED', `"${entry.p}" of directory "${label}" does not restore to the size and SHA-256 its tree records (${written} of ${entry.s ?? '?'} bytes); the repository is damaged. Nothing was written to ${target}.`);
            }
            if (asRoot && entry.u !== undefined && entry.g !== undefined) fchownSync(fd, entry.u, entry.g);
            fchmodSync(fd, entry.m);
            futimesSync(fd, secondsOf(entry.mt), secondsOf(entry.mt));
          } finally {
            closeSync(fd);
          }
          stats.files += 1;
          progress();
          break;
        }
        case 'l': {
          const linkTarget = entry.l ?? '';
          if (linkTarget === '' || linkTarget.includes('\0')) throw refused(record, entry.p, 'is a symlink without a valid target', target);
          if (linkEscapes(rel, linkTarget)) {
            const allowed = policy.allowedOutsideLinks === 'all' || policy.allowedOutsideLinks.has(`${rel}\0${linkTarget}`);
            if (!allowed) throw refused(record, entry.p, `is a symlink to "${linkTarget}", outside the directory, which the set's record does not list`, target);
          }
          try {
            await symlink(linkTarget, abs);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw refused(record, entry.p, 'names a path the tree already holds', target);
            throw error;
          }
          if (asRoot && entry.u !== undefined && entry.g !== undefined) await lchown(abs, entry.u, entry.g);
          await lutimes(abs, secondsOf(entry.mt), secondsOf(entry.mt));
          stats.symlinks += 1;
          break;
        }
      }
    }
    // Directory metadata last, deepest first: writing their contents no longer touches the mtimes.
    directoryMeta.sort((a, b) => b.depth - a.depth);
    for (const meta of directoryMeta) {
      const abs = meta.rel === '' ? staging : join(staging, meta.rel);
      if (asRoot && meta.u !== undefined && meta.g !== undefined) await chown(abs, meta.u, meta.g);
      await chmod(abs, meta.mode);
      await utimes(abs, secondsOf(meta.mt), secondsOf(meta.mt));
    }
    if (!directoryMeta.some((m) => m.rel === '')) await chmod(staging, 0o755);
    // The tree must hold what the catalog says it holds: a truncated tree must not pass.
    const differences: string[] = [];
    if (stats.files !== record.files) differences.push(`${stats.files} files (catalog: ${record.files})`);
    if (stats.directories !== record.directories) differences.push(`${stats.directories} directories (catalog: ${record.directories})`);
    if (stats.symlinks !== record.symlinks) differences.push(`${stats.symlinks} symlinks (catalog: ${record.symlinks})`);
    if (stats.bytes !== record.bytes) differences.push(`${stats.bytes} bytes (catalog: ${record.bytes})`);
    if (differences.length > 0) throw new BackupError('SET_DAMAGED', `The tree of directory "${label}" restored to ${differences.join(', ')}; ${target} was not changed.`);
  } catch (error) {
    await removeTree(staging).catch(() => undefined);
    throw error;
  }
  progress(true);
  const replaced = await swapInRestored(staging, target, label, options, warnings);
  return { label, target, replaced, warnings, ...stats };
}
