/** Test material for destinations: fake complete sets on disk, and a fault-injecting wrapper. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { formatSetId, type Manifest } from '../../../ts-src/protocol/manifest.js';
import { DestinationError, type Destination, type ObjectInfo, type SaveOptions, type SaveSource } from '../../../ts-src/helper/destinations/destination.js';
import { writeManifest } from '../../../ts-src/helper/set/set-store.js';
import { readObject } from '../../../ts-src/helper/destinations/remote-sets.js';

export interface FakeSet {
  setId: string;
  dir: string;
  manifest: Manifest;
}

/**
 * Writes a complete set of the given part sizes under `root` (parts of pseudo-random bytes:
 * one random MiB repeated with a per-chunk counter, cheap for hundreds of MB).
 */
export async function makeFakeSet(root: string, sizes: number[], when = new Date()): Promise<FakeSet> {
  const setId = formatSetId(when, randomBytes(4).toString('hex'));
  const dir = join(root, setId);
  const block = randomBytes(1024 * 1024);
  const parts = sizes.map((size, index) => {
    const path = `db/${String(200 + index).padStart(3, '0')}-data-t${index}.sql.gz`;
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    const hash = createHash('sha256');
    const fd = openSync(file, 'w', 0o600);
    for (let written = 0, n = 0; written < size; n += 1) {
      const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - written)));
      if (chunk.length >= 4) chunk.writeUInt32LE(n, 0);
      writeSync(fd, chunk);
      hash.update(chunk);
      written += chunk.length;
    }
    closeSync(fd);
    return { path, bytes: size, sha256: hash.digest('hex'), rawBytes: size };
  });
  const manifest: Manifest = {
    format: 'civibackup-set',
    formatVersion: 1,
    setId,
    tool: { name: 'civibackup', version: 'test', node: process.version },
    createdAt: when.toISOString(),
    finishedAt: when.toISOString(),
    source: { hostname: 'test' },
    compression: { algorithm: 'gzip', level: 6 },
    encryption: null,
    parts,
    databases: [],
    files: [],
    warnings: [],
  };
  await writeManifest(dir, manifest);
  return { setId, dir, manifest };
}

/** The content of one object (the destinations' own reader). */
export const readAll = readObject;

export const bufferSource = (data: Buffer | string): SaveSource => () => Readable.from([Buffer.from(data)]);

/**
 * Fails chosen calls: `failSaves` maps the 1-based number of a save() call to the failure to
 * throw instead of (or, with `midStream`, part way through) that call.
 */
export class FaultyDestination implements Destination {
  readonly location: string;
  saves = 0;
  constructor(
    private readonly inner: Destination,
    private readonly failSaves: Map<number, { kind: 'transient' | 'auth'; midStream?: boolean }>,
  ) {
    this.location = inner.location;
  }
  async save(key: string, source: SaveSource, options?: SaveOptions): Promise<void> {
    this.saves += 1;
    const fault = this.failSaves.get(this.saves);
    if (!fault) return this.inner.save(key, source, options);
    if (!fault.midStream) throw new DestinationError(fault.kind, `injected ${fault.kind} failure on save #${this.saves} (${key})`);
    // Let some bytes through, then break the source: the inner save must not publish anything.
    const broken = (): Readable => {
      const real = source();
      let seen = 0;
      return real.compose(async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          seen += chunk.length;
          if (seen > 64 * 1024) throw new DestinationError(fault.kind, `injected cut after ${seen} bytes (${key})`);
          yield chunk;
        }
      }) as Readable;
    };
    return this.inner.save(key, broken, options);
  }
  load(key: string): Promise<Readable> {
    return this.inner.load(key);
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.inner.list(prefix);
  }
  stat(key: string): Promise<ObjectInfo | null> {
    return this.inner.stat(key);
  }
  remove(key: string): Promise<void> {
    return this.inner.remove(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
