/**
 * The BlobWriter of one backup run: blobs are compressed (zlib's thread pool), then handed to
 * the pack writer's worker thread (pack-append-worker.ts), which seals them (when the
 * repository is encrypted), hashes and appends them to a temp pack under tmp/. Once the pack
 * holds >= 16 MiB (or 8,192 blobs, or the run ends) the worker fsyncs it and names its hash;
 * here it is renamed to data/<2hex>/<sha256 of its bytes>, the directory is fsynced, and only
 * then is its index file written atomically: an index never names a pack that is not
 * durable, and a pack without an index is garbage that prune removes.
 *
 * The main thread keeps every decision (ids, dedup, offsets, which pack): a blob's stored
 * length is known before it is sealed (age adds a nonce and a tag per 64 KiB), so offsets are
 * assigned here and the worker's replies only fill in each blob's stored SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Compression } from '../../protocol/manifest.js';
import { BackupError, toBackupError } from '../core/errors.js';
import { sealedPayloadSize } from '../crypto/age-payload.js';
import { fsyncDirectory, writeFileAtomic } from '../set/durable.js';
import { encodeBlob } from './blob-codec.js';
import type { BlobIndexTable } from './index-table.js';
import { indexPath, packPath, TEMP_DIR, type IndexEntry, type PackIndex } from './layout.js';
import { PackAppender } from './pack-appender.js';
import type { BlobWriteOptions, BlobWriter } from './repository.js';

/** A pack is closed once it holds at least this many bytes... */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/**
 * ...or this many blobs: the open pack's index entries are held in memory until it closes
 * (~300 bytes each, and its index file as one string then), and 16 MiB of small files
 * compressed to a few hundred bytes each would be ~80,000 of them.
 */
export const PACK_MAX_BLOBS = 8192;
/** Blobs go to the worker in batches of about this size (small files: one message for many). */
const BATCH_BYTES = 1024 * 1024;
/** Full packs being made durable at once while the next one fills. */
const MAX_CLOSING = 2;
/** Bytes handed to the worker and not yet written: beyond this, appends wait (bounded memory). */
const IN_FLIGHT_BYTES = 8 * 1024 * 1024;

/** The age header and file key of ONE pack (encrypted repositories). */
export interface PackSealer {
  /** Written once at the start of the pack (the shared age header). */
  readonly header: Buffer;
  /** What the worker seals each blob's payload under (with a fresh nonce per blob). */
  readonly fileKey: Buffer;
}

export interface PackWriterOptions {
  root: string;
  table: BlobIndexTable;
  idOf: (content: Buffer) => string;
  /** The id from the content's SHA-256, when the repository's ids allow it. */
  idOfDigest?: (contentSha256: Buffer) => string;
  compression: Compression;
  level: number;
  /** One sealer per pack; absent for an unencrypted repository. */
  newSealer?: () => Promise<PackSealer>;
  packTargetBytes?: number;
}

interface OpenPack {
  /** The worker's handle of this temp pack. */
  handle: number;
  tempPath: string;
  /** Bytes the pack will hold once the worker has written everything handed to it. */
  bytes: number;
  header: number;
  sealed: boolean;
  entries: IndexEntry[];
  ids: Set<string>;
  /** Blobs not yet handed to the worker, and the index of the first one's entry. */
  batch: Array<{ bytes: Buffer; movable: boolean }>;
  batchBytes: number;
  batchFirstEntry: number;
  flushScheduled: boolean;
  /** The worker's answers to this pack's appends (a failure is also recorded in `failed`). */
  appends: Array<Promise<void>>;
}

export class PackWriter implements BlobWriter {
  readonly stats = { newBlobs: 0, addedBytes: 0 };
  private current: OpenPack | null = null;
  private readonly written: string[] = [];
  /** Blobs being compressed: a second put of the same content waits for the first. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Appends and pack switches run one at a time, in call order. */
  private queue: Promise<void> = Promise.resolve();
  private failed: unknown = null;
  private closed = false;
  private readonly target: number;
  /** Started with the first new blob: an unchanged re-run never starts a thread. */
  private appender: PackAppender | null = null;
  /** Handed to the worker, not yet written: [bytes, written]. */
  private readonly inFlight: Array<{ bytes: number; done: Promise<void> }> = [];
  private inFlightBytes = 0;
  private nextHandle = 0;
  /**
   * Full packs being made durable (fsync, rename, index file) while the next pack fills: their
   * blobs count as stored for dedup until the index table has them.
   */
  private readonly closing = new Map<OpenPack, Promise<void>>();

  constructor(private readonly options: PackWriterOptions) {
    this.target = options.packTargetBytes ?? PACK_TARGET_BYTES;
  }

  idOf(content: Buffer): string {
    return this.options.idOf(content);
  }

  has(id: string): boolean {
    return this.options.table.has(id) || this.pending.has(id) || this.inUnindexedPack(id);
  }

  /** In the open pack or in one being closed. */
  private inUnindexedPack(id: string): boolean {
    if (this.current?.ids.has(id)) return true;
    for (const pack of this.closing.keys()) if (pack.ids.has(id)) return true;
    return false;
  }

  async put(content: Buffer, options: BlobWriteOptions = {}): Promise<string> {
    if (this.closed) throw new Error('BlobWriter.put after finish() or abort()');
    if (this.failed) throw toBackupError(this.failed);
    const id = options.contentSha256 && this.options.idOfDigest ? this.options.idOfDigest(options.contentSha256) : this.idOf(content);
    const pending = this.pending.get(id);
    if (pending) {
      await pending;
      return id;
    }
    if (this.has(id)) return id;
    const storing = this.store(id, content, options);
    this.pending.set(id, storing);
    try {
      await storing;
    } catch (error) {
      throw toBackupError(error); // ENOSPC -> DISK_FULL, EACCES -> IO, ...
    } finally {
      this.pending.delete(id);
    }
    return id;
  }

  private async store(id: string, content: Buffer, options: BlobWriteOptions): Promise<void> {
    const encoded = await encodeBlob(content, this.options.compression, this.options.level, options.compressible);
    // Compressed bytes are ours; the content itself only when the caller handed it over.
    const movable = encoded.bytes !== content || options.handOver === true;
    const rawLength = content.length;
    await this.serially(() => this.append(id, encoded.encoding, encoded.bytes, rawLength, movable));
  }

  private serially(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => {
      if (this.failed) throw this.failed;
      return step();
    });
    this.queue = run.catch((error: unknown) => {
      this.failed ??= error;
    });
    return run;
  }

  private async openPack(): Promise<OpenPack> {
    const dir = join(this.options.root, TEMP_DIR);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tempPath = join(dir, `${randomBytes(8).toString('hex')}.pack`);
    const sealer = this.options.newSealer ? await this.options.newSealer() : undefined;
    const header = sealer?.header ?? Buffer.alloc(0);
    this.appender ??= new PackAppender();
    const handle = ++this.nextHandle;
    await this.appender.request({ op: 'open', pack: handle, path: tempPath, header, fileKey: sealer?.fileKey ?? null });
    const pack: OpenPack = {
      handle,
      tempPath,
      bytes: header.length,
      header: header.length,
      sealed: sealer !== undefined,
      entries: [],
      ids: new Set(),
      batch: [],
      batchBytes: 0,
      batchFirstEntry: 0,
      flushScheduled: false,
      appends: [],
    };
    this.current = pack;
    return pack;
  }

  private async append(id: string, encoding: IndexEntry[3], encoded: Buffer, rawLength: number, movable: boolean): Promise<void> {
    if (this.options.table.has(id) || this.inUnindexedPack(id)) return; // stored meanwhile by another put
    const pack = this.current ?? (await this.openPack());
    const storedLength = pack.sealed ? sealedPayloadSize(encoded.length) : encoded.length;
    // The stored SHA-256 is filled in from the worker's answer before the pack closes.
    pack.entries.push([id, pack.bytes, storedLength, encoding, rawLength, '']);
    pack.ids.add(id);
    pack.bytes += storedLength;
    this.stats.newBlobs += 1;
    this.stats.addedBytes += storedLength;
    if (pack.batch.length === 0) pack.batchFirstEntry = pack.entries.length - 1;
    pack.batch.push({ bytes: encoded, movable });
    pack.batchBytes += encoded.length;
    if (pack.batchBytes >= BATCH_BYTES) this.flush(pack);
    else if (!pack.flushScheduled) {
      // Small blobs go in one message once this turn of the event loop has queued its puts.
      pack.flushScheduled = true;
      setImmediate(() => {
        pack.flushScheduled = false;
        if (this.current === pack) this.flush(pack);
      });
    }
    if (pack.bytes >= this.target || pack.entries.length >= PACK_MAX_BLOBS) await this.startClosing(pack);
    else await this.waitForRoom();
  }

  /** Hands the pack's waiting blobs to the worker (in order, so offsets match). */
  private flush(pack: OpenPack): void {
    if (pack.batch.length === 0 || !this.appender) return;
    const batch = pack.batch;
    const first = pack.batchFirstEntry;
    const bytes = pack.batchBytes;
    pack.batch = [];
    pack.batchBytes = 0;
    // A buffer that is ours and owns its whole memory moves to the worker; any other is copied
    // by postMessage (a slice of Node's shared pool, or content the caller keeps).
    const transfer: ArrayBuffer[] = [];
    for (const { bytes: blob, movable } of batch) {
      const memory = blob.buffer;
      if (movable && memory instanceof ArrayBuffer && blob.byteOffset === 0 && blob.byteLength === memory.byteLength && !transfer.includes(memory)) transfer.push(memory);
    }
    const blobs = batch.map((item) => item.bytes);
    const done = this.appender.request({ op: 'append', pack: pack.handle, blobs }, transfer).then(
      (reply) => {
        const hashes = reply.storedSha256 ?? [];
        if (hashes.length !== blobs.length) throw new Error(`the pack worker answered ${hashes.length} hashes for ${blobs.length} blobs`);
        hashes.forEach((hash, i) => {
          pack.entries[first + i]![5] = hash;
        });
      },
      (error: unknown) => {
        this.failed ??= error;
        throw error;
      },
    );
    done.catch(() => undefined); // awaited by closePack / waitForRoom; recorded in `failed`
    pack.appends.push(done);
    this.inFlight.push({ bytes, done });
    this.inFlightBytes += bytes;
    const settled = (): void => {
      this.inFlightBytes -= bytes;
      const at = this.inFlight.findIndex((item) => item.done === done);
      if (at >= 0) this.inFlight.splice(at, 1);
    };
    done.then(settled, settled);
  }

  /** Waits while more than IN_FLIGHT_BYTES are with the worker; throws its failure. */
  private async waitForRoom(): Promise<void> {
    while (this.inFlightBytes > IN_FLIGHT_BYTES && this.inFlight.length > 0) await this.inFlight[0]!.done;
    if (this.failed) throw this.failed;
  }

  /**
   * The next put opens a new pack at once; this one is made durable meanwhile. At most
   * MAX_CLOSING packs close at a time (their entries are in memory until then).
   */
  private async startClosing(pack: OpenPack): Promise<void> {
    this.flush(pack);
    this.current = null;
    const closing = this.closePack(pack).finally(() => this.closing.delete(pack));
    closing.catch((error: unknown) => {
      this.failed ??= error;
    });
    this.closing.set(pack, closing);
    while (this.closing.size > MAX_CLOSING) await Promise.race(this.closing.values()).catch(() => undefined);
    if (this.failed) throw this.failed;
  }

  private async closePack(pack: OpenPack): Promise<void> {
    const closed = await this.appender!.request({ op: 'close', pack: pack.handle });
    await Promise.all(pack.appends);
    if (closed.bytes !== pack.bytes || !closed.name) {
      throw new BackupError('INTERNAL', `The pack writer wrote ${closed.bytes} bytes where ${pack.bytes} were expected; the run stops so that no index names wrong offsets.`);
    }
    const name = closed.name;
    const finalPath = packPath(this.options.root, name);
    await mkdir(dirname(finalPath), { recursive: true, mode: 0o700 });
    await rename(pack.tempPath, finalPath);
    await fsyncDirectory(dirname(finalPath));
    const index: PackIndex = { pack: name, header: pack.header, blobs: pack.entries };
    const indexFile = indexPath(this.options.root, name);
    await mkdir(dirname(indexFile), { recursive: true, mode: 0o700 });
    await writeFileAtomic(indexFile, `${JSON.stringify(index)}\n`, 0o600);
    const slot = this.options.table.addPack(name, { bytes: pack.bytes, header: pack.header });
    for (const [id, offset, length, encoding, rawLength] of pack.entries) this.options.table.add(id, slot, offset, length, rawLength, encoding);
    this.written.push(name);
  }

  async finish(): Promise<string[]> {
    try {
      await Promise.all([...this.pending.values()]);
      await this.serially(async () => {
        if (this.current) await this.startClosing(this.current);
      });
      await Promise.all(this.closing.values());
      if (this.failed) throw this.failed;
    } catch (error) {
      throw toBackupError(error); // the worker stays for abort(), which deletes the temp pack
    }
    this.closed = true;
    await this.appender?.terminate();
    return [...this.written];
  }

  async abort(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending.values()]);
    await this.queue;
    await Promise.allSettled(this.closing.values());
    const pack = this.current;
    this.current = null;
    if (pack && this.appender) await this.appender.request({ op: 'discard', pack: pack.handle }).catch(() => undefined);
    await this.appender?.terminate();
  }
}
