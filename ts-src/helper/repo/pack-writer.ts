/**
 * The BlobWriter of one backup run: blobs are compressed (and sealed, when the repository is
 * encrypted), appended to a temp pack under tmp/, and once the pack holds >= 16 MiB (or the
 * run ends) it is fsynced, renamed to data/<2hex>/<sha256 of its bytes>, the directory is
 * fsynced, and only then is its index file written atomically: an index never names a pack
 * that is not durable, and a pack without an index is garbage that prune removes.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Compression } from '../../protocol/manifest.js';
import { toBackupError } from '../core/errors.js';
import { fsyncDirectory, writeFileAtomic } from '../set/durable.js';
import { encodeBlob } from './blob-codec.js';
import type { BlobIndexTable } from './index-table.js';
import { indexPath, packPath, TEMP_DIR, type IndexEntry, type PackIndex } from './layout.js';
import type { BlobWriteOptions, BlobWriter } from './repository.js';

/** A pack is closed once it holds at least this many bytes... */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;
/**
 * ...or this many blobs: the open pack's index entries are held in memory until it closes
 * (~300 bytes each, and its index file as one string then), and 16 MiB of small files
 * compressed to a few hundred bytes each would be ~80,000 of them.
 */
export const PACK_MAX_BLOBS = 8192;

/** Seals the stored bytes of the blobs of ONE pack (encrypted repositories). */
export interface PackSealer {
  /** Written once at the start of the pack (the shared age header). */
  readonly header: Buffer;
  seal(bytes: Buffer): Buffer;
}

export interface PackWriterOptions {
  root: string;
  table: BlobIndexTable;
  idOf: (content: Buffer) => string;
  compression: Compression;
  level: number;
  /** One sealer per pack; absent for an unencrypted repository. */
  newSealer?: () => Promise<PackSealer>;
  packTargetBytes?: number;
}

interface OpenPack {
  handle: FileHandle;
  tempPath: string;
  hash: Hash;
  bytes: number;
  header: number;
  sealer?: PackSealer;
  entries: IndexEntry[];
  ids: Set<string>;
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

  constructor(private readonly options: PackWriterOptions) {
    this.target = options.packTargetBytes ?? PACK_TARGET_BYTES;
  }

  idOf(content: Buffer): string {
    return this.options.idOf(content);
  }

  has(id: string): boolean {
    return this.options.table.has(id) || this.pending.has(id) || (this.current?.ids.has(id) ?? false);
  }

  async put(content: Buffer, options: BlobWriteOptions = {}): Promise<string> {
    if (this.closed) throw new Error('BlobWriter.put after finish() or abort()');
    if (this.failed) throw toBackupError(this.failed);
    const id = this.idOf(content);
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
    await this.serially(() => this.append(id, encoded.encoding, encoded.bytes, content.length));
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
    const handle = await open(tempPath, 'wx', 0o600);
    const pack: OpenPack = { handle, tempPath, hash: createHash('sha256'), bytes: 0, header: 0, entries: [], ids: new Set() };
    this.current = pack;
    if (this.options.newSealer) {
      pack.sealer = await this.options.newSealer();
      await this.write(pack, pack.sealer.header);
      pack.header = pack.sealer.header.length;
    }
    return pack;
  }

  private async write(pack: OpenPack, bytes: Buffer): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await pack.handle.write(bytes, done, bytes.length - done, pack.bytes + done);
      done += bytesWritten;
    }
    pack.hash.update(bytes);
    pack.bytes += bytes.length;
  }

  private async append(id: string, encoding: IndexEntry[3], encoded: Buffer, rawLength: number): Promise<void> {
    if (this.options.table.has(id)) return; // stored meanwhile by a finished pack of ours
    const pack = this.current ?? (await this.openPack());
    if (pack.ids.has(id)) return;
    const stored = pack.sealer ? pack.sealer.seal(encoded) : encoded;
    const offset = pack.bytes;
    await this.write(pack, stored);
    pack.entries.push([id, offset, stored.length, encoding, rawLength, createHash('sha256').update(stored).digest('hex')]);
    pack.ids.add(id);
    this.stats.newBlobs += 1;
    this.stats.addedBytes += stored.length;
    if (pack.bytes >= this.target || pack.entries.length >= PACK_MAX_BLOBS) await this.closePack(pack);
  }

  private async closePack(pack: OpenPack): Promise<void> {
    await pack.handle.sync();
    await pack.handle.close();
    const name = pack.hash.digest('hex');
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
    this.current = null;
  }

  async finish(): Promise<string[]> {
    try {
      await Promise.all([...this.pending.values()]);
      await this.serially(async () => {
        if (this.current) await this.closePack(this.current);
      });
    } catch (error) {
      throw toBackupError(error);
    }
    this.closed = true;
    return [...this.written];
  }

  async abort(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending.values()]);
    await this.queue;
    const pack = this.current;
    this.current = null;
    if (pack) {
      await pack.handle.close().catch(() => undefined);
      await unlink(pack.tempPath).catch(() => undefined);
    }
  }
}
