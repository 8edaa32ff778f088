/**
 * Writes one part of a set in a single pass: content -> compress -> (encrypt) -> hash and
 * count -> file, composed with pipeline() so backpressure holds end to end and memory stays
 * bounded. The file is fsynced before the record is returned; the manifest that lists it is
 * written only after every part is durable.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PartRecord } from '../../protocol/manifest.js';
import { encodeStages, storedName, type WriteCodec } from './codec.js';

/** Counts bytes flowing through without copying them. */
export class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly onBytes?: (total: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    done(null, chunk);
  }
}

/** Hashes (SHA-256) and counts bytes flowing through. */
export class HashingCounter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** pipeline() over a list of stages built at run time (its typings want fixed arity). */
export function runPipeline(streams: unknown[], signal?: AbortSignal): Promise<void> {
  return (pipeline as unknown as (...args: unknown[]) => Promise<void>)(...streams, signal ? { signal } : {});
}

export type PartSource = Readable | AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

export interface WritePartOptions {
  codec: WriteCodec;
  signal?: AbortSignal;
  /** Called with the running count of content bytes, for progress. */
  onContentBytes?: (bytes: number) => void;
}

/**
 * Writes `source` as `<setDir>/<logicalPath><.gz|.zst><.age>` and returns its record.
 * On failure the partial file is removed (the set stays incomplete either way, because
 * it has no manifest yet).
 */
export async function writePart(setDir: string, logicalPath: string, source: PartSource, options: WritePartOptions): Promise<PartRecord> {
  const relPath = storedName(logicalPath, options.codec);
  const filePath = join(setDir, relPath);
  await mkdir(dirname(filePath), { recursive: true, mode: 0o700 });
  const content = new ByteCounter(options.onContentBytes);
  const hasher = new HashingCounter();
  const stages = await encodeStages(options.codec);
  // 'wx': never overwrite; flush: fsync before 'finish' so the part is durable.
  const sink = createWriteStream(filePath, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 256 * 1024 });
  try {
    await runPipeline([source, content, ...stages, hasher, sink], options.signal);
  } catch (error) {
    sink.destroy();
    await unlink(filePath).catch(() => undefined);
    throw error;
  }
  return { path: relPath, bytes: hasher.bytes, sha256: hasher.digest(), rawBytes: content.bytes };
}
