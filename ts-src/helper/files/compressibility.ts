/**
 * Whether a file's content is worth compressing. Already-compressed formats (images, PDFs,
 * archives, Office files, audio, video) are stored as they are: deflating them costs CPU and
 * gains nothing. Decided by the file name first (free), then by a cheap sample for the rest:
 * deflate the first 64 KiB at level 1; if that saves less than 5 % the file counts as
 * incompressible. The decision is per file and travels with each of its blocks
 * (BlobWriteOptions.compressible).
 */
import { deflateRawSync } from 'node:zlib';

/** Extensions of formats that are compressed inside (lower case, without the dot). */
export const INCOMPRESSIBLE_EXTENSIONS: ReadonlySet<string> = new Set([
  // images
  'jpg', 'jpeg', 'png', 'gif', 'webp', 'avif', 'heic', 'heif', 'jxl', 'jp2',
  // documents that are zip containers or compressed streams
  'pdf', 'docx', 'xlsx', 'pptx', 'odt', 'ods', 'odp', 'odg', 'epub', 'jar', 'apk',
  // archives and compressed files
  'zip', 'gz', 'tgz', 'bz2', 'tbz2', 'xz', 'txz', 'zst', 'lz', 'lzma', 'lz4', '7z', 'rar', 'cab', 'br', 'age', 'gpg',
  // audio and video
  'mp3', 'mp4', 'm4a', 'm4v', 'aac', 'ogg', 'oga', 'ogv', 'opus', 'flac', 'webm', 'mkv', 'mov', 'avi', 'wmv', 'mpg', 'mpeg',
  // fonts with compressed tables
  'woff', 'woff2',
]);

/** Bytes of a file's start the sample deflates. */
export const SAMPLE_BYTES = 64 * 1024;
/** Compressed/original above this: not worth compressing. */
export const INCOMPRESSIBLE_RATIO = 0.95;
/** Samples smaller than this say little (and cost nothing to compress anyway). */
const MIN_SAMPLE_BYTES = 512;

/** The lower-case extension of a path's last segment, '' when it has none. */
export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** True when the name alone says the content is already compressed. */
export function incompressibleByName(path: string): boolean {
  return INCOMPRESSIBLE_EXTENSIONS.has(extensionOf(path));
}

/** True when deflate at level 1 saves at least 5 % on (the first 64 KiB of) `sample`. */
export function sampleCompresses(sample: Buffer): boolean {
  const head = sample.length > SAMPLE_BYTES ? sample.subarray(0, SAMPLE_BYTES) : sample;
  if (head.length < MIN_SAMPLE_BYTES) return true;
  const deflated = deflateRawSync(head, { level: 1 });
  return deflated.length / head.length <= INCOMPRESSIBLE_RATIO;
}

/**
 * Decides for a file from its path and its first block: false for a known compressed format
 * or a sample that does not compress.
 */
export function isCompressible(path: string, firstBlock: Buffer): boolean {
  if (incompressibleByName(path)) return false;
  return sampleCompresses(firstBlock);
}
