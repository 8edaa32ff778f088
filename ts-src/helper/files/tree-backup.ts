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
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, constants as fsc, fstatSync, openSync, readSync, readlinkSync, type BigIntStats } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAscii, isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import type { DirectorySpec } from '../../protocol/job.js';
import { compareTreePaths, FILE_BLOCK_SIZE, type ExclusionRecord, type FilesRecordV2, type TreeEntry } from '../../protocol/manifest.js';
import type { TreeChanges } from '../../protocol/tree-changes.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { BlobWriter } from '../repo/repository.js';
import { fsyncDirectory, writeFileAtomic } from '../set/durable.js';
import { CappedList, destinationSkip, resolveBackupDirectory, validateDirectorySpecs } from './archive.js';
import { incompressibleByName } from './compressibility.js';
import { linkEscapes } from './entry-paths.js';
import { Exclusions, validateExcludePatterns } from './exclusions.js';
import { TreeChangeCollector } from './tree-changes.js';
import { parseTreeLine, TreeBlobCutter, treeLine } from './tree-format.js';
import { walkTree, type WalkEntry } from './walker.js';

/** Files read (and stored) at the same time. */
export const READ_CONCURRENCY = 4;
/** Walk entries waiting for earlier files to finish, so the tree stays in walk order. */
const MAX_QUEUED_ENTRIES = 512;
/**
 * Files waiting for a turn to be read: beyond this many the walk waits. Each waiting file
 * holds its walk entry and stats; with every file of a big first run queued up to
 * MAX_QUEUED_ENTRIES, those lived long enough to be promoted, and old space filled with them.
 */
const MAX_WAITING_READS = 8;
/** Files up to this size are read with synchronous calls: microseconds, against thread-pool round trips. */
const SYNC_READ_MAX = 256 * 1024;
/** Blocks of one file being stored while the next is read. */
const PUTS_IN_FLIGHT_PER_FILE = 2;
/** The state-dir copy of a tree is written in batches of this size... */
const CACHE_WRITE_BATCH = 256 * 1024;
/** ...and read back in steps of this size. */
const TREE_READ_CHUNK = 256 * 1024;
const READ_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW;
/** Progress is offered to the reporter (which sends it every 200-500 ms) at most this often. */
const PROGRESS_CHECK_MS = 100;

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
  /** The blob ids of each file as it goes into the tree (the set's accounting). */
  onFileBlobs?: (ids: readonly string[]) => void;
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

/**
 * Reads a tree NDJSON file (a state-dir cache or a staged tree) an entry at a time, with
 * synchronous reads into one reused buffer (a local file, read in 256 KiB steps, like the
 * walker's lstat). Each line is decoded and parsed only when it is asked for, so nothing of
 * the file stays on the heap past its use: with a million lines, chunks of parsed entries
 * lived long enough to be promoted, and old space filled with them between collections.
 */
export class TreeFileCursor {
  private buffer = Buffer.allocUnsafe(TREE_READ_CHUNK);
  /** Next unread byte; bytes up to `end` are in the buffer; [start, checked) holds whole lines (with their newlines), checked as UTF-8. */
  private start = 0;
  private end = 0;
  private checked = 0;
  private ascii = true;
  private position = 0;
  private eof = false;
  private fd: number | undefined;
  /** Bytes of the buffer before this are in the line hash. */
  private hashedTo = 0;

  private constructor(
    private readonly path: string,
    fd: number,
    private readonly lineHash: Hash | undefined,
  ) {
    this.fd = fd;
  }

  /** `lineHash` sees each line read, with its '\n' (what the origin note of a cache is checked by). */
  static open(path: string, lineHash?: Hash): TreeFileCursor {
    return new TreeFileCursor(path, openSync(path, fsc.O_RDONLY), lineHash);
  }

  /** The next entry, or undefined after the last; SET_DAMAGED (or a TypeError for bytes that are not UTF-8) on damage. */
  next(): TreeEntry | undefined {
    for (;;) {
      if (this.start < this.checked) {
        let newline = this.buffer.indexOf(0x0a, this.start);
        if (newline < 0 || newline >= this.checked) newline = this.checked; // the last line, without a newline
        const from = this.start;
        this.start = newline + 1;
        if (newline === from) {
          // An empty line: not a line of the tree, so not hashed either.
          this.hashLines(from);
          this.hashedTo = this.start;
          continue;
        }
        if (newline === this.end) {
          // The last line, without a newline: hashed as if it had one.
          this.hashLines(this.end);
          this.lineHash?.update(NEWLINE);
          this.hashedTo = this.start;
        }
        return parseTreeLine(this.buffer.toString(this.ascii ? 'latin1' : 'utf8', from, newline), this.path);
      }
      if (!this.fill()) return undefined;
    }
  }

  /** The lines read since the last call, up to `to`, into the line hash: one update per stretch, not per line. */
  private hashLines(to: number): void {
    if (this.lineHash && to > this.hashedTo) this.lineHash.update(this.buffer.subarray(this.hashedTo, to));
    this.hashedTo = to;
  }

  /** Reads on until the buffer holds at least one whole line (or the last line); false at the end. */
  private fill(): boolean {
    this.hashLines(Math.min(this.start, this.end));
    this.hashedTo = 0;
    if (this.start >= this.end && this.eof) return false;
    // Keep the unread bytes, at the front.
    if (this.start > 0) {
      this.buffer.copy(this.buffer, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    let lastNewline = this.buffer.subarray(0, this.end).lastIndexOf(0x0a);
    while (lastNewline < 0 && !this.eof) {
      if (this.end === this.buffer.length) {
        // A line longer than the buffer (a long symlink target): make room for it.
        const grown = Buffer.allocUnsafe(this.buffer.length * 2);
        this.buffer.copy(grown, 0, 0, this.end);
        this.buffer = grown;
      }
      const got = readSync(this.fd!, this.buffer, this.end, this.buffer.length - this.end, this.position);
      if (got === 0) this.eof = true;
      this.position += got;
      const before = this.end;
      this.end += got;
      const found = this.buffer.subarray(before, this.end).lastIndexOf(0x0a);
      if (found >= 0) lastNewline = before + found;
    }
    if (this.end === 0) return false;
    // Whole lines, each with its newline; at the end of the file, what is left is the last line.
    this.checked = lastNewline >= 0 ? lastNewline + 1 : this.end;
    const region = this.buffer.subarray(0, this.checked);
    this.ascii = isAscii(region);
    if (!this.ascii && !isUtf8(region)) throw new TypeError(`${this.path} is not valid UTF-8 text`);
    return true;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

const NEWLINE = Buffer.from('\n');

/** Streams a tree NDJSON file (a cache or a staged tree). */
export async function* readTreeFile(path: string): AsyncGenerator<TreeEntry> {
  const cursor = TreeFileCursor.open(path);
  try {
    for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) yield entry;
  } finally {
    cursor.close();
  }
}

/** Where the previous tree comes from: the state-dir cache (read synchronously) or a set's catalog (blobs, read asynchronously). */
type PreviousSource = { kind: 'file'; cursor: TreeFileCursor } | { kind: 'stream'; iterator: AsyncIterator<TreeEntry> };

/**
 * The previous tree, advanced in step with the walk: a merge of two sorted streams. find()
 * answers synchronously from the state-dir cache; it returns a promise only for a tree read
 * from a set's blobs. Entries the walk passes without meeting (no longer there, or excluded
 * now) go to `onPassed`.
 */
class PreviousTree {
  private head: TreeEntry | undefined;
  /** The head was returned by find(): the walk met it. */
  private headMet = false;
  private started = false;
  private source: PreviousSource | undefined;
  /** Reading it failed part way: what it said so far cannot be compared with. */
  failed = false;

  constructor(
    source: PreviousSource | undefined,
    private readonly onProblem: (message: string) => void,
    private readonly onPassed?: (entry: TreeEntry) => void,
  ) {
    this.source = source;
  }

  find(path: string): TreeEntry | undefined | Promise<TreeEntry | undefined> {
    const source = this.source;
    if (!source) return undefined;
    if (source.kind === 'stream') return this.findAsync(source.iterator, path);
    try {
      if (!this.started) {
        this.started = true;
        this.advance(source.cursor.next());
      }
      while (this.head && compareTreePaths(this.head.p, path) < 0) this.pass(source.cursor.next());
    } catch (error) {
      this.fail(error);
      return undefined;
    }
    return this.met(path);
  }

  private async findAsync(iterator: AsyncIterator<TreeEntry>, path: string): Promise<TreeEntry | undefined> {
    try {
      if (!this.started) {
        this.started = true;
        this.advance(await nextOf(iterator));
      }
      while (this.head && compareTreePaths(this.head.p, path) < 0) this.pass(await nextOf(iterator));
    } catch (error) {
      this.fail(error);
      return undefined;
    }
    return this.met(path);
  }

  private met(path: string): TreeEntry | undefined {
    if (this.head?.p !== path) return undefined;
    this.headMet = true;
    return this.head;
  }

  /** After the walk: everything left was not met. */
  async drain(): Promise<void> {
    const source = this.source;
    if (!source) return;
    const next = source.kind === 'file' ? () => source.cursor.next() : () => nextOf(source.iterator);
    try {
      if (!this.started) {
        this.started = true;
        this.advance(await next());
      }
      while (this.head) this.pass(await next());
    } catch (error) {
      this.fail(error);
    }
  }

  private pass(next: TreeEntry | undefined): void {
    if (!this.headMet && this.head) this.onPassed?.(this.head);
    this.advance(next);
  }

  private advance(next: TreeEntry | undefined): void {
    this.head = next;
    this.headMet = false;
  }

  /** A damaged previous tree costs only reading: carry on as if there were none. */
  private fail(error: unknown): void {
    this.onProblem(`the previous tree could not be read (${(error as Error).message}); unchanged files are read again`);
    this.failed = true;
    void this.close();
    this.head = undefined;
  }

  async close(): Promise<void> {
    const source = this.source;
    this.source = undefined;
    if (source?.kind === 'file') source.cursor.close();
    else await source?.iterator.return?.(undefined).catch(() => undefined);
  }
}

async function nextOf(iterator: AsyncIterator<TreeEntry>): Promise<TreeEntry | undefined> {
  const next = await iterator.next();
  return next.done ? undefined : next.value;
}

/** A file being read and stored: its entry (null: skipped with a warning) once done. */
class FileRead {
  done = false;
  entry: TreeEntry | null = null;
  /** `before`: the previous tree's entry at this path (for the changes). */
  constructor(readonly promise: Promise<TreeEntry | null>, readonly before: TreeEntry | undefined) {
    promise.then(
      (entry) => {
        this.done = true;
        this.entry = entry;
      },
      () => undefined, // awaited in walk order; the failure is thrown from there
    );
  }
}

/** At most `limit` tasks at once. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private roomWaiters: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
      const roomWaiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const wake of roomWaiters) wake();
    }
  }
  /**
   * Undefined while fewer than `max` tasks wait for their turn; otherwise a promise that
   * settles when a task ends (ask again then).
   */
  room(max: number): Promise<void> | undefined {
    if (this.waiting.length < max) return undefined;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }
}

/**
 * Buffered writes of the staged tree file: lines are copied into one reused buffer as they
 * come (no line string is kept until the batch is written, see TreeBlobCutter).
 */
class TreeFileWriter {
  private readonly buffer = Buffer.allocUnsafe(CACHE_WRITE_BATCH);
  private used = 0;
  private position = 0;
  private writing = false;
  private constructor(
    private readonly handle: FileHandle,
    private readonly hash: Hash | undefined,
  ) {}
  /** `hash` sees every byte written (the SHA-256 of the tree's lines, for its origin note). */
  static async create(path: string, hash?: Hash): Promise<TreeFileWriter> {
    return new TreeFileWriter(await open(path, 'wx', 0o600), hash);
  }
  /** A promise only when a batch is written (every CACHE_WRITE_BATCH bytes): the next add() must wait for it. */
  add(line: string): Promise<void> | undefined {
    if (this.writing) throw new Error('TreeFileWriter.add() while a batch is written');
    const length = Buffer.byteLength(line, 'utf8');
    if (this.used + length <= this.buffer.length) {
      this.used += this.buffer.write(line, this.used, length, 'utf8');
      return this.used === this.buffer.length ? this.flush() : undefined;
    }
    return this.flushThen(line);
  }
  /** The line does not fit: write what is buffered, then the line (into the buffer, or by itself if longer). */
  private async flushThen(line: string): Promise<void> {
    await this.flush();
    const bytes = Buffer.from(line, 'utf8');
    if (bytes.length < this.buffer.length) this.used = bytes.copy(this.buffer);
    else await this.write(bytes);
  }
  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const used = this.used;
    this.used = 0;
    await this.write(this.buffer.subarray(0, used));
  }
  private async write(bytes: Buffer): Promise<void> {
    this.hash?.update(bytes);
    this.writing = true;
    try {
      let done = 0;
      while (done < bytes.length) done += (await this.handle.write(bytes, done, bytes.length - done, this.position + done)).bytesWritten;
      this.position += bytes.length;
    } finally {
      this.writing = false;
    }
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
  let fileSha256: string | undefined;
  const puts: Array<Promise<string>> = [];
  let total = 0;
  let limit = expected;
  let shrunk = false;
  let compressible: boolean | undefined;
  let after: BigIntStats | undefined;
  /** Whether `read` bytes are the whole file now; if so, that look is also the one after the read. */
  const readToEnd = async (read: number): Promise<boolean> => {
    const now = await statNow();
    if (Number(now.size) <= read) {
      after = now;
      return true;
    }
    limit = Number(now.size); // grew while read: take what is there now
    return false;
  };
  try {
    try {
      for (;;) {
        if (total >= limit && (await readToEnd(total))) break;
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
        // Known compressed formats by name; anything else is judged by the repository's writer,
        // which samples a large blob on the thread pool and just compresses a small one (its
        // sample would be the whole blob), keeping it stored as is when that does not shrink it.
        compressible ??= incompressibleByName(relPath) ? false : undefined;
        // A file read whole in its first block (most attachments) is hashed once: that SHA-256
        // is the file's hash and what its blob id is derived from (BlobWriteOptions.contentSha256).
        let onlyBlockSha256: Buffer | undefined;
        if (total === 0 && (got < want || (got >= limit && (await readToEnd(got))))) onlyBlockSha256 = createHash('sha256').update(content).digest();
        if (onlyBlockSha256) fileSha256 = onlyBlockSha256.toString('hex');
        else hash.update(content);
        const put = writer.put(content, { compressible, handOver: true, contentSha256: onlyBlockSha256 }); // a fresh block per read, never touched again
        put.catch(() => undefined); // awaited below; a failure is thrown from there
        puts.push(put);
        if (puts.length > PUTS_IN_FLIGHT_PER_FILE) await puts[puts.length - 1 - PUTS_IN_FLIGHT_PER_FILE];
        total += got;
        onBytes(got);
        if (got < want) {
          shrunk = true;
          break;
        }
        if (after) break;
      }
      after ??= await statNow();
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
    return { b: ids, h: fileSha256 ?? hash.digest('hex'), s: total };
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

/** A regular file's entry: metadata as walked (before it was read), content as stored. */
function fileEntry(entry: WalkEntry, size: number, blobs: string[], hash: string | undefined): TreeEntry {
  const { stats } = entry;
  const file: TreeEntry = {
    p: entry.relPath,
    t: 'f',
    m: Number(stats.mode & 0o7777n),
    mt: msOf(stats.mtimeNs),
    s: size,
    b: blobs,
    u: Number(stats.uid),
    g: Number(stats.gid),
    i: Number(stats.ino),
    c: msOf(stats.ctimeNs),
  };
  if (hash !== undefined) file.h = hash;
  return file;
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
      // Called per entry: the event is built only when the reporter may send it.
      let nextProgressAt = 0;
      const progress = (force = false): void => {
        const now = Date.now();
        if (!force && now < nextProgressAt) return;
        nextProgressAt = now + PROGRESS_CHECK_MS;
        reporter.progress(
          { type: 'progress', phase: 'files', item: spec.label, files: counts.files, bytes: phaseBytes + streamed, path: currentPath, itemsDone: index, itemsTotal: directories.length },
          force,
        );
      };
      const warn: Warn = (code, relPath, message) => {
        warnings.add(message);
        reporter.emit({ type: 'warning', code, message: `${spec.label}: ${message}`, item: spec.label, path: relPath });
      };

      const cachePath = options.stateDir ? treeCachePath(options.stateDir, options.repositoryId, spec.label) : undefined;
      const cached = cachePath ? await stat(cachePath).then(() => true, () => false) : false;
      const onPreviousProblem = (message: string): void => {
        reporter.emit({ type: 'warning', code: 'TREE_CACHE', message: `${spec.label}: ${message}`, item: spec.label });
      };
      const tracked = changesFor.has(spec.label);
      const changes = tracked ? new TreeChangeCollector() : undefined;
      // The cache's lines are hashed as they are read, to check its origin note at the end.
      const cacheHash = tracked && cached ? createHash('sha256') : undefined;
      let source: PreviousSource | undefined;
      let openFailed = false;
      if (cached && cachePath) {
        try {
          source = { kind: 'file', cursor: TreeFileCursor.open(cachePath, cacheHash) };
        } catch (error) {
          openFailed = true;
          onPreviousProblem(`the previous tree could not be read (${(error as Error).message}); unchanged files are read again`);
        }
      } else {
        const fromCatalog = options.previous?.(spec.label);
        if (fromCatalog) source = { kind: 'stream', iterator: fromCatalog[Symbol.asyncIterator]() };
      }
      const previous = new PreviousTree(source, onPreviousProblem, changes && ((entry) => changes.removed(entry)));
      const newTreeHash = tracked ? createHash('sha256') : undefined;
      const stagedPath = join(staging.dir, `tree-${options.repositoryId}-${spec.label}.ndjson.${token}.tmp`);
      finals.set(spec.label, cachePath ?? stagedPath);
      const cacheWriter = await TreeFileWriter.create(stagedPath, newTreeHash);
      stagedFiles.set(spec.label, stagedPath);
      const cutter = new TreeBlobCutter(writer);

      /** Adds an entry to the tree; a promise only when a tree blob or a cache batch is written. */
      const record = (entry: TreeEntry): Promise<unknown> | undefined => {
        currentPath = entry.p;
        if (entry.t === 'f') {
          counts.files += 1;
          counts.bytes += entry.s ?? 0;
          if (entry.b && options.onFileBlobs) options.onFileBlobs(entry.b);
        } else if (entry.t === 'd') counts.directories += 1;
        else {
          counts.symlinks += 1;
          if (linkEscapes(entry.p, entry.l ?? '')) outsideLinks.add({ path: entry.p, target: entry.l ?? '' });
        }
        const line = treeLine(entry);
        const stored = cutter.add(line);
        const written = cacheWriter.add(line);
        progress();
        return stored && written ? Promise.all([stored, written]) : stored ?? written;
      };

      /**
       * Entries in walk order. An entry known at once (a directory, a link, an unchanged file)
       * goes straight to the tree when nothing waits before it; a file being read holds its
       * place here until it is stored, and what follows it waits behind it.
       */
      const queue: Array<TreeEntry | FileRead> = [];
      const take = async (): Promise<void> => {
        const head = queue[0];
        let entry: TreeEntry | null;
        if (head instanceof FileRead) {
          entry = head.done ? head.entry : await head.promise;
          // The pairs of entries known at once were compared when they were added.
          changes?.compare(head.before, entry ?? undefined);
        } else entry = head;
        queue.shift();
        if (entry === null) return;
        const pending = record(entry);
        if (pending) await pending;
      };
      /** `before`: the previous tree's entry at the same path, for the changes (a FileRead carries its own). */
      const add = async (item: TreeEntry | FileRead, before?: TreeEntry): Promise<void> => {
        if (changes && !(item instanceof FileRead)) changes.compare(before, item);
        if (queue.length === 0 && !(item instanceof FileRead)) {
          const pending = record(item);
          if (pending) await pending;
          return;
        }
        queue.push(item);
        while (queue.length >= MAX_QUEUED_ENTRIES) await take();
        // Entries behind files that are stored by now go on without a wait.
        while (queue.length > 0 && !(queue[0] instanceof FileRead && !queue[0].done)) await take();
      };

      try {
        const walk = walkTree(
          real,
          { exclusions, skipDirectories, signal: options.signal },
          { onExcluded: (path, reason) => excluded.add({ path, reason }), onWarning: (code, path, message) => warn(code, path, message) },
        );
        for await (const walked of walk) {
          // Every path is looked up, so the previous entries the walk passes are the removed ones.
          let before = previous.find(walked.relPath);
          if (before instanceof Promise) before = await before;
          switch (walked.kind) {
            case 'directory':
              await add(baseEntry(walked, 'd'), before);
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
              const link = baseEntry(walked, 'l');
              link.l = target;
              await add(link, before);
              break;
            }
            case 'special':
              warn('SPECIAL_SKIPPED', walked.relPath, `${walked.relPath} is a ${specialKind(walked.stats)}, not backed up`);
              changes?.compare(before, undefined);
              continue;
            case 'file': {
              if (unchanged(before, walked, writer)) {
                result.unchangedFiles += 1;
                await add(fileEntry(walked, before.s, before.b, before.h), before);
              } else {
                for (let room = limiter.room(MAX_WAITING_READS); room; room = limiter.room(MAX_WAITING_READS)) await room;
                await add(
                  new FileRead(
                    limiter.run(async () => {
                      const stored = await storeFile(walked, writer, warn, (n) => {
                        streamed += n;
                        result.readBytes += n;
                      });
                      return stored === null ? null : fileEntry(walked, stored.s, stored.b, stored.h);
                    }),
                    before,
                  ),
                );
              }
              break;
            }
          }
        }
        while (queue.length > 0) await take();
        if (changes) await previous.drain();
      } catch (error) {
        await Promise.allSettled(queue.map((item) => (item instanceof FileRead ? item.promise : item)));
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
          await changesRecord(spec.label, changes, previous.failed || openFailed, {
            cacheHash: cacheHash?.digest('hex'),
            cacheOrigin: cached && options.stateDir ? () => readCacheOrigin(treeOriginPath(options.stateDir!, options.repositoryId, spec.label)) : undefined,
            fromCatalog: !cached && source !== undefined,
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
