/**
 * S3-compatible object storage (AWS, Backblaze B2, Wasabi, MinIO, Ceph, ...) through AWS SDK v3.
 * Uploads go through lib-storage's multipart Upload (parts buffered and retried by the SDK);
 * every object carries our SHA-256 as metadata, and after an upload the object's size and
 * that metadata are read back (HEAD) and compared.
 */
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { BackupError } from '../core/errors.js';
import {
  checkKey,
  checkUploaded,
  DestinationError,
  TRANSIENT_NET_CODES,
  UploadMeter,
  type Destination,
  type ObjectInfo,
  type SaveOptions,
  type SaveSource,
} from './destination.js';

export interface S3Options {
  bucket: string;
  /** Key prefix inside the bucket, e.g. "civibackup/site1" (no leading or trailing '/'). */
  prefix?: string;
  region: string;
  /** Any endpoint; absent means AWS. */
  endpoint?: string;
  /** Path-style URLs (endpoint/bucket/key): MinIO, Ceph and most self-hosted servers need it. */
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /** Multipart part size in bytes (default 8 MiB; S3 needs at least 5 MiB). */
  partSize?: number;
  /** Parts uploaded at once (default 4). Memory is about partSize x queueSize. */
  queueSize?: number;
  /** Keys per listing page (S3's default and maximum: 1000); tests page in smaller steps. */
  listPageSize?: number;
  /** SDK-level attempts per request (default 3); the retry wrapper adds its own around whole operations. */
  maxAttempts?: number;
}

const SHA256_METADATA = 'sha256';

/** The SDK module and the client built from it. */
interface LoadedS3 {
  sdk: typeof import('@aws-sdk/client-s3');
  client: S3Client;
}

export class S3Destination implements Destination {
  readonly location: string;
  private readonly config: S3ClientConfig;
  /** The AWS SDK is loaded on first use (see s3()). */
  private loaded: Promise<LoadedS3> | undefined;
  private readonly prefix: string;

  constructor(private readonly options: S3Options) {
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.location = `s3://${options.bucket}${this.prefix ? `/${this.prefix}` : ''}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    this.config = {
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // Only send/verify the SDK's own checksums where S3 requires them: many S3-compatible
      // servers reject or mishandle the newer default CRC headers. Our SHA-256 covers integrity.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: options.maxAttempts ?? 3,
    };
    // The SDK warns on stderr that versions published after early 2027 need Node 22; we pin
    // ~3.1175 (package.json), so the warning is noise the PHP side would log as a problem.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  }

  /**
   * The SDK and its client, loaded on the first request: the bundle keeps the AWS SDK in a
   * chunk of its own, so runs without an S3 destination never parse it.
   */
  private s3(): Promise<LoadedS3> {
    this.loaded ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: new sdk.S3Client(this.config) }));
    return this.loaded;
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async save(key: string, source: SaveSource, options?: SaveOptions): Promise<void> {
    const objectKey = this.objectKey(key);
    const meter = new UploadMeter(this.location, key, options);
    const [{ client }, { Upload }] = await Promise.all([this.s3(), import('@aws-sdk/lib-storage')]);
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    const feeding = pipeline(source(), meter, body, { signal: options?.signal });
    const upload = new Upload({
      client,
      params: {
        Bucket: this.options.bucket,
        Key: objectKey,
        Body: body,
        ContentType: 'application/octet-stream',
        Metadata: options?.sha256 ? { [SHA256_METADATA]: options.sha256 } : undefined,
      },
      partSize: Math.max(5 * 1024 * 1024, this.options.partSize ?? 8 * 1024 * 1024),
      queueSize: this.options.queueSize ?? 4,
      leavePartsOnError: false,
    });
    const onAbort = (): void => void upload.abort().catch(() => undefined);
    options?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // A failed upload stops the feeding; a failed source (or a size/hash surprise, see
      // UploadMeter) aborts the multipart upload so no object appears. The real cause is the
      // error that is not the consequence of the other side stopping.
      let uploadError: unknown;
      let feedError: unknown;
      const uploaded = upload.done().then(
        () => undefined,
        (error: unknown) => {
          uploadError = error;
          body.destroy();
        },
      );
      await feeding.catch(async (error: unknown) => {
        feedError = error;
        // ABORT_ERR: the uploader stopped reading because IT failed; done() is about to say
        // why, and an abort() now would replace that reason with "Upload aborted.".
        if ((error as { code?: string }).code !== 'ABORT_ERR') await upload.abort().catch(() => undefined);
      });
      await uploaded;
      if (options?.signal?.aborted) throw new BackupError('CANCELLED', 'The upload was cancelled.');
      const uploadAborted = (uploadError as { name?: string } | undefined)?.name === 'AbortError';
      if (uploadError !== undefined && !uploadAborted) throw uploadError;
      if (feedError !== undefined) throw feedError;
      if (uploadError !== undefined) throw uploadError;
    } catch (error) {
      throw this.mapError(error, key);
    } finally {
      options?.signal?.removeEventListener('abort', onAbort);
    }
    const digest = checkUploaded(this.location, key, meter, options);
    // Read back what the server stored: size, and our hash as metadata.
    const head = await this.head(key);
    if (!head || head.size !== meter.bytes) {
      throw new DestinationError('transient', `${key} on ${this.location} has ${head ? `${head.size} bytes` : 'vanished'} after upload, expected ${meter.bytes}.`);
    }
    if (options?.sha256 && head.sha256 !== undefined && head.sha256 !== digest) {
      throw new DestinationError('transient', `${key} on ${this.location} carries SHA-256 ${head.sha256}, expected ${digest}.`);
    }
  }

  private async head(key: string): Promise<{ size: number; sha256?: string } | null> {
    try {
      const { sdk, client } = await this.s3();
      const out = await client.send(new sdk.HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
      return { size: out.ContentLength ?? 0, sha256: out.Metadata?.[SHA256_METADATA] };
    } catch (error) {
      const mapped = this.mapError(error, key);
      if (mapped instanceof DestinationError && mapped.kind === 'not-found') return null;
      throw mapped;
    }
  }

  async load(key: string): Promise<Readable> {
    try {
      const { sdk, client } = await this.s3();
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
      if (!out.Body) throw new DestinationError('transient', `${key} on ${this.location} came back without a body.`);
      return out.Body as Readable;
    } catch (error) {
      throw this.mapError(error, key);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    const fullPrefix = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let token: string | undefined;
    try {
      const { sdk, client } = await this.s3();
      do {
        const out = await client.send(
          new sdk.ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: fullPrefix || undefined, ContinuationToken: token, MaxKeys: this.options.listPageSize }),
        );
        for (const item of out.Contents ?? []) {
          if (item.Key) found.push({ key: item.Key.slice(strip), size: item.Size ?? 0 });
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.mapError(error, prefix || '(list)');
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const head = await this.head(key);
    return head ? { key, size: head.size } : null;
  }

  async remove(key: string): Promise<void> {
    try {
      const { sdk, client } = await this.s3();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
    } catch (error) {
      const mapped = this.mapError(error, key);
      if (!(mapped instanceof DestinationError && mapped.kind === 'not-found')) throw mapped;
    }
  }

  async close(): Promise<void> {
    if (this.loaded) (await this.loaded).client.destroy();
  }

  private mapError(error: unknown, key: string): Error {
    if (error instanceof BackupError) return error;
    const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? '';
    const what = `${this.location}: ${key}: ${name || 'error'}${e.message ? ` (${e.message})` : ''}`;
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      if (name === 'NoSuchBucket') return new DestinationError('permanent', `The bucket ${this.options.bucket} does not exist: ${what}`, { cause: error });
      return new DestinationError('not-found', what, { cause: error });
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken'].includes(name) || status === 401 || status === 403) {
      return new DestinationError('auth', `The S3 server refused the credentials or access: ${what}. Check the access key and the secret in the environment variable the job names.`, { cause: error });
    }
    if (
      (status !== undefined && (status >= 500 || status === 408 || status === 429)) ||
      ['RequestTimeout', 'SlowDown', 'InternalError', 'ServiceUnavailable', 'ThrottlingException', 'TimeoutError'].includes(name) ||
      TRANSIENT_NET_CODES.has(e.code ?? '') ||
      TRANSIENT_NET_CODES.has(name) ||
      name === 'AbortError' || // stopped without our signal: a side effect of a failed request
      e.code === 'ABORT_ERR' ||
      e.$retryable !== undefined ||
      /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|premature close/i.test(e.message ?? '')
    ) {
      return new DestinationError('transient', what, { cause: error });
    }
    return new DestinationError('permanent', what, { cause: error });
  }
}
