/**
 * Reads blobs back: look the id up in the index, read its bytes from the pack (one positioned
 * read; a blob is ~1 MiB at most), open them (encrypted repositories), decompress, and check
 * them. Any damage is SET_DAMAGED naming the pack, so a person knows which file is bad.
 *
 * Checks: unencrypted, the SHA-256 of the content must be the id; encrypted, the AEAD tags
 * authenticate the bytes under the pack's key. Both: the content length must be rawLength.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { BackupError } from '../core/errors.js';
import { decodeBlob } from './blob-codec.js';
import type { BlobIndexTable, BlobLocation } from './index-table.js';
import { packPath } from './layout.js';
import type { BlobReader } from './repository.js';

/** Opens the sealed blobs of one pack (encrypted repositories). */
export interface PackOpener {
  open(sealed: Buffer): Buffer;
}

export interface PackReaderOptions {
  root: string;
  table: BlobIndexTable;
  /** Absent for an unencrypted repository. `header` is the pack's age header. */
  openerFor?: (pack: string, header: Buffer) => Promise<PackOpener>;
  /**
   * Encrypted repositories: whether `content` is what `id` names (HMAC under the id keys),
   * resolved once; undefined when the id keys are not available to this reader.
   */
  idCheck?: () => Promise<((content: Buffer, id: string) => boolean) | undefined>;
}

/** Openers of recently read packs: each costs a key unwrap (an scrypt run for passphrases). */
const OPENER_CACHE = 64;

async function readExactly(path: string, offset: number, length: number): Promise<Buffer | 'missing' | 'short'> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) return 'short';
      done += bytesRead;
    }
    return buffer;
  } finally {
    await handle.close();
  }
}

export class PackBlobReader implements BlobReader {
  private readonly openers = new Map<string, Promise<PackOpener>>();
  private idCheck: Promise<((content: Buffer, id: string) => boolean) | undefined> | undefined;

  constructor(private readonly options: PackReaderOptions) {}

  packOf(id: string): string | undefined {
    return this.options.table.lookup(id)?.pack;
  }

  storedLength(id: string): number | undefined {
    return this.options.table.lookup(id)?.length;
  }

  rawLength(id: string): number | undefined {
    return this.options.table.lookup(id)?.rawLength;
  }

  async get(id: string): Promise<Buffer> {
    const location = this.options.table.lookup(id);
    if (!location) {
      throw new BackupError('SET_DAMAGED', `Blob ${id} is not in the repository index at ${this.options.root} (its pack was deleted, or the set was never finished).`);
    }
    const path = packPath(this.options.root, location.pack);
    const damaged = (why: string, cause?: unknown): BackupError =>
      new BackupError('SET_DAMAGED', `Pack ${location.pack} (${path}) is damaged: blob ${id} ${why}.`, cause === undefined ? undefined : { cause });
    const stored = await readExactly(path, location.offset, location.length);
    if (stored === 'missing') throw new BackupError('SET_DAMAGED', `Pack ${location.pack} is missing (${path}), so blob ${id} cannot be read.`);
    if (stored === 'short') throw damaged(`ends early (the pack is truncated)`);
    let encoded = stored;
    if (this.options.openerFor) {
      const opener = await this.opener(location, path);
      try {
        encoded = opener.open(stored);
      } catch (error) {
        if (error instanceof BackupError) throw error;
        throw damaged(`does not decrypt (${(error as Error).message})`, error);
      }
    }
    let content: Buffer;
    try {
      content = await decodeBlob(encoded, location.encoding);
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw damaged(`does not decompress (${(error as Error).message})`, error);
    }
    if (content.length !== location.rawLength) throw damaged(`has ${content.length} bytes of content, the index says ${location.rawLength}`);
    if (!this.options.openerFor) {
      if (createHash('sha256').update(content).digest('hex') !== id) throw damaged('does not match its id (altered bytes)');
    } else {
      this.idCheck ??= this.options.idCheck?.() ?? Promise.resolve(undefined);
      const check = await this.idCheck;
      if (check && !check(content, id)) throw damaged('is not the content its id names (the index file was altered to point at another blob)');
    }
    return content;
  }

  private opener(location: BlobLocation, path: string): Promise<PackOpener> {
    let opener = this.openers.get(location.pack);
    if (!opener) {
      const make = this.options.openerFor as NonNullable<PackReaderOptions['openerFor']>;
      opener = (async () => {
        const header = await readExactly(path, 0, location.header);
        if (header === 'missing') throw new BackupError('SET_DAMAGED', `Pack ${location.pack} is missing (${path}).`);
        if (header === 'short') throw new BackupError('SET_DAMAGED', `Pack ${location.pack} (${path}) is shorter than its age header: truncated.`);
        return make(location.pack, header);
      })();
      opener.catch(() => this.openers.delete(location.pack));
      if (this.openers.size >= OPENER_CACHE) this.openers.delete(this.openers.keys().next().value as string);
      this.openers.set(location.pack, opener);
    }
    return opener;
  }
}
