/**
 * Random access into an age file: the header is parsed and the file key unwrapped once (one
 * X25519 operation, or one scrypt), then each read decrypts and authenticates only the 64 KiB
 * chunks that cover the requested plaintext. This is what lets restore and verify take one
 * blob out of the middle of a 16 MiB pack without decrypting the pack from its start.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { BackupError, toBackupError } from '../core/errors.js';
import { AgeError, checkHeaderMac, MAX_HEADER_BYTES, PAYLOAD_NONCE_BYTES, parseHeader, type ParsedHeader } from './age-format.js';
import { CHUNK_BYTES, chunkNonce, openChunk, payloadKey, plaintextSize, SEALED_CHUNK_BYTES } from './age-payload.js';
import { unwrapFileKey } from './age-recipients.js';
import { mapDecryptError, prepareDecryptionKeys, type AgeDecryptionKeys, type DecryptionKeys } from './age-stream.js';

/** The plaintext size of an age file from its size and its header's (pure; see age-payload.ts). */
export { plaintextSize };

export interface AgeFileOptions {
  /**
   * Open the final chunk at once, so a file cut at a chunk boundary fails here rather than on
   * the first read that reaches its end (costs one more read and decryption of up to 64 KiB).
   * Without it, `plaintextBytes` is what the file's size claims until the final chunk is read.
   */
  verifyFinalChunk?: boolean;
}

export interface AgeFile {
  /** Bytes of the header, MAC line included; the 16-byte payload nonce follows it. */
  readonly headerBytes: number;
  /** Bytes of the whole age file. */
  readonly fileBytes: number;
  /** Bytes of plaintext, from the file's size (see AgeFileOptions.verifyFinalChunk). */
  readonly plaintextBytes: number;
  /**
   * `length` bytes of plaintext from `offset`; every chunk they touch is authenticated (the
   * final one as final). A range past `plaintextBytes` is SET_DAMAGED: the file is shorter
   * than its index says. A chunk that fails authentication is SET_DAMAGED for the reads that
   * touch it only.
   */
  read(offset: number, length: number): Promise<Buffer>;
  /** Drops the cached chunk; further reads fail. Never closes a FileHandle the caller passed in. */
  close(): Promise<void>;
}

/** Where the ciphertext is read from: positional reads, so concurrent reads never disturb each other. */
interface CiphertextSource {
  readAt(buffer: Buffer, position: number): Promise<number>;
}

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Runs `use` with a handle on `file`: a path is opened for it and closed after. */
async function withHandle<T>(file: string | FileHandle, use: (handle: FileHandle) => Promise<T>): Promise<T> {
  if (typeof file !== 'string') return use(file);
  const handle = await open(file, 'r');
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}

/**
 * A path is opened for each read and closed right after, so an open AgeFile holds no file
 * descriptor and thousands can be kept; a FileHandle is used as it is and stays the caller's.
 */
function sourceOf(file: string | FileHandle): CiphertextSource {
  return { readAt: (buffer, position) => withHandle(file, (handle) => readFully(handle, buffer, position)) };
}

function isParsed(keys: DecryptionKeys | AgeDecryptionKeys): keys is AgeDecryptionKeys {
  return keys.identities.some((identity) => typeof identity !== 'string');
}

/** The header and the bytes read with it: 4 KiB holds any X25519 header; more is read only when needed. */
async function readHeader(handle: FileHandle): Promise<{ header: ParsedHeader; bytes: Buffer }> {
  for (let want = 4096; ; want *= 4) {
    const bytes = Buffer.allocUnsafe(Math.min(want, MAX_HEADER_BYTES + PAYLOAD_NONCE_BYTES + 1));
    const got = await readFully(handle, bytes, 0);
    const header = parseHeader(bytes.subarray(0, got), got < bytes.length);
    if (header) return { header, bytes: bytes.subarray(0, got) };
    if (bytes.length > MAX_HEADER_BYTES) throw new AgeError('header', `the header is longer than ${MAX_HEADER_BYTES} bytes`);
  }
}

/**
 * Opens an age file for random access: reads its header, unwraps the file key and checks the
 * header MAC, once. `keys` may be prepared with prepareDecryptionKeys() when many files are
 * opened with the same keys (parsing an identity is a key import). Errors: WRONG_KEY when no
 * identity or passphrase opens it, SET_DAMAGED (naming `label`) for any damage, IO for the file.
 */
export async function openAgeFile(file: string | FileHandle, keys: DecryptionKeys | AgeDecryptionKeys, label: string, options: AgeFileOptions = {}): Promise<AgeFile> {
  const prepared = isParsed(keys) ? keys : prepareDecryptionKeys(keys as DecryptionKeys, label);
  try {
    const reader = await withHandle(file, async (handle) => {
      // Both at once: each is a trip through libuv's thread pool.
      const [stats, { header, bytes }] = await Promise.all([handle.stat(), readHeader(handle)]);
      const size = stats.size;
      const fileKey = await unwrapFileKey(header.stanzas, prepared.identities, prepared.passphrases);
      checkHeaderMac(header, fileKey);
      let nonce = bytes.subarray(header.length, header.length + PAYLOAD_NONCE_BYTES);
      if (nonce.length < PAYLOAD_NONCE_BYTES) {
        nonce = Buffer.alloc(PAYLOAD_NONCE_BYTES);
        if ((await readFully(handle, nonce, header.length)) < PAYLOAD_NONCE_BYTES) {
          throw new AgeError('header', 'the file ends before the payload nonce (truncated after the header)');
        }
      }
      return new AgeFileReader(sourceOf(file), label, header.length, size, plaintextSize(size, header.length), payloadKey(fileKey, nonce));
    });
    if (options.verifyFinalChunk) await reader.verifyFinalChunk();
    return reader;
  } catch (error) {
    throw error instanceof AgeError ? mapDecryptError(error, label) : toBackupError(error);
  }
}

class AgeFileReader implements AgeFile {
  private readonly chunks: number;
  private readonly payloadStart: number;
  /** The last chunk opened: consecutive small reads (blobs side by side) decrypt it once. */
  private cached: { index: number; plaintext: Buffer } | null = null;
  private closed = false;

  constructor(
    private readonly source: CiphertextSource,
    private readonly label: string,
    readonly headerBytes: number,
    readonly fileBytes: number,
    readonly plaintextBytes: number,
    private readonly key: KeyObject,
  ) {
    this.payloadStart = headerBytes + PAYLOAD_NONCE_BYTES;
    this.chunks = Math.ceil((fileBytes - this.payloadStart) / SEALED_CHUNK_BYTES);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new BackupError('INTERNAL', `${this.label}: read after close.`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BackupError('INTERNAL', `${this.label}: invalid read of ${length} bytes at ${offset}.`);
    }
    if (offset + length > this.plaintextBytes) {
      throw new BackupError(
        'SET_DAMAGED',
        `${this.label} is damaged or truncated: bytes ${offset}..${offset + length} were asked for, but it holds ${this.plaintextBytes} bytes.`,
      );
    }
    if (length === 0) return Buffer.alloc(0);
    const first = Math.floor(offset / CHUNK_BYTES);
    const last = Math.floor((offset + length - 1) / CHUNK_BYTES);
    const result = Buffer.allocUnsafe(length);
    const cached = this.cached;
    if (first === last && cached?.index === first) {
      cached.plaintext.copy(result, 0, offset - first * CHUNK_BYTES);
      return result;
    }
    await this.openChunks(first, last, (index, plaintext) => {
      const chunkStart = index * CHUNK_BYTES;
      const copyFrom = Math.max(offset, chunkStart);
      plaintext.copy(result, copyFrom - offset, copyFrom - chunkStart, Math.min(offset + length, chunkStart + plaintext.length) - chunkStart);
    });
    return result;
  }

  /** Opens the final chunk with the final flag: proves the file was not cut at a chunk boundary. */
  async verifyFinalChunk(): Promise<void> {
    await this.openChunks(this.chunks - 1, this.chunks - 1, () => undefined);
  }

  /** Reads chunks first..last with one positional read, authenticates each and hands its plaintext to `use`. */
  private async openChunks(first: number, last: number, use: (index: number, plaintext: Buffer) => void): Promise<void> {
    try {
      const start = this.payloadStart + first * SEALED_CHUNK_BYTES;
      const sealed = Buffer.allocUnsafe(Math.min(this.fileBytes, this.payloadStart + (last + 1) * SEALED_CHUNK_BYTES) - start);
      const got = await this.source.readAt(sealed, start);
      if (got < sealed.length) throw new AgeError('payload', `the file is shorter than when it was opened (${start + got} of ${this.fileBytes} bytes)`);
      const nonce = Buffer.alloc(12);
      for (let index = first; index <= last; index += 1) {
        const from = (index - first) * SEALED_CHUNK_BYTES;
        const chunk = sealed.subarray(from, Math.min(sealed.length, from + SEALED_CHUNK_BYTES));
        const plaintext = openChunk(this.key, chunkNonce(index, index === this.chunks - 1, nonce), chunk);
        if (plaintext === null) {
          throw new AgeError('payload', `chunk ${index} (file bytes ${start + from}..${start + from + chunk.length}) fails authentication: altered or cut`);
        }
        use(index, plaintext);
        if (index === last) this.cached = { index, plaintext };
      }
    } catch (error) {
      throw error instanceof AgeError ? mapDecryptError(error, this.label) : toBackupError(error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cached = null;
  }
}
