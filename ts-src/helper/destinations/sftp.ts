/**
 * An SFTP server as a destination (OpenSSH's internal-sftp or any SFTP v3 server), key
 * authentication only. Each object is written to "<name>.part" and renamed when complete, so
 * a cut connection never leaves a full-looking file. One connection, opened on first use and
 * reopened after it drops.
 */
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type SftpClient from 'ssh2-sftp-client';
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

export interface SftpOptions {
  host: string;
  port?: number;
  username: string;
  /** Absolute (or login-relative) directory on the server that holds the sets. */
  path: string;
  /** Private key text (OpenSSH or PEM). */
  privateKey: string;
  /** Pinned host key fingerprint "SHA256:<base64>", as `ssh-keygen -lf` prints it. */
  hostKey?: string;
  readyTimeout?: number;
}

const PART_SUFFIX = '.part';

export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export class SftpDestination implements Destination {
  readonly location: string;
  private client: SftpClient | null = null;
  private connecting: Promise<SftpClient> | null = null;
  private readonly active = new Set<Readable | Writable>();

  private track<T extends Readable | Writable>(stream: T): T {
    this.active.add(stream);
    const forget = (): void => void this.active.delete(stream);
    stream.once('close', forget);
    stream.once('error', forget);
    return stream;
  }
  private readonly root: string;
  /** Fingerprint of the server's host key as last seen, so an unpinned one can be reported. */
  seenHostKey: string | undefined;

  constructor(private readonly options: SftpOptions) {
    this.root = options.path.replace(/\/+$/, '') || '/';
    this.location = `sftp://${options.username}@${options.host}:${options.port ?? 22}${this.root.startsWith('/') ? '' : '/'}${this.root}`;
  }

  private path(key: string): string {
    return `${this.root}/${checkKey(key)}`;
  }

  private connection(): Promise<SftpClient> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    this.connecting = this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<SftpClient> {
    // ssh2 is loaded on the first connection: the bundle keeps it in a chunk of its own, so
    // runs without an SFTP destination never parse it.
    const { default: SftpClientClass } = await import('ssh2-sftp-client');
    const dropped = (): void => {
      if (this.client === client) this.client = null;
      // ssh2's streams do not always end when the connection dies: end them, so a transfer
      // in flight fails (and can be retried) instead of hanging.
      for (const stream of this.active) stream.destroy(new DestinationError('transient', `The SFTP connection to ${this.location} was lost.`));
      this.active.clear();
    };
    // Our own listeners: the library's defaults print to the console, and a dropped
    // connection must simply be reopened on the next call.
    const client = new SftpClientClass('civibackup', { error: dropped, end: dropped, close: dropped });
    return client
      .connect({
        host: this.options.host,
        port: this.options.port ?? 22,
        username: this.options.username,
        privateKey: this.options.privateKey,
        readyTimeout: this.options.readyTimeout ?? 20_000,
        retries: 1,
        tryKeyboard: false,
        keepaliveInterval: 10_000,
        hostVerifier: (key: Buffer) => {
          this.seenHostKey = hostKeyFingerprint(key);
          return !this.options.hostKey || this.seenHostKey === this.options.hostKey;
        },
      })
      .then(
        () => {
          this.client = client;
          return client;
        },
        (error: unknown) => {
          throw this.mapError(error, '(connect)');
        },
      );
  }

  async save(key: string, source: SaveSource, options?: SaveOptions): Promise<void> {
    const target = this.path(key);
    const temp = `${target}${PART_SUFFIX}`;
    const meter = new UploadMeter(this.location, key, options);
    try {
      const sftp = await this.connection();
      await sftp.mkdir(target.slice(0, target.lastIndexOf('/')) || '/', true);
      await pipeline(source(), meter, this.track(sftp.createWriteStream(temp, { mode: 0o600 })), { signal: options?.signal });
      checkUploaded(this.location, key, meter, options);
      const written = await sftp.stat(temp);
      if (written.size !== meter.bytes) {
        throw new DestinationError('transient', `${key} on ${this.location} has ${written.size} bytes after upload, expected ${meter.bytes}.`);
      }
      // posix-rename@openssh.com replaces an existing target atomically; plain SFTP v3 rename refuses to.
      await sftp.posixRename(temp, target).catch(async () => {
        await sftp.delete(target, true);
        await sftp.rename(temp, target);
      });
    } catch (error) {
      if (this.client) await this.client.delete(temp, true).catch(() => undefined);
      throw this.mapError(error, key);
    }
  }

  async load(key: string): Promise<Readable> {
    const path = this.path(key);
    try {
      const sftp = await this.connection();
      await sftp.stat(path); // not-found now rather than inside the consumer's pipeline
      return this.track(sftp.createReadStream(path, { highWaterMark: 256 * 1024 }));
    } catch (error) {
      throw this.mapError(error, key);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    try {
      const sftp = await this.connection();
      const walk = async (dir: string, keyPrefix: string): Promise<void> => {
        let entries;
        try {
          entries = await sftp.list(dir);
        } catch (error) {
          if ((error as { code?: unknown }).code === 'ENOENT' || /No such file/i.test((error as Error).message)) return;
          throw error;
        }
        for (const entry of entries) {
          const key = `${keyPrefix}${entry.name}`;
          if (entry.type === 'd') {
            if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await walk(`${dir}/${entry.name}`, `${key}/`);
          } else if (entry.type === '-' && !entry.name.endsWith(PART_SUFFIX) && key.startsWith(prefix)) {
            found.push({ key, size: entry.size });
          }
        }
      };
      await walk(this.root, '');
    } catch (error) {
      throw this.mapError(error, prefix || '(list)');
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const sftp = await this.connection();
      const info = await sftp.stat(this.path(key));
      return info.isFile ? { key, size: info.size } : null;
    } catch (error) {
      const mapped = this.mapError(error, key);
      if (mapped instanceof DestinationError && mapped.kind === 'not-found') return null;
      throw mapped;
    }
  }

  async remove(key: string): Promise<void> {
    const path = this.path(key);
    try {
      const sftp = await this.connection();
      await sftp.delete(path, true);
      // Drop directories the removal emptied (rmdir of a non-empty one fails: stop there).
      let dir = path.slice(0, path.lastIndexOf('/'));
      while (dir.length > this.root.length && dir.startsWith(`${this.root}/`)) {
        if (!(await sftp.rmdir(dir).then(() => true, () => false))) break;
        dir = dir.slice(0, dir.lastIndexOf('/'));
      }
    } catch (error) {
      throw this.mapError(error, key);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => undefined);
  }

  private mapError(error: unknown, key: string): Error {
    if (error instanceof BackupError) return error;
    const e = error as { code?: unknown; message?: string; level?: string; name?: string };
    const code = typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? String(e.code) : '';
    const message = e.message ?? String(error);
    const what = `${this.location}: ${key}: ${message}`;
    if (e.name === 'AbortError') return new BackupError('CANCELLED', 'The upload was cancelled.', { cause: error });
    if (code === 'ENOENT' || code === '2' || /No such file/i.test(message)) return new DestinationError('not-found', what, { cause: error });
    if (code === 'ERR_BAD_AUTH' || /authentication methods failed|permission denied \(publickey|host key|hostVerifier|Host denied|handshake failed|Cannot parse privateKey/i.test(message) || e.level === 'client-authentication') {
      return new DestinationError('auth', `The SFTP server refused the login or its host key did not match: ${what}`, { cause: error });
    }
    if (code === 'EACCES' || code === '3' || /permission denied/i.test(message)) {
      return new DestinationError('auth', `No permission on the SFTP server: ${what}`, { cause: error });
    }
    if (
      TRANSIENT_NET_CODES.has(code) ||
      code === 'ERR_NOT_CONNECTED' ||
      e.level === 'client-socket' ||
      e.level === 'client-timeout' ||
      /No SFTP connection|connection (lost|closed|reset)|socket|timed out|ECONNRESET|ECONNREFUSED|EPIPE|premature close|Not connected|No response from server/i.test(message)
    ) {
      this.client = null;
      return new DestinationError('transient', what, { cause: error });
    }
    return new DestinationError('permanent', what, { cause: error });
  }
}
