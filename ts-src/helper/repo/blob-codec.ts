/**
 * Compression of one blob (at most ~1 MiB, so whole-buffer calls on zlib's thread pool, not
 * streams). Content that does not shrink is stored as it is ('none'): a cheap sample decides
 * for large blobs before the whole blob is compressed, as the design asks.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Compression } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import { zstdAvailable } from '../set/codec.js';
import type { BlobEncoding } from './index-table.js';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const deflateRaw = promisify(zlib.deflateRaw);

/** Bytes deflated at level 1 to judge whether a large blob is worth compressing. */
export const SAMPLE_BYTES = 64 * 1024;
/** Sample compressed to more than this fraction of its size: store the blob as it is. */
export const INCOMPRESSIBLE_RATIO = 0.95;

interface ZstdZlib {
  zstdCompress(buffer: Buffer, options: object, callback: (error: Error | null, result: Buffer) => void): void;
  zstdDecompress(buffer: Buffer, callback: (error: Error | null, result: Buffer) => void): void;
  constants: Record<string, number>;
}

function zstd(): ZstdZlib {
  if (!zstdAvailable()) throw new BackupError('CONFIG', 'zstd compression needs Node.js 22.15 or newer; use gzip on this server.');
  return zlib as unknown as ZstdZlib;
}

/** Whether the first 64 KiB of `content` shrink by at least 5 % at deflate level 1. */
export async function sampleCompresses(content: Buffer): Promise<boolean> {
  const sample = content.subarray(0, SAMPLE_BYTES);
  if (sample.length === 0) return false;
  const deflated = await deflateRaw(sample, { level: 1 });
  return deflated.length <= sample.length * INCOMPRESSIBLE_RATIO;
}

async function compress(content: Buffer, compression: Exclude<Compression, 'none'>, level: number): Promise<Buffer> {
  if (compression === 'gzip') return gzip(content, { level });
  const z = zstd();
  return new Promise((resolve, reject) =>
    z.zstdCompress(content, { params: { [z.constants.ZSTD_c_compressionLevel ?? 100]: level } }, (error, result) => (error ? reject(error) : resolve(result))),
  );
}

/**
 * The stored (not yet encrypted) bytes of a blob and their encoding. `compressible: false`
 * (already compressed content, known by its file type) skips compression outright;
 * `compressible: true` (the caller's sample shrank) skips the sample.
 */
export async function encodeBlob(content: Buffer, compression: Compression, level: number, compressible?: boolean): Promise<{ encoding: BlobEncoding; bytes: Buffer }> {
  if (compression === 'none' || compressible === false || content.length === 0) return { encoding: 'none', bytes: content };
  // `compressible: true` means the caller sampled already (the tree backup, per file).
  if (compressible === undefined && content.length > SAMPLE_BYTES && !(await sampleCompresses(content))) return { encoding: 'none', bytes: content };
  const compressed = await compress(content, compression, level);
  if (compressed.length >= content.length) return { encoding: 'none', bytes: content };
  return { encoding: compression, bytes: compressed };
}

/** The content of a stored (decrypted) blob; throws on bytes the decompressor refuses. */
export async function decodeBlob(bytes: Buffer, encoding: BlobEncoding): Promise<Buffer> {
  switch (encoding) {
    case 'none':
      return bytes;
    case 'gzip':
      return gunzip(bytes);
    case 'zstd': {
      const z = zstd();
      return new Promise((resolve, reject) => z.zstdDecompress(bytes, (error, result) => (error ? reject(error) : resolve(result))));
    }
  }
}
