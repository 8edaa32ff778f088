/**
 * A directory (local disk or a mounted share) as a destination. Durable writes as restic's
 * local backend: temp file, fsync, rename, fsync the directory.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncDirectory } from '../set/durable.js';
import { toBackupError } from '../core/errors.js';
import { checkKey, checkUploaded, DestinationError, UploadMeter, type Destination, type ObjectInfo, type SaveOptions, type SaveSource } from './destination.js';

const TEMP_SUFFIX = '.tmp';

function isTemp(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

export class LocalDestination implements Destination {
  readonly location: string;
  constructor(root: string) {
    this.location = resolve(root);
  }

  private path(key: string): string {
    return join(this.location, ...checkKey(key).split('/'));
  }

  async save(key: string, source: SaveSource, options?: SaveOptions): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const temp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
    const meter = new UploadMeter(this.location, key, options);
    try {
      await pipeline(source(), meter, createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }), { signal: options?.signal });
      checkUploaded(this.location, key, meter, options);
      await rename(temp, target);
      await fsyncDirectory(dirname(target));
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw this.mapError(error, key);
    }
  }

  async load(key: string): Promise<Readable> {
    const path = this.path(key);
    // Open first, so a missing object fails here rather than later inside a pipeline.
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw this.mapError(error, key);
    });
    return handle.createReadStream({ highWaterMark: 256 * 1024 });
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw this.mapError(error, relative(this.location, dir));
      });
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile() && !isTemp(entry.name)) {
          const key = relative(this.location, full).split(sep).join('/');
          if (key.startsWith(prefix)) found.push({ key, size: (await stat(full)).size });
        }
      }
    };
    // Walk only the directory the prefix names (the part up to its last '/').
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart ? join(this.location, ...dirPart.split('/')) : this.location);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { key, size: info.size } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw this.mapError(error, key);
    }
  }

  async remove(key: string): Promise<void> {
    const path = this.path(key);
    try {
      await unlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.mapError(error, key);
    }
    // Drop directories the removal emptied, up to the root, so a removed set leaves nothing.
    for (let dir = dirname(path); dir.startsWith(this.location + sep); dir = dirname(dir)) {
      if (!(await rmdir(dir).then(() => true, () => false))) break;
    }
  }

  async close(): Promise<void> {}

  private mapError(error: unknown, key: string): Error {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new DestinationError('not-found', `${key} does not exist in ${this.location}.`, { cause: error });
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new DestinationError('auth', `No permission to write ${key} in ${this.location}: ${(error as Error).message}`, { cause: error });
    }
    return toBackupError(error);
  }
}
