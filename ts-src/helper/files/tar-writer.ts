/**
 * Turns walked entries into the bytes of a pax tar archive, as an async generator that the
 * part writer pulls from: nothing is read before the compressor asks for more, so memory is
 * bounded by one read buffer and one batch whatever the file sizes.
 *
 * A file that changes while it is read cannot change its header any more (it is already
 * written), so exactly the announced size is written: a shrunk file is padded with zeros, a
 * grown one cut at the announced size, and a warning names it. The archive stays valid.
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryHeader } from './tar-format.js';
import type { WalkEntry } from './walker.js';

/** Small entries are gathered into batches of this size before they go downstream. */
const BATCH_BYTES = 256 * 1024;
/** Large files are read in chunks of this size. */
const READ_CHUNK = 1024 * 1024;
/**
 * Small files (by the walk's lstat) are read ahead, this many at a time, so their open, stat,
 * read and close calls overlap instead of queueing one after another: with many small files
 * the per-file round trips, not the bytes, bound the speed. Memory: at most PREFETCH_DEPTH
 * buffers of at most PREFETCH_MAX_BYTES.
 */
const PREFETCH_DEPTH = 16;
const PREFETCH_SMALL_BYTES = 64 * 1024;
const PREFETCH_MAX_BYTES = 256 * 1024;
/**
 * O_NOFOLLOW: if a file was swapped for a symlink since the walk saw it, do not follow it out
 * of the tree. O_NONBLOCK: if it was swapped for a fifo, do not hang on open.
 */
const OPEN_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

export type TarWarningCode = 'FILE_CHANGED' | 'FILE_VANISHED' | 'FILE_UNREADABLE' | 'SPECIAL_SKIPPED';

export interface TarWriterHooks {
  onWarning(code: TarWarningCode, relPath: string, message: string): void;
  /** After an entry is fully written. `contentBytes` is the file content size (0 for others). */
  onEntry(entry: WalkEntry, contentBytes: number, linkTarget?: string): void;
  /** Content bytes as they are read, for progress on large files. */
  onContentBytes?(bytes: number, relPath: string): void;
}

function toSeconds(stats: BigIntStats): { seconds: bigint; nanoseconds: bigint } {
  const ns = stats.mtimeNs;
  let seconds = ns / 1_000_000_000n;
  let nanoseconds = ns % 1_000_000_000n;
  if (nanoseconds < 0n) {
    seconds -= 1n;
    nanoseconds += 1_000_000_000n;
  }
  return { seconds, nanoseconds };
}

function headerFor(entry: WalkEntry, stats: BigIntStats, type: TarEntryHeader['type'], size: number, linkTarget?: string): Buffer {
  const exact = toSeconds(stats);
  return encodeHeader(
    {
      path: entry.relPath,
      type,
      mode: Number(stats.mode & 0o7777n),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      size,
      mtime: Number(exact.seconds),
      linkTarget,
    },
    { mtimeExact: exact },
  );
}

class Batch {
  private parts: Buffer[] = [];
  private bytes = 0;
  push(buffer: Buffer): boolean {
    if (buffer.length === 0) return this.bytes >= BATCH_BYTES;
    this.parts.push(buffer);
    this.bytes += buffer.length;
    return this.bytes >= BATCH_BYTES;
  }
  get empty(): boolean {
    return this.bytes === 0;
  }
  take(): Buffer {
    const out = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return out;
  }
}

/** An entry with the I/O that could be done ahead of time already done. */
interface Prepared {
  entry: WalkEntry;
  /** Symlink target. */
  linkTarget?: string;
  /** A small file read whole: content plus tar padding, zero-filled past what was read. */
  small?: { before: BigIntStats; after: BigIntStats; data: Buffer; size: number; shrunk: boolean };
  /** The file changed type under us (no longer a regular file). */
  notAFile?: boolean;
  /** Opening or reading failed. */
  error?: unknown;
}

async function prepare(entry: WalkEntry): Promise<Prepared> {
  if (entry.kind === 'symlink') {
    try {
      return { entry, linkTarget: await readlink(entry.absPath) };
    } catch (error) {
      return { entry, error };
    }
  }
  if (entry.kind !== 'file' || entry.stats.size > BigInt(PREFETCH_SMALL_BYTES)) return { entry };
  return readSmallFile(entry);
}

/**
 * Reads a small file whole with synchronous calls. The helper is a single-purpose process and
 * these calls take microseconds, while a thread-pool round trip per call (open, stat, read,
 * stat, close) costs more than the read itself: with 100,000 small files this is most of the
 * run time. Large files stream asynchronously (fileEntry).
 */
function readSmallFile(entry: WalkEntry): Prepared {
  let fd: number;
  try {
    fd = openSync(entry.absPath, OPEN_FLAGS);
  } catch (error) {
    return { entry, error };
  }
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) return { entry, notAFile: true };
    const size = Number(before.size);
    if (size > PREFETCH_MAX_BYTES) return { entry }; // grew since the walk: stream it instead
    const data = Buffer.alloc(size + padding(size).length);
    let filled = 0;
    while (filled < size) {
      const bytesRead = readSync(fd, data, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const after = fstatSync(fd, { bigint: true });
    return { entry, small: { before, after, data, size, shrunk: filled < size } };
  } catch (error) {
    return { entry, error };
  } finally {
    closeSync(fd);
  }
}

/** Runs prepare() up to PREFETCH_DEPTH entries ahead of the consumer, keeping the walk order. */
async function* prefetched(entries: AsyncIterable<WalkEntry>): AsyncGenerator<Prepared> {
  const iterator = entries[Symbol.asyncIterator]();
  const queue: Array<Promise<Prepared>> = [];
  let exhausted = false;
  for (;;) {
    while (!exhausted && queue.length < PREFETCH_DEPTH) {
      const next = await iterator.next();
      if (next.done) exhausted = true;
      else queue.push(prepare(next.value)); // never rejects: failures are returned
    }
    const head = queue.shift();
    if (head === undefined) return;
    yield await head;
  }
}

export async function* tarStream(entries: AsyncIterable<WalkEntry>, hooks: TarWriterHooks): AsyncGenerator<Buffer> {
  const batch = new Batch();
  for await (const prepared of prefetched(entries)) {
    const { entry } = prepared;
    if (prepared.error !== undefined) {
      warnUnreadable(hooks, entry, prepared.error);
      continue;
    }
    if (prepared.notAFile) {
      hooks.onWarning('FILE_CHANGED', entry.relPath, `${entry.relPath} changed type while it was archived; it is not in the archive`);
      continue;
    }
    switch (entry.kind) {
      case 'directory':
        if (batch.push(headerFor(entry, entry.stats, 'directory', 0))) yield batch.take();
        hooks.onEntry(entry, 0);
        break;
      case 'symlink': {
        const target = prepared.linkTarget ?? '';
        if (batch.push(headerFor(entry, entry.stats, 'symlink', 0, target))) yield batch.take();
        hooks.onEntry(entry, 0, target);
        break;
      }
      case 'special':
        hooks.onWarning('SPECIAL_SKIPPED', entry.relPath, `${entry.relPath} is a ${specialKind(entry.stats)}, not archived`);
        break;
      case 'file':
        if (prepared.small) {
          const { before, after, data, size, shrunk } = prepared.small;
          batch.push(headerFor(entry, before, 'file', size));
          hooks.onContentBytes?.(size, entry.relPath);
          if (batch.push(data)) yield batch.take();
          reportChange(hooks, entry.relPath, size, shrunk, before, after);
          hooks.onEntry(entry, size);
        } else {
          yield* fileEntry(entry, batch, hooks);
        }
        break;
    }
  }
  batch.push(END_OF_ARCHIVE);
  yield batch.take();
}

function reportChange(hooks: TarWriterHooks, relPath: string, size: number, shrunk: boolean, before: BigIntStats, after: BigIntStats): void {
  if (shrunk) {
    hooks.onWarning('FILE_CHANGED', relPath, `${relPath} shrank while it was read; the archive holds its first part padded with zeros to ${size} bytes`);
  } else if (after.size > before.size) {
    hooks.onWarning('FILE_CHANGED', relPath, `${relPath} grew while it was read; the archive holds its first ${size} bytes`);
  } else if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) {
    hooks.onWarning('FILE_CHANGED', relPath, `${relPath} was modified while it was read; its archived content may be inconsistent`);
  }
}

function specialKind(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'named pipe (fifo)';
  if (stats.isSocket()) return 'socket';
  if (stats.isBlockDevice()) return 'block device';
  if (stats.isCharacterDevice()) return 'character device';
  return 'special file';
}

function warnUnreadable(hooks: TarWriterHooks, entry: WalkEntry, error: unknown): void {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') hooks.onWarning('FILE_VANISHED', entry.relPath, `${entry.relPath} vanished before it could be archived; it is not in the archive`);
  else hooks.onWarning('FILE_UNREADABLE', entry.relPath, `${entry.relPath} cannot be read, it is not in the archive: ${(error as Error).message}`);
}

async function* fileEntry(entry: WalkEntry, batch: Batch, hooks: TarWriterHooks): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(entry.absPath, OPEN_FLAGS);
  } catch (error) {
    warnUnreadable(hooks, entry, error);
    return;
  }
  try {
    const before = await handle.stat({ bigint: true });
    if (!before.isFile()) {
      hooks.onWarning('FILE_CHANGED', entry.relPath, `${entry.relPath} changed type while it was archived; it is not in the archive`);
      return;
    }
    const size = Number(before.size);
    if (batch.push(headerFor(entry, before, 'file', size))) yield batch.take();

    let position = 0;
    let shrunk = false;
    while (position < size) {
      const want = Math.min(READ_CHUNK, size - position);
      // A fresh buffer per read: downstream stages may still hold the previous one.
      const buffer = Buffer.allocUnsafe(want);
      let filled = 0;
      while (filled < want) {
        const { bytesRead } = await handle.read(buffer, filled, want - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled < want) {
        buffer.fill(0, filled);
        shrunk = true;
      }
      position += want;
      hooks.onContentBytes?.(want, entry.relPath);
      if (want >= BATCH_BYTES) {
        if (!batch.empty) yield batch.take();
        yield buffer;
      } else if (batch.push(buffer)) {
        yield batch.take();
      }
      if (shrunk) {
        // Zeros for the rest of the announced size, in bounded chunks.
        while (position < size) {
          const zeros = Buffer.alloc(Math.min(READ_CHUNK, size - position));
          position += zeros.length;
          hooks.onContentBytes?.(zeros.length, entry.relPath);
          if (batch.push(zeros)) yield batch.take();
        }
      }
    }
    if (batch.push(padding(size))) yield batch.take();

    reportChange(hooks, entry.relPath, size, shrunk, before, await handle.stat({ bigint: true }));
    hooks.onEntry(entry, size);
  } finally {
    await handle.close();
  }
}
