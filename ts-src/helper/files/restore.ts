/**
 * Restore and verify side of directory archives.
 *
 * restoreDirectory: check the part's hash, extract into a staging directory beside the target
 * (same filesystem, so the final step is a rename), check the counts against the manifest,
 * then swap it in (swap-directory.ts). The target is only touched after the whole archive
 * extracted cleanly; with --force an existing target is renamed aside first and removed
 * only once the new one is in place. What a killed restore left is cleaned or finished first.
 *
 * listArchive: read an archive to its end-of-archive marker, check every header and name,
 * and compare the counts with the manifest, for `verify`.
 */
import { lstat, mkdir, readdir, rename, rmdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { FilesRecord, Manifest, PartRecord } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import { pausePoint } from '../core/test-pause.js';
import type { DecryptionKeys } from '../crypto/age-stream.js';
import { openPart, stopReadingPart } from '../set/part-reader.js';
import { checkPart } from '../set/verify-parts.js';
import { entrySegments, linkEscapes } from './entry-paths.js';
import { recoverDirectory, stagingPath, swapDirectoryIn } from './swap-directory.js';
import { damaged, extractTar, removeTree, type ExtractPolicy, type ExtractStats } from './extract.js';
import { TarReader } from './tar-reader.js';

export interface RestoreDirectoryOptions {
  /** Replace a non-empty target (it is renamed aside, and removed after success). */
  force?: boolean;
  decryption?: DecryptionKeys;
  reporter?: Reporter;
  signal?: AbortSignal;
  /** The caller already checked every part's hash (restore checks the whole set first). */
  hashChecked?: boolean;
}

export interface RestoreDirectoryResult extends ExtractStats {
  label: string;
  target: string;
  /** True when an existing non-empty target was replaced (--force). */
  replaced: boolean;
  warnings: string[];
}

export function findFilesRecord(manifest: Manifest, label: string): { record: FilesRecord; part: PartRecord } {
  const record = manifest.files.find((f) => f.label === label);
  if (!record) {
    const known = manifest.files.map((f) => f.label).join(', ') || 'none';
    throw new BackupError('USAGE', `Set ${manifest.setId} has no directory "${label}" (it has: ${known}).`);
  }
  const part = manifest.parts.find((p) => p.path === record.archive);
  if (!part) throw new BackupError('SET_DAMAGED', `The manifest of ${manifest.setId} names ${record.archive} for "${label}" but lists no such part.`);
  return { record, part };
}

/** Which outside-pointing symlinks a restore accepts: those the verified record lists (v1 and v2 alike). */
export function policyFor(record: Pick<FilesRecord, 'outsideLinks' | 'outsideLinksOmitted'>, targetName: string): ExtractPolicy {
  const allowedOutsideLinks =
    (record.outsideLinksOmitted ?? 0) > 0 ? 'all' : new Set((record.outsideLinks ?? []).map((l) => `${l.path}\0${l.target}`));
  return { allowedOutsideLinks, targetName };
}

async function assertPartHash(setDir: string, part: PartRecord): Promise<void> {
  const problem = await checkPart(setDir, part);
  if (problem) throw new BackupError('SET_DAMAGED', `${problem.detail}; nothing was restored.`);
}

async function isEmptyDirectory(path: string): Promise<boolean> {
  return (await readdir(path)).length === 0;
}

/**
 * Checks a restore target before anything is written (v1 archives and v2 trees alike):
 * finishes or cleans what a killed restore of it left, refuses '/' and a non-empty target
 * without `force`. Returns the absolute target and warnings about what was cleaned.
 */
export async function checkRestoreTarget(targetPath: string, label: string, options: { force?: boolean; reporter?: Reporter }): Promise<{ target: string; leftovers: string[] }> {
  const target = resolve(targetPath);
  if (target === '/') throw new BackupError('USAGE', 'Refusing to restore a directory archive onto /.');
  const leftovers = await recoverDirectory(target, options.reporter);
  const existing = await lstat(target).catch(() => null);
  const targetHasContent = existing !== null && (!existing.isDirectory() || !(await isEmptyDirectory(target)));
  if (targetHasContent && !options.force) {
    throw new BackupError('TARGET_NOT_EMPTY', `${target} exists and is not empty; restore "${label}" into an empty or new directory, or pass --force to replace it.`);
  }
  return { target, leftovers };
}

/** A fresh staging directory beside the target (same file system: the swap is a rename). */
export async function createRestoreStaging(target: string): Promise<string> {
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  const staging = stagingPath(target);
  await mkdir(staging, { mode: 0o700 });
  return staging;
}

/**
 * Moves a completely restored staging directory into place. Re-checks the target (it may have
 * changed meanwhile); with `force` the old target is swapped out (swap-directory.ts). Returns
 * whether something was replaced; removes the staging directory on failure.
 */
export async function swapInRestored(staging: string, target: string, label: string, options: { force?: boolean; reporter?: Reporter }, warnings: string[]): Promise<boolean> {
  const now = await lstat(target).catch(() => null);
  let replaced = false;
  try {
    if (now === null) {
      await rename(staging, target);
    } else if (now.isDirectory() && (await isEmptyDirectory(target))) {
      await rmdir(target);
      await rename(staging, target);
    } else if (options.force) {
      const swapped = await swapDirectoryIn(staging, target);
      replaced = swapped.replaced;
      if (swapped.keptAside) {
        const message = `the old contents of ${target} were kept at ${swapped.keptAside}: ${swapped.removeError?.message ?? ''}`;
        warnings.push(message);
        options.reporter?.emit({ type: 'warning', code: 'OLD_TARGET_KEPT', message, item: label, path: swapped.keptAside });
      }
    } else {
      throw new BackupError('TARGET_NOT_EMPTY', `${target} was filled while "${label}" was being extracted; nothing was replaced. Pass --force to replace it.`);
    }
  } catch (error) {
    await removeTree(staging).catch(() => undefined);
    throw error instanceof BackupError ? error : new BackupError('IO', `Could not move the restored "${label}" into ${target}: ${(error as Error).message}`, { cause: error });
  }
  return replaced;
}

export async function restoreDirectory(
  setDir: string,
  manifest: Manifest,
  label: string,
  targetPath: string,
  options: RestoreDirectoryOptions = {},
): Promise<RestoreDirectoryResult> {
  const { record, part } = findFilesRecord(manifest, label);
  const { target, leftovers } = await checkRestoreTarget(targetPath, label, options);
  if (!options.hashChecked) await assertPartHash(setDir, part);
  const staging = await createRestoreStaging(target);

  const warnings: string[] = [];
  let files = 0;
  let bytes = 0;
  let currentPath = '';
  const progress = (force = false): void =>
    options.reporter?.progress({ type: 'progress', phase: 'files', item: label, files, bytes, bytesTotal: part.rawBytes, path: currentPath }, force);

  let stats: ExtractStats;
  let content: Readable | undefined;
  try {
    content = await openPart(setDir, part.path, { decryption: options.decryption });
    stats = await extractTar(
      content,
      staging,
      policyFor(record, target),
      {
        onWarning: (code, path, message) => {
          warnings.push(message);
          options.reporter?.emit({ type: 'warning', code, message: `${label}: ${message}`, item: label, path });
        },
        onEntry: (path, type) => {
          currentPath = path;
          if (type === 'file') files += 1;
          progress();
        },
        onContentBytes: (n) => {
          bytes += n;
        },
      },
      options.signal,
    ).catch((error: unknown) => {
      throw damaged(error, `${part.path} (directory "${label}")`);
    });
    const differences = countDifferences(stats, record);
    if (differences) throw new BackupError('SET_DAMAGED', `${part.path} extracted to ${differences}; ${target} was not changed.`);
  } catch (error) {
    await removeTree(staging).catch(() => undefined);
    throw error;
  } finally {
    // A refused archive is left unread: close the file and the decoders now.
    if (content) stopReadingPart(content);
  }
  progress(true);
  await pausePoint('dir-extracted');

  const replaced = await swapInRestored(staging, target, label, options, warnings);
  return { label, target, replaced, warnings: [...leftovers, ...warnings], ...stats };
}

/** What the extraction holds that the manifest does not say, or null when they agree. */
function countDifferences(stats: ExtractStats, record: FilesRecord): string | null {
  const differences: string[] = [];
  if (stats.files !== record.files) differences.push(`${stats.files} files (manifest: ${record.files})`);
  if (stats.directories !== record.directories) differences.push(`${stats.directories} directories (manifest: ${record.directories})`);
  if (stats.symlinks !== record.symlinks) differences.push(`${stats.symlinks} symlinks (manifest: ${record.symlinks})`);
  if (stats.bytes !== record.bytes) differences.push(`${stats.bytes} bytes (manifest: ${record.bytes})`);
  return differences.length > 0 ? differences.join(', ') : null;
}

export interface ArchiveListing {
  label: string;
  part: string;
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
}

export interface ListArchiveOptions {
  decryption?: DecryptionKeys;
  /** Skip the hash check when the caller already checked the part. */
  hashChecked?: boolean;
  signal?: AbortSignal;
  /** Called with each entry's path, e.g. for a listing. */
  onEntry?: (path: string, type: string, size: number) => void;
}

/**
 * Reads one directory archive of a set to its end: every header must parse, every name must
 * be safe to extract, and the counts must match the manifest. Throws SET_DAMAGED (malformed,
 * truncated, counts differ), HOSTILE_ARCHIVE (unsafe names) or WRONG_KEY.
 */
export async function listArchive(setDir: string, manifest: Manifest, label: string, options: ListArchiveOptions = {}): Promise<ArchiveListing> {
  const { record, part } = findFilesRecord(manifest, label);
  if (!options.hashChecked) await assertPartHash(setDir, part);
  const policy = policyFor(record, `(verify of ${basename(setDir)})`);
  const listing: ArchiveListing = { label, part: part.path, entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  const content = await openPart(setDir, part.path, { decryption: options.decryption });
  try {
    const reader = new TarReader(content);
    /** Symlinks seen so far (one string per link, not per file), to catch entries stored through one. */
    const symlinks = new Set<string>();
    for (;;) {
      options.signal?.throwIfAborted();
      const entry = await reader.next();
      if (entry === null) break;
      listing.entries += 1;
      const parsed = entrySegments(entry.path);
      if ('refused' in parsed) throw new BackupError('HOSTILE_ARCHIVE', `${part.path}: entry "${entry.rawName}" ${parsed.refused}.`);
      const rel = parsed.segments.join('/') || '.';
      for (let i = 1; i < parsed.segments.length; i += 1) {
        const prefix = parsed.segments.slice(0, i).join('/');
        if (symlinks.has(prefix)) throw new BackupError('HOSTILE_ARCHIVE', `${part.path}: entry "${entry.rawName}" passes through the symlink "${prefix}" stored earlier.`);
      }
      if (entry.type === 'symlink') {
        symlinks.add(rel);
        if (linkEscapes(rel, entry.linkTarget ?? '')) {
          const allowed = policy.allowedOutsideLinks === 'all' || policy.allowedOutsideLinks.has(`${rel}\0${entry.linkTarget ?? ''}`);
          if (!allowed) throw new BackupError('HOSTILE_ARCHIVE', `${part.path}: symlink "${rel}" points outside the directory (${entry.linkTarget ?? ''}) and the manifest does not list it.`);
        }
      }
      if (entry.type === 'hardlink') {
        const target = entrySegments(entry.linkTarget ?? '');
        if ('refused' in target || target.segments.length === 0) {
          throw new BackupError('HOSTILE_ARCHIVE', `${part.path}: hard link "${rel}" points outside the directory (${entry.linkTarget ?? ''}).`);
        }
      }
      let size = 0;
      for await (const chunk of reader.content()) size += chunk.length;
      if (entry.type === 'file') {
        listing.files += 1;
        listing.bytes += size;
      } else if (entry.type === 'directory') listing.directories += 1;
      else if (entry.type === 'symlink') listing.symlinks += 1;
      else if (entry.type === 'hardlink') listing.hardlinks += 1;
      options.onEntry?.(rel, entry.type, size);
    }
  } catch (error) {
    throw damaged(error, `${part.path} (directory "${label}")`);
  } finally {
    stopReadingPart(content);
  }
  const differences: string[] = [];
  if (listing.files !== record.files) differences.push(`${listing.files} files (manifest: ${record.files})`);
  if (listing.directories !== record.directories) differences.push(`${listing.directories} directories (manifest: ${record.directories})`);
  if (listing.symlinks !== record.symlinks) differences.push(`${listing.symlinks} symlinks (manifest: ${record.symlinks})`);
  if (listing.bytes !== record.bytes) differences.push(`${listing.bytes} bytes (manifest: ${record.bytes})`);
  if (differences.length > 0) throw new BackupError('SET_DAMAGED', `${part.path} holds ${differences.join(', ')}.`);
  return listing;
}
