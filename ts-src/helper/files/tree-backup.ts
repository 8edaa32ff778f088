/**
 * Backup side of directories in a v2 (deduplicated) set: walk each directory with the same
 * walker and exclusions as the v1 archives, and for every regular file either re-use the blob
 * ids of the previous tree (same size, mtime, inode and ctime: nothing is read) or read it in
 * fixed 1 MiB blocks and hand each block to the repository's BlobWriter, which stores only
 * blocks it does not have. The tree (tree-format.ts) is stored as blobs too.
 *
 * Memory stays bounded whatever the number of files: the walk holds one sorted name list per
 * directory level, the previous tree is streamed alongside the walk in the same order (a
 * merge, never a map of all paths), the new tree goes to blobs and to a file in the state dir
 * as it is produced, and at most READ_CONCURRENCY files are read at once.
 *
 * The state dir keeps `tree-<repositoryId>-<label>.ndjson`, the tree of the last committed
 * set, so the next run needs neither the key nor the catalog to know what changed. The new
 * tree is written beside it as a temp file and renamed over it only after the set's manifest
 * is written (StagedTrees.commit): a killed run leaves the previous cache in place.
 *
 * For the labels in `changesFor` (CiviCRM's code) the run also reports what changed since the
 * previous tree (tree-changes.ts), from the same lookups, and the cache gets a note beside it
 * (`tree-<repositoryId>-<label>.origin.json`: which set it is and the SHA-256 of its lines), so
 * the next run can name the set it compared with; a note that does not match its cache (a run
 * killed between the two renames) names nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, fstatSync, openSync, readSync, readlinkSync, type BigIntStats } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirectorySpec } from '../../protocol/job.js';
import { compareTreePaths, FILE_BLOCK_SIZE, type ExclusionRecord, type FilesRecordV2, type TreeEntry } from '../../protocol/manifest.js';
import type { TreeChanges } from '../../protocol/tree-changes.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { BlobWriter } from '../repo/repository.js';
import { fsyncDirectory, writeFileAtomic } from '../set/durable.js';
import { CappedList, destinationSkip, resolveBackupDirectory, validateDirectorySpecs } from './archive.js';
import { isCompressible } from './compressibility.js';
import { linkEscapes } from './entry-paths.js';
import { Exclusions, validateExcludePatterns } from './exclusions.js';
import { TreeChangeCollector } from './tree-changes.js';
import { parseTreeLine, splitLines, TreeBlobCutter, treeLine } from './tree-format.js';
import { walkTree, type WalkEntry } from './walker.js';

/** Files read (and stored) at the same time. */
export const READ_CONCURRENCY = 4;
/** Walk entries waiting for earlier files to finish, so the tree stays in walk order. */
const MAX_QUEUED_ENTRIES = 512;
/** Files up to this size are read with synchronous calls: microseconds, against thread-pool round trips. */
const SYNC_READ_MAX = 256 * 1024;
/** Blocks of one file being stored while the next is read. */
const PUTS_IN_FLIGHT_PER_FILE = 2;
/** The state-dir copy of a tree is written in batches of this size. */
const CACHE_WRITE_BATCH = 256 * 1024;
const READ_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW;

export interface TreeBackupOptions {
  directories: readonly DirectorySpec[];
  writer: BlobWriter;
  /** Repository id: names the state-dir tree cache. */
  repositoryId: string;
  /**
   * The tree of the previous set of this source, for a directory label, when the state dir has
   * no cache of it (e.g. read from the previous v2 set's catalog). Must yield in walk order.
   */
  previous?: (label: string) => AsyncIterable<TreeEntry> | undefined;
  /** Directory labels whose changes since the previous tree are reported (TreeBackupResult.changes). */
  changesFor?: readonly string[];
  /** The set these trees are for: named in the changes and in the cache's origin note. */
  set?: SetRef;
  /**
   * The newest earlier set of this source in the repository, if any: the set `previous`
   * reads from, and what tells "first backup" from "previous tree unreadable".
   */
  previousSet?: SetRef;
  /** Where tree caches live; without it trees are staged in a temp dir and not kept. */
  stateDir?: string;
  reporter: Reporter;
  signal?: AbortSignal;
  /** The backup destination: never backed up, even inside a backed-up directory. */
  destination?: string;
  exclude?: readonly string[];
  includeLogs?: boolean;
  excludeUploadDir?: boolean;
  /** Tests and bench: files read at once. */
  readConcurrency?: number;
}

export interface StagedTrees {
  /** The new trees as NDJSON files, by label (for the set's accounting after writer.finish()). */
  readonly files: ReadonlyMap<string, string>;
  /** After the manifest is written: the new trees become the state dir's caches. */
  commit(): Promise<void>;
  /** The run failed: remove the staged trees, keep the old caches. */
  discard(): Promise<void>;
}

export interface TreeBackupResult {
  files: FilesRecordV2[];
  /** Run-level warnings (optional directories that were missing). */
  warnings: string[];
  staged: StagedTrees;
  /** Files whose blobs were re-used from the previous tree without reading them. */
  unchangedFiles: number;
  /** Bytes read from files that were new or changed. */
  readBytes: number;
  /** One per directory of `changesFor` that was backed up. */
  changes: TreeChanges[];
}

export interface SetRef {
  setId: string;
  civicrmVersion?: string;
}

/** The note beside a tree cache: which set it is, and the SHA-256 of its lines to prove the note belongs to it. */
interface CacheOrigin extends SetRef {
  sha256: string;
}

/** The state-dir cache of a directory's tree. */
export function treeCachePath(stateDir: string, repositoryId: string, label: string): string {
  return join(stateDir, `tree-${repositoryId}-${label}.ndjson`);
}

/** The origin note of a state-dir tree cache (which set the cache is). */
export function treeOriginPath(stateDir: string, repositoryId: string, label: string): string {
  return join(stateDir, `tree-${repositoryId}-${label}.origin.json`);
}

async function readCacheOrigin(path: string): Promise<CacheOrigin | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheOrigin> | null;
    if (!value || typeof value.setId !== 'string' || typeof value.sha256 !== 'string') return undefined;
    return { setId: value.setId, sha256: value.sha256, ...(typeof value.civicrmVersion === 'string' ? { civicrmVersion: value.civicrmVersion } : {}) };
  } catch {
    return undefined; // none (a cache of an older helper), or unreadable: the set is not named
  }
}

/** Milliseconds since the epoch from nanoseconds, as close as a double gets (about 0.24 µs today). */
function msOf(ns: bigint): number {
  return Number(ns) / 1e6;
}

/** Streams a tree NDJSON file (a cache or a staged tree); `onLine` sees each line's text (without its '\n'). */
export async function* readTreeFile(path: string, onLine?: (line: string) => void): AsyncGenerator<TreeEntry> {
  const handle = await open(path, 'r');
  try {
    for await (const line of splitLines(handle.createReadStream({ highWaterMark: 256 * 1024, autoClose: false }))) {
      onLine?.(line);
      yield parseTreeLine(line, path);
    }
  } finally {
    await handle.close();
  }
}

/**
 * The previous tree, advanced in step with the walk: a merge of two sorted streams. Entries the
 * walk passes without meeting (no longer there, or excluded now) go to `onPassed`.
 */
class PreviousTree {
  private head: TreeEntry | undefined;
  /** The head was returned by find(): the walk met it. */
  private headMet = false;
  private started = false;
  private iterator: AsyncIterator<TreeEntry> | undefined;
  /** Reading it failed part way: what it said so far cannot be compared with. */
  failed = false;

  constructor(
    source: AsyncIterable<TreeEntry> | undefined,
    private readonly onProblem: (message: string) => void,
    private readonly onPassed?: (entry: TreeEntry) => void,
  ) {
    this.iterator = source?.[Symbol.asyncIterator]();
  }

  async find(path: string): Promise<TreeEntry | undefined> {
    if (!this.iterator) return undefined;
    try {
      if (!this.started) {
        this.started = true;
        await this.advance();
      }
      while (this.head && compareTreePaths(this.head.p, path) < 0) await this.pass();
    } catch (error) {
      this.fail(error);
      return undefined;
    }
    if (this.head?.p !== path) return undefined;
    this.headMet = true;
    return this.head;
  }

  /** After the walk: everything left was not met. */
  async drain(): Promise<void> {
    if (!this.iterator) return;
    try {
      if (!this.started) {
        this.started = true;
        await this.advance();
      }
      while (this.head) await this.pass();
    } catch (error) {
      this.fail(error);
    }
  }

  private async pass(): Promise<void> {
    if (!this.headMet && this.head) this.onPassed?.(this.head);
    await this.advance();
  }

  private fail(error: unknown): void {
    // A damaged cache costs only reading: carry on as if there were no previous tree.
    this.onProblem(`the previous tree could not be read (${(error as Error).message}); unchanged files are read again`);
    this.failed = true;
    this.iterator = undefined;
    this.head = undefined;
  }

  private async advance(): Promise<void> {
    const next = await this.iterator!.next();
    this.head = next.done ? undefined : next.value;
    this.headMet = false;
  }

  async close(): Promise<void> {
    await this.iterator?.return?.().catch(() => undefined);
  }
}

/** At most `limit` tasks at once. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

/** Buffered writes of the staged tree file. */
class TreeFileWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private position = 0;
  private constructor(private readonly handle: FileHandle) {}
  static async create(path: string): Promise<TreeFileWriter> {
    return new TreeFileWriter(await open(path, 'wx', 0o600));
  }
  async add(line: string): Promise<void> {
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= CACHE_WRITE_BATCH) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const bytes = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    let done = 0;
    while (done < bytes.length) done += (await this.handle.write(bytes, done, bytes.length - done, this.position + done)).bytesWritten;
    this.position += bytes.length;
  }
  async close(sync: boolean): Promise<void> {
    await this.flush();
    if (sync) await this.handle.sync();
    await this.handle.close();
  }
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

interface StoredFile {
  b: string[];
  h: string;
  s: number;
}

/** A read of the file itself failed (as opposed to storing what was read). */
class FileReadError extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error).message);
  }
}

type Warn = (code: string, relPath: string, message: string) => void;

/**
 * Reads a file in 1 MiB blocks and stores each block; null when it cannot be read (warned).
 * Errors of the repository (disk full...) are thrown: they end the run.
 */
async function storeFile(entry: WalkEntry, writer: BlobWriter, warn: Warn, onBytes: (n: number) => void): Promise<StoredFile | null> {
  const { relPath } = entry;
  const expected = Number(entry.stats.size);
  const synchronous = expected <= SYNC_READ_MAX;
  let fd: number | undefined;
  let handle: FileHandle | undefined;
  try {
    if (synchronous) fd = openSync(entry.absPath, READ_FLAGS);
    else handle = await open(entry.absPath, READ_FLAGS);
  } catch (error) {
    warnUnreadable(warn, relPath, error);
    return null;
  }
  // Failures of the file (EIO...) skip the file with a warning; failures of the repository end the run.
  const readAt = async (buffer: Buffer, offset: number, length: number, position: number): Promise<number> => {
    try {
      return fd !== undefined ? readSync(fd, buffer, offset, length, position) : (await handle!.read(buffer, offset, length, position)).bytesRead;
    } catch (error) {
      throw new FileReadError(error);
    }
  };
  const statNow = async (): Promise<BigIntStats> => {
    try {
      return fd !== undefined ? fstatSync(fd, { bigint: true }) : await handle!.stat({ bigint: true });
    } catch (error) {
      throw new FileReadError(error);
    }
  };

  const hash = createHash('sha256');
  const puts: Array<Promise<string>> = [];
  let total = 0;
  let limit = expected;
  let shrunk = false;
  let compressible: boolean | undefined;
  let after: BigIntStats;
  try {
    try {
      for (;;) {
        if (total >= limit) {
          const now = await statNow();
          if (Number(now.size) <= total) break;
          limit = Number(now.size); // grew while read: take what is there now
        }
        const want = Math.min(FILE_BLOCK_SIZE, limit - total);
        const block = Buffer.allocUnsafe(want);
        let got = 0;
        while (got < want) {
          const n = await readAt(block, got, want - got, total + got);
          if (n === 0) break;
          got += n;
        }
        if (got === 0) {
          shrunk = true;
          break;
        }
        const content = got < want ? block.subarray(0, got) : block;
        compressible ??= isCompressible(relPath, content);
        hash.update(content);
        const put = writer.put(content, { compressible });
        put.catch(() => undefined); // awaited below; a failure is thrown from there
        puts.push(put);
        if (puts.length > PUTS_IN_FLIGHT_PER_FILE) await puts[puts.length - 1 - PUTS_IN_FLIGHT_PER_FILE];
        total += got;
        onBytes(got);
        if (got < want) {
          shrunk = true;
          break;
        }
      }
      after = await statNow();
    } catch (error) {
      await Promise.allSettled(puts);
      if (!(error instanceof FileReadError)) throw error;
      warnUnreadable(warn, relPath, error.cause);
      return null;
    }
    const ids = await Promise.all(puts);
    const before = entry.stats;
    if (shrunk) warn('FILE_CHANGED', relPath, `${relPath} shrank while it was read; the set holds the ${total} bytes that were there`);
    else if (total > expected) warn('FILE_CHANGED', relPath, `${relPath} grew while it was read; the set holds its first ${total} bytes`);
    else if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) warn('FILE_CHANGED', relPath, `${relPath} was modified while it was read; its stored content may be inconsistent`);
    return { b: ids, h: hash.digest('hex'), s: total };
  } finally {
    if (fd !== undefined) closeSync(fd);
    await handle?.close().catch(() => undefined);
  }
}

function warnUnreadable(warn: Warn, relPath: string, error: unknown): void {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') warn('FILE_VANISHED', relPath, `${relPath} vanished before it could be read; it is not in the set`);
  else if (code === 'ELOOP') warn('FILE_CHANGED', relPath, `${relPath} became a symlink while it was backed up; it is not in the set`);
  else warn('FILE_UNREADABLE', relPath, `${relPath} cannot be read, it is not in the set: ${(error as Error).message}`);
}

function specialKind(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'named pipe (fifo)';
  if (stats.isSocket()) return 'socket';
  if (stats.isBlockDevice()) return 'block device';
  if (stats.isCharacterDevice()) return 'character device';
  return 'special file';
}

/** The metadata part of an entry, shared by every type. */
function baseEntry(entry: WalkEntry, type: TreeEntry['t']): TreeEntry {
  const { stats } = entry;
  return {
    p: entry.relPath,
    t: type,
    m: Number(stats.mode & 0o7777n),
    mt: msOf(stats.mtimeNs),
    u: Number(stats.uid),
    g: Number(stats.gid),
  };
}

/** True when the previous tree's entry describes this file exactly and every block is still stored. */
function unchanged(previous: TreeEntry | undefined, entry: WalkEntry, writer: BlobWriter): previous is TreeEntry & { b: string[]; s: number } {
  if (!previous || previous.t !== 'f' || !previous.b || previous.s === undefined) return false;
  const { stats } = entry;
  if (previous.s !== Number(stats.size) || previous.mt !== msOf(stats.mtimeNs)) return false;
  if (previous.i !== undefined && previous.i !== Number(stats.ino)) return false;
  if (previous.c !== undefined && previous.c !== msOf(stats.ctimeNs)) return false;
  // A pruned blob (the cache may be older than a prune) must be stored again: read the file.
  return previous.b.every((id) => writer.has(id));
}

interface ChangesContext {
  /** SHA-256 of the cache's lines as read (when the previous tree was the state-dir cache). */
  cacheHash?: string;
  cacheOrigin?: () => Promise<CacheOrigin | undefined>;
  /** The previous tree came from the previous set's catalog. */
  fromCatalog: boolean;
  /** The run could read the previous set's catalog (an unencrypted repository). */
  previousReadable: boolean;
  set?: SetRef;
  previousSet?: SetRef;
}

/** The changes of one directory, or why there is nothing to compare with. */
async function changesRecord(label: string, changes: TreeChangeCollector, failed: boolean, context: ChangesContext): Promise<TreeChanges> {
  const base = { label, ...(context.set?.civicrmVersion !== undefined ? { civicrmVersion: context.set.civicrmVersion } : {}) };
  const notCompared = (reason: NonNullable<TreeChanges['reason']>): TreeChanges => ({ ...base, compared: false, reason, counts: { added: 0, modified: 0, removed: 0 }, paths: [], omitted: 0 });
  if (failed) return notCompared('previous-unreadable');
  let previous: SetRef | undefined;
  if (context.cacheHash !== undefined) {
    const origin = await context.cacheOrigin?.();
    if (origin && origin.sha256 === context.cacheHash) previous = { setId: origin.setId, ...(origin.civicrmVersion !== undefined ? { civicrmVersion: origin.civicrmVersion } : {}) };
  } else if (context.fromCatalog) {
    previous = context.previousSet;
  } else if (!context.previousSet) {
    return notCompared('no-previous-set');
  } else {
    return notCompared(context.previousReadable ? 'not-in-previous-set' : 'previous-unreadable');
  }
  return { ...base, ...(previous ? { previous } : {}), ...changes.result() };
}

/** Staged trees older than this were left by a killed run (a run never takes this long). */
const STALE_STAGED_MS = 48 * 60 * 60 * 1000;

async function stagingDirectory(stateDir: string | undefined): Promise<{ dir: string; temporary: boolean }> {
  if (stateDir) {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    // A killed run leaves its staged trees (and origin notes); remove old ones (a running backup's are recent).
    for (const name of await readdir(stateDir).catch(() => [] as string[])) {
      if (!/^\.?tree-.*\.(ndjson|origin\.json)\.[0-9a-f]{8}\.tmp$/.test(name)) continue;
      const info = await stat(join(stateDir, name)).catch(() => null);
      if (info && Date.now() - info.mtimeMs > STALE_STAGED_MS) await unlink(join(stateDir, name)).catch(() => undefined);
    }
    return { dir: stateDir, temporary: false };
  }
  return { dir: await mkdtemp(join(tmpdir(), 'civibackup-tree-')), temporary: true };
}

export async function backupTrees(options: TreeBackupOptions): Promise<TreeBackupResult> {
  const { writer, reporter, directories } = options;
  validateDirectorySpecs(directories);
  const patternProblems = validateExcludePatterns(options.exclude ?? []);
  if (patternProblems.length > 0) throw new BackupError('USAGE', `Bad --exclude pattern: ${patternProblems.join('; ')}`);

  const staging = await stagingDirectory(options.stateDir);
  const token = randomBytes(4).toString('hex');
  const stagedFiles = new Map<string, string>();
  const finals = new Map<string, string>();
  /** Origin notes to write beside the caches of the labels whose changes are reported. */
  const origins = new Map<string, CacheOrigin>();
  const staged: StagedTrees = {
    files: stagedFiles,
    async commit() {
      if (staging.temporary) return this.discard();
      for (const [label, path] of stagedFiles) {
        const origin = origins.get(label);
        // Its SHA-256 ties the note to this cache: a kill between the two leaves a note that names no set.
        if (origin && options.stateDir) await writeFileAtomic(treeOriginPath(options.stateDir, options.repositoryId, label), `${JSON.stringify(origin)}\n`, 0o600);
        await rename(path, finals.get(label)!);
      }
      await fsyncDirectory(staging.dir);
      stagedFiles.clear();
    },
    async discard() {
      for (const path of stagedFiles.values()) await unlink(path).catch(() => undefined);
      stagedFiles.clear();
      if (staging.temporary) await rm(staging.dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };

  const result: TreeBackupResult = { files: [], warnings: [], staged, unchangedFiles: 0, readBytes: 0, changes: [] };
  const changesFor = new Set(options.changesFor ?? []);
  if (directories.length === 0) {
    await staged.discard();
    return result;
  }
  try {
    reporter.emit({ type: 'phase', phase: 'files', totalItems: directories.length });
    const skipDirectories = await destinationSkip(options.destination);
    const limiter = new Limiter(options.readConcurrency ?? READ_CONCURRENCY);
    let phaseBytes = 0;

    for (const [index, spec] of directories.entries()) {
      options.signal?.throwIfAborted();
      const real = await resolveBackupDirectory(spec, skipDirectories, reporter, result.warnings);
      if (real === null) continue;

      const exclusions = Exclusions.for({ patterns: options.exclude, includeLogs: options.includeLogs, excludeUploadDir: options.excludeUploadDir, label: spec.label });
      const excluded = new CappedList<ExclusionRecord>();
      const warnings = new CappedList<string>();
      const outsideLinks = new CappedList<{ path: string; target: string }>();
      const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
      let currentPath = '';
      let streamed = 0;
      const progress = (force = false): void =>
        reporter.progress(
          { type: 'progress', phase: 'files', item: spec.label, files: counts.files, bytes: phaseBytes + streamed, path: currentPath, itemsDone: index, itemsTotal: directories.length },
          force,
        );
      const warn: Warn = (code, relPath, message) => {
        warnings.add(message);
        reporter.emit({ type: 'warning', code, message: `${spec.label}: ${message}`, item: spec.label, path: relPath });
      };

      const cachePath = options.stateDir ? treeCachePath(options.stateDir, options.repositoryId, spec.label) : undefined;
      const cached = cachePath ? await stat(cachePath).then(() => true, () => false) : false;
      const tracked = changesFor.has(spec.label);
      const changes = tracked ? new TreeChangeCollector() : undefined;
      // The cache's lines are hashed as they are read, to check its origin note at the end.
      const cacheHash = tracked && cached ? createHash('sha256') : undefined;
      const previousSource = cached && cachePath ? readTreeFile(cachePath, cacheHash && ((line) => cacheHash.update(`${line}\n`))) : options.previous?.(spec.label);
      const previous = new PreviousTree(
        previousSource,
        (message) => reporter.emit({ type: 'warning', code: 'TREE_CACHE', message: `${spec.label}: ${message}`, item: spec.label }),
        changes && ((entry) => changes.removed(entry)),
      );
      const newTreeHash = tracked ? createHash('sha256') : undefined;
      const stagedPath = join(staging.dir, `tree-${options.repositoryId}-${spec.label}.ndjson.${token}.tmp`);
      finals.set(spec.label, cachePath ?? stagedPath);
      const cacheWriter = await TreeFileWriter.create(stagedPath);
      stagedFiles.set(spec.label, stagedPath);
      const cutter = new TreeBlobCutter(writer);

      /** Entries in walk order, each with its previous entry; a file being read holds its place until it is stored. */
      const queue: Array<{ entry: Promise<TreeEntry | null>; before: TreeEntry | undefined }> = [];
      const emit = async (queued: { entry: Promise<TreeEntry | null>; before: TreeEntry | undefined }): Promise<void> => {
        const entry = await queued.entry;
        changes?.compare(queued.before, entry ?? undefined);
        if (entry === null) return;
        currentPath = entry.p;
        if (entry.t === 'f') {
          counts.files += 1;
          counts.bytes += entry.s ?? 0;
        } else if (entry.t === 'd') counts.directories += 1;
        else {
          counts.symlinks += 1;
          if (linkEscapes(entry.p, entry.l ?? '')) outsideLinks.add({ path: entry.p, target: entry.l ?? '' });
        }
        const line = treeLine(entry);
        newTreeHash?.update(line);
        await cutter.add(line);
        await cacheWriter.add(line);
        progress();
      };

      try {
        const walk = walkTree(
          real,
          { exclusions, skipDirectories, signal: options.signal },
          { onExcluded: (path, reason) => excluded.add({ path, reason }), onWarning: (code, path, message) => warn(code, path, message) },
        );
        for await (const walked of walk) {
          let item: Promise<TreeEntry | null>;
          // Every path is looked up, so the previous entries the walk passes are the removed ones.
          const before = await previous.find(walked.relPath);
          switch (walked.kind) {
            case 'directory':
              item = Promise.resolve(baseEntry(walked, 'd'));
              break;
            case 'symlink': {
              let target: string;
              try {
                target = readlinkSync(walked.absPath);
              } catch (error) {
                warnUnreadable(warn, walked.relPath, error);
                changes?.compare(before, undefined);
                continue;
              }
              item = Promise.resolve({ ...baseEntry(walked, 'l'), l: target });
              break;
            }
            case 'special':
              warn('SPECIAL_SKIPPED', walked.relPath, `${walked.relPath} is a ${specialKind(walked.stats)}, not backed up`);
              changes?.compare(before, undefined);
              continue;
            case 'file': {
              const identity = { ...baseEntry(walked, 'f'), i: Number(walked.stats.ino), c: msOf(walked.stats.ctimeNs) };
              if (unchanged(before, walked, writer)) {
                result.unchangedFiles += 1;
                item = Promise.resolve({ ...identity, s: before.s, b: before.b, ...(before.h !== undefined ? { h: before.h } : {}) });
              } else {
                item = limiter.run(async () => {
                  const stored = await storeFile(walked, writer, warn, (n) => {
                    streamed += n;
                    result.readBytes += n;
                  });
                  return stored === null ? null : { ...identity, s: stored.s, b: stored.b, h: stored.h };
                });
              }
              break;
            }
          }
          item.catch(() => undefined); // awaited in order by emit(); a failure is thrown from there
          queue.push({ entry: item, before });
          while (queue.length >= MAX_QUEUED_ENTRIES) await emit(queue.shift()!);
        }
        while (queue.length > 0) await emit(queue.shift()!);
        if (changes) await previous.drain();
      } catch (error) {
        await Promise.allSettled(queue.map((q) => q.entry));
        await cacheWriter.abandon();
        throw error;
      } finally {
        await previous.close();
      }
      const tree = await cutter.finish();
      await cacheWriter.close(!staging.temporary);
      if (changes && newTreeHash) {
        if (options.set) origins.set(spec.label, { ...options.set, sha256: newTreeHash.digest('hex') });
        result.changes.push(
          await changesRecord(spec.label, changes, previous.failed, {
            cacheHash: cacheHash?.digest('hex'),
            cacheOrigin: cached && options.stateDir ? () => readCacheOrigin(treeOriginPath(options.stateDir!, options.repositoryId, spec.label)) : undefined,
            fromCatalog: !cached && previousSource !== undefined,
            previousReadable: options.previous !== undefined,
            set: options.set,
            previousSet: options.previousSet,
          }),
        );
      }
      phaseBytes += streamed;
      streamed = 0;
      progress(true);
      result.files.push({
        label: spec.label,
        source: spec.path,
        tree,
        files: counts.files,
        directories: counts.directories,
        symlinks: counts.symlinks,
        bytes: counts.bytes,
        excluded: excluded.items,
        warnings: warnings.items,
        ...(excluded.omitted > 0 ? { excludedOmitted: excluded.omitted } : {}),
        ...(warnings.omitted > 0 ? { warningsOmitted: warnings.omitted } : {}),
        ...(outsideLinks.items.length > 0 ? { outsideLinks: outsideLinks.items } : {}),
        ...(outsideLinks.omitted > 0 ? { outsideLinksOmitted: outsideLinks.omitted } : {}),
      });
    }
  } catch (error) {
    await staged.discard();
    throw error;
  }
  return result;
}
