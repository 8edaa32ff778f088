/** Opens a stored part as its content: file -> (decrypt) -> decompress. */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import * as stream from 'node:stream';
import type { Readable } from 'node:stream';
import { decodeStages, type ReadCodec } from './codec.js';

/** stream.compose (Node 16.9+) is missing from @types/node 20. */
const compose = (stream as unknown as { compose: (...streams: unknown[]) => Readable }).compose;

export async function openPart(setDir: string, storedPath: string, codec: ReadCodec): Promise<Readable> {
  const file = createReadStream(join(setDir, storedPath), { highWaterMark: 256 * 1024 });
  const stages = await decodeStages(storedPath, codec);
  if (stages.length === 0) return file;
  return compose(file, ...stages);
}

/**
 * Stops reading a part before its end (a refused archive, a failed restore). Destroying a
 * composed stream makes its inner pipeline fail with AbortError once its reader has gone; with
 * no listener left, that expected error would end the process as an uncaught exception.
 */
export function stopReadingPart(content: Readable): void {
  content.on('error', () => undefined);
  content.destroy();
}
