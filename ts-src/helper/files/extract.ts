/**
 * Safe extraction of a tar stream into a fresh staging directory.
 *
 * Nothing may land outside the staging root, whatever the archive says:
 *  - names that are absolute or hold '..' are refused (HOSTILE_ARCHIVE);
 *  - every parent directory on an entry's path is checked with lstat to be a real directory
 *    this extraction created, so a symlink placed earlier in the archive is never written
 *    through ("link -> /tmp/outside" then "link/evil" is refused);
 *  - files are created with O_CREAT|O_EXCL|O_NOFOLLOW, so an existing name is never followed;
 *  - symlinks whose target leaves the root are refused unless the verified manifest recorded
 *    them at backup time (restore recreates the link; nothing is ever written through it);
 *  - hard links must name a regular file extracted earlier inside the root.
 * Directory modes and mtimes are applied last, deepest first, so writing their contents does
 * not disturb them and a read-only directory does not block its own extraction.
 */
import { closeSync, constants as fsc, fchmodSync, fchownSync, futimesSync, openSync, writeSync } from 'node:fs';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, readdir, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../core/errors.js';
import { entrySegments, linkEscapes } from './entry-paths.js';
import { TarFormatError } from './tar-format.js';
import { TarReader, type ReadEntry } from './tar-reader.js';

export interface ExtractPolicy {
  /** Outside-pointing symlinks allowed, as "path\0target"; 'all' accepts every one. */
  allowedOutsideLinks: ReadonlySet<string> | 'all';
  /** What to call the destination in messages (the real target, not the staging dir). */
  targetName: string;
}

export interface ExtractHooks {
  onWarning?(code: string, path: string, message: string): void;
  onEntry?(path: string, type: ReadEntry['type'], contentBytes: number): void;
  onContentBytes?(bytes: number): void;
}

export interface ExtractStats {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
}

interface DirectoryMeta {
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function hostile(entry: ReadEntry, why: string, policy: ExtractPolicy): BackupError {
  return new BackupError(
    'HOSTILE_ARCHIVE',
    `Archive entry "${entry.rawName}" ${why}; the archive was refused and nothing was written to ${policy.targetName}.`,
  );
}

export function damaged(error: unknown, what: string): BackupError {
  if (error instanceof BackupError) return error;
  if (error instanceof TarFormatError) return new BackupError('SET_DAMAGED', `${what} is not a valid tar archive: ${error.message}`, { cause: error });
  return new BackupError('IO', `${what}: ${(error as Error).message}`, { cause: error });
}

export async function extractTar(input: AsyncIterable<Buffer | Uint8Array | string>, stagingRoot: string, policy: ExtractPolicy, hooks: ExtractHooks = {}, signal?: AbortSignal): Promise<ExtractStats> {
  const reader = new TarReader(input);
  const stats: ExtractStats = { files: 0, directories: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  /** Directories known to be real directories inside the root (created or checked by us). */
  const realDirectories = new Set<string>(['']);
  /** Archive metadata for directories, applied at the end; null for ones created implicitly. */
  const directoryMeta = new Map<string, DirectoryMeta | null>();

  const ensureParents = async (entry: ReadEntry, segments: string[]): Promise<void> => {
    let rel = '';
    for (const segment of segments) {
      rel = rel === '' ? segment : `${rel}/${segment}`;
      if (realDirectories.has(rel)) continue;
      const abs = join(stagingRoot, rel);
      const info = await lstat(abs).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (info === null) {
        await mkdir(abs, { mode: 0o700 });
        directoryMeta.set(rel, null);
      } else if (info.isSymbolicLink()) {
        throw hostile(entry, `passes through the symlink "${rel}" created earlier in the archive`, policy);
      } else if (!info.isDirectory()) {
        throw hostile(entry, `passes through "${rel}", which the archive made a file`, policy);
      }
      realDirectories.add(rel);
    }
  };

  /** Makes room for a non-directory entry: an earlier file or link of the same name is replaced, as tar does. */
  const clearForReplace = async (entry: ReadEntry, abs: string, rel: string): Promise<void> => {
    const info = await lstat(abs).catch(() => null);
    if (info === null) return;
    if (info.isDirectory()) throw hostile(entry, `would replace the directory "${rel}" with a ${entry.type}`, policy);
    await unlink(abs);
  };

  for (;;) {
    signal?.throwIfAborted();
    const entry = await reader.next();
    if (entry === null) break;
    const parsed = entrySegments(entry.path);
    if ('refused' in parsed) throw hostile(entry, parsed.refused, policy);
    const segments = parsed.segments;
    const rel = segments.join('/');
    const abs = join(stagingRoot, rel);

    if (segments.length === 0) {
      if (entry.type !== 'directory') throw hostile(entry, 'names the target directory itself but is not a directory', policy);
      directoryMeta.set('', { mode: entry.mode, mtime: entry.mtime, uid: entry.uid, gid: entry.gid });
      stats.directories += 1;
      hooks.onEntry?.('.', 'directory', 0);
      continue;
    }
    await ensureParents(entry, segments.slice(0, -1));

    switch (entry.type) {
      case 'directory': {
        if (!realDirectories.has(rel)) {
          const info = await lstat(abs).catch(() => null);
          if (info === null) await mkdir(abs, { mode: 0o700 });
          else if (!info.isDirectory()) throw hostile(entry, `would turn the ${info.isSymbolicLink() ? 'symlink' : 'file'} "${rel}" into a directory`, policy);
          realDirectories.add(rel);
        }
        directoryMeta.set(rel, { mode: entry.mode, mtime: entry.mtime, uid: entry.uid, gid: entry.gid });
        stats.directories += 1;
        hooks.onEntry?.(rel, 'directory', 0);
        break;
      }
      case 'file': {
        // Synchronous calls on the descriptor: each takes microseconds, while a thread-pool
        // round trip per call (open, write, chown, chmod, utimes, close) would dominate the
        // time of a tree of many small files. Content still arrives asynchronously.
        let fd: number;
        try {
          fd = openSync(abs, CREATE_FLAGS, 0o600);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          await clearForReplace(entry, abs, rel);
          fd = openSync(abs, CREATE_FLAGS, 0o600);
        }
        try {
          let written = 0;
          for await (const chunk of reader.content()) {
            let offset = 0;
            while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
            written += chunk.length;
            hooks.onContentBytes?.(chunk.length);
          }
          if (asRoot) fchownSync(fd, entry.uid, entry.gid);
          fchmodSync(fd, entry.mode);
          futimesSync(fd, entry.mtime, entry.mtime);
          stats.files += 1;
          stats.bytes += written;
          hooks.onEntry?.(rel, 'file', written);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink': {
        const target = entry.linkTarget ?? '';
        if (target === '' || target.includes('\0')) throw hostile(entry, 'is a symlink without a valid target', policy);
        if (linkEscapes(rel, target)) {
          const allowed = policy.allowedOutsideLinks === 'all' || policy.allowedOutsideLinks.has(`${rel}\0${target}`);
          if (!allowed) throw hostile(entry, `is a symlink to "${target}", outside the target directory`, policy);
        }
        await clearForReplace(entry, abs, rel);
        await symlink(target, abs);
        if (asRoot) await lchown(abs, entry.uid, entry.gid);
        await lutimes(abs, entry.mtime, entry.mtime);
        stats.symlinks += 1;
        hooks.onEntry?.(rel, 'symlink', 0);
        break;
      }
      case 'hardlink': {
        const target = entrySegments(entry.linkTarget ?? '');
        if ('refused' in target || target.segments.length === 0) {
          throw hostile(entry, `is a hard link to "${entry.linkTarget ?? ''}", outside the target directory`, policy);
        }
        const targetRel = target.segments.join('/');
        await ensureParents(entry, target.segments.slice(0, -1));
        const info = await lstat(join(stagingRoot, targetRel)).catch(() => null);
        if (info === null || !info.isFile()) throw hostile(entry, `is a hard link to "${targetRel}", which is not a file extracted earlier`, policy);
        await clearForReplace(entry, abs, rel);
        await link(join(stagingRoot, targetRel), abs);
        stats.hardlinks += 1;
        hooks.onEntry?.(rel, 'hardlink', 0);
        break;
      }
      case 'other':
        hooks.onWarning?.('SPECIAL_SKIPPED', rel, `${rel} is a special file (tar type '${entry.typeFlag ?? '?'}'), not restored`);
        break;
    }
  }

  // Directory metadata last, deepest first: children's writes no longer touch the mtimes.
  const ordered = [...directoryMeta.entries()].sort((a, b) => depth(b[0]) - depth(a[0]));
  for (const [rel, meta] of ordered) {
    const abs = rel === '' ? stagingRoot : join(stagingRoot, rel);
    if (meta === null) {
      await chmod(abs, 0o755);
      continue;
    }
    if (asRoot) await chown(abs, meta.uid, meta.gid);
    await chmod(abs, meta.mode);
    await utimes(abs, meta.mtime, meta.mtime);
  }
  if (!directoryMeta.has('')) await chmod(stagingRoot, 0o755);
  return stats;
}

function depth(rel: string): number {
  if (rel === '') return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i += 1) if (rel.charCodeAt(i) === 47) n += 1;
  return n;
}

/** Removes a directory tree that may hold read-only directories (as restored from an archive). */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch {
    // As root rm never fails on modes; as another user a 0500 directory blocks it: open up and retry.
    await makeWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeWritable(path: string): Promise<void> {
  const info = await lstat(path).catch(() => null);
  if (!info || !info.isDirectory()) return;
  await chmod(path, 0o700).catch(() => undefined);
  for (const name of await readdir(path).catch(() => [] as string[])) await makeWritable(join(path, name));
}
