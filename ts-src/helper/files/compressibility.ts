/**
 * Whether a file's content is worth compressing, by its name: already-compressed formats
 * (images, PDFs, archives, Office files, audio, video) are stored as they are, since deflating
 * them costs CPU and gains nothing (BlobWriteOptions.compressible: false). Any other content
 * is judged by the repository's writer (repo/blob-codec.ts): a blob over 64 KiB by a deflate
 * sample of its first 64 KiB at level 1 on the thread pool, a smaller one by compressing it
 * (its sample would be the whole blob); what does not shrink is stored as it is.
 */

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
