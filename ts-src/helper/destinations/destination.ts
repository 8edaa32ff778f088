/**
 * One small interface for every place a set can be copied to (restic's Backend): a flat
 * key -> bytes store. Keys are '/'-separated relative paths ("<setId>/db/100-schema.sql.gz.age").
 * Retry and fault injection are wrappers implementing the same interface; one conformance
 * suite (test/helper/destinations/conformance.ts) runs against every implementation.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { isSafeRelativePath } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';

export interface ObjectInfo {
  key: string;
  size: number;
}

export interface SaveOptions {
  /** Expected size in bytes; a different count fails the save (and nothing is published). */
  size?: number;
  /** Expected hex SHA-256 of the bytes; checked while streaming and stored with the object where the backend can. */
  sha256?: string;
  signal?: AbortSignal;
}

/** Opens the bytes to save. A factory, not a stream, so a retry can read them again from the start. */
export type SaveSource = () => Readable;

export interface Destination {
  /** Where it is, without any secret: "/srv/backup", "s3://bucket/prefix", "sftp://user@host:22/path". */
  readonly location: string;
  /** Stores the bytes under `key`, replacing an existing object only once the new one is complete. */
  save(key: string, source: SaveSource, options?: SaveOptions): Promise<void>;
  /** Streams the object; NOT_FOUND (a DestinationError) when there is none. */
  load(key: string): Promise<Readable>;
  /** Every object whose key starts with `prefix` ("" lists all), sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Size of the object, or null when there is none. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Removes the object; removing a missing object is not an error. */
  remove(key: string): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

export type DestinationFailure = 'transient' | 'not-found' | 'auth' | 'permanent';

/**
 * A destination failure. `kind` tells the retry wrapper what to do: only 'transient' (a dropped
 * connection, a timeout, a 5xx, throttling) is tried again.
 */
export class DestinationError extends BackupError {
  readonly kind: DestinationFailure;
  constructor(kind: DestinationFailure, message: string, options?: { cause?: unknown }) {
    super('DESTINATION', message, options);
    this.name = 'DestinationError';
    this.kind = kind;
  }
}

export function isTransient(error: unknown): boolean {
  return error instanceof DestinationError && error.kind === 'transient';
}

/** Network error codes that mean "try again". */
export const TRANSIENT_NET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** Refuses keys that could leave the destination's root (absolute, "..", backslashes). */
export function checkKey(key: string): string {
  if (!isSafeRelativePath(key)) throw new BackupError('INTERNAL', `Refusing unsafe destination key "${key}".`);
  return key;
}

/**
 * Hashes and counts bytes on their way to a destination. When the stream ends it compares them
 * with the expected size and SHA-256 and fails the stream on a mismatch, BEFORE the backend
 * publishes the object (rename, multipart completion), so wrong bytes never appear.
 */
export class UploadMeter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private result: string | undefined;
  constructor(
    private readonly location: string,
    private readonly key: string,
    private readonly expected?: SaveOptions,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    try {
      checkUploaded(this.location, this.key, this, this.expected);
      done();
    } catch (error) {
      done(error as Error);
    }
  }
  digest(): string {
    this.result ??= this.hash.digest('hex');
    return this.result;
  }
}

/**
 * Compares what streamed to the expectation. A mismatch means the local bytes changed or were
 * misread, so it is damage, not a destination failure, and is never retried.
 */
export function checkUploaded(location: string, key: string, meter: UploadMeter, options: SaveOptions | undefined): string {
  const digest = meter.digest();
  if (options?.size !== undefined && meter.bytes !== options.size) {
    throw new BackupError('SET_DAMAGED', `${key}: read ${meter.bytes} bytes while uploading to ${location}, expected ${options.size}; the local part changed.`);
  }
  if (options?.sha256 !== undefined && digest !== options.sha256) {
    throw new BackupError('SET_DAMAGED', `${key}: SHA-256 ${digest} while uploading to ${location}, expected ${options.sha256}; the local part changed.`);
  }
  return digest;
}
