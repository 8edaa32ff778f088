/**
 * Backup sets on a Destination: upload (parts first, manifest.json LAST, so a broken upload
 * never looks complete), listing (only sets whose manifest exists are complete), verification
 * (download and hash every part, streaming). Retention over both formats: remote-retention.ts.
 *
 * Remote layout = local layout: "<setId>/manifest.json", "<setId>/db/...", "<setId>/pinned".
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { MANIFEST_FILE, SET_ID_PATTERN, validateManifest, type Manifest } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import { PINNED_FILE } from '../../protocol/retention-policy.js';
import { DestinationError, type Destination } from './destination.js';

export interface UploadProgress {
  partsDone: number;
  partsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  key: string;
}

export interface UploadOptions {
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadResult {
  setId: string;
  location: string;
  parts: number;
  bytes: number;
  /** True when the destination already held this complete set (nothing was sent). */
  alreadyPresent: boolean;
  /** Parts an earlier, interrupted upload had already published (not sent again). */
  resumedParts: number;
}

/**
 * Copies a complete local set. Each part is streamed from disk and checked against the
 * manifest's size and SHA-256 on the way; the manifest goes last, and only after every part
 * is confirmed present with the right size.
 */
export async function uploadSet(setDir: string, manifest: Manifest, destination: Destination, options: UploadOptions = {}): Promise<UploadResult> {
  const setId = manifest.setId;
  const manifestKey = `${setId}/${MANIFEST_FILE}`;
  const bytesTotal = manifest.parts.reduce((sum, p) => sum + p.bytes, 0);
  const result = { setId, location: `${destination.location}/${setId}`, parts: manifest.parts.length, bytes: bytesTotal };
  if (await destination.stat(manifestKey)) return { ...result, alreadyPresent: true, resumedParts: 0 };

  let bytesDone = 0;
  let resumedParts = 0;
  for (const [index, part] of manifest.parts.entries()) {
    const key = `${setId}/${part.path}`;
    // Resume an interrupted upload: a part already published under this (unique) set id went
    // through the same size and SHA-256 check before it was published, so the same size means
    // the same bytes.
    const existing = await destination.stat(key);
    if (existing && existing.size === part.bytes) {
      resumedParts += 1;
      bytesDone += part.bytes;
      options.onProgress?.({ partsDone: index + 1, partsTotal: manifest.parts.length, bytesDone, bytesTotal, key });
      continue;
    }
    await destination.save(key, () => createReadStream(join(setDir, ...part.path.split('/')), { highWaterMark: 1024 * 1024 }), {
      size: part.bytes,
      sha256: part.sha256,
      signal: options.signal,
    });
    bytesDone += part.bytes;
    options.onProgress?.({ partsDone: index + 1, partsTotal: manifest.parts.length, bytesDone, bytesTotal, key });
  }
  for (const part of manifest.parts) {
    const info = await destination.stat(`${setId}/${part.path}`);
    if (!info || info.size !== part.bytes) {
      throw new DestinationError('permanent', `${setId}/${part.path} on ${destination.location} is ${info ? `${info.size} bytes` : 'missing'} after upload, expected ${part.bytes}; the set was not published.`);
    }
  }
  const manifestText = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const manifestHash = createHash('sha256').update(manifestText).digest('hex');
  await destination.save(manifestKey, () => Readable.from([manifestText]), { size: manifestText.length, sha256: manifestHash, signal: options.signal });
  return { ...result, alreadyPresent: false, resumedParts };
}

export interface RemoteSet {
  setId: string;
  /** True when manifest.json exists (and parses): a finished upload. */
  complete: boolean;
  manifest?: Manifest;
  /** Every object under "<setId>/". */
  keys: string[];
  bytes: number;
  pinned: boolean;
  /** Set when the manifest exists but cannot be read or is invalid. */
  problem?: string;
}

/**
 * A small object (a manifest, a probe) read whole into memory; parts are streamed instead.
 * `tooLarge`, when given, bounds the read: past `bytes` it fails with the error it makes.
 */
export async function readObject(
  destination: Destination,
  key: string,
  tooLarge?: { bytes: number; error: (sizeSoFar: number) => Error },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  await pipeline(
    await destination.load(key),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (tooLarge && size > tooLarge.bytes) return done(tooLarge.error(size));
        chunks.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}

export async function readRemoteManifest(destination: Destination, setId: string): Promise<Manifest> {
  let text: string;
  try {
    text = (await readObject(destination, `${setId}/${MANIFEST_FILE}`)).toString('utf8');
  } catch (error) {
    if (error instanceof DestinationError && error.kind === 'not-found') {
      throw new BackupError('SET_INCOMPLETE', `${setId} on ${destination.location} has no manifest.json: its upload never finished.`, { cause: error });
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BackupError('SET_DAMAGED', `${setId}/manifest.json on ${destination.location} is not valid JSON.`, { cause: error });
  }
  const problems = validateManifest(parsed);
  if (problems.length > 0) throw new BackupError('SET_DAMAGED', `${setId}/manifest.json on ${destination.location} is invalid: ${problems.join('; ')}`);
  if ((parsed as Manifest).setId !== setId) throw new BackupError('SET_DAMAGED', `${setId}/manifest.json on ${destination.location} describes another set.`);
  return parsed as Manifest;
}

/** Every set on the destination, complete or not (retention needs both), newest first. */
export async function listAllRemoteSets(destination: Destination): Promise<RemoteSet[]> {
  const bySet = new Map<string, { keys: string[]; bytes: number }>();
  for (const object of await destination.list('')) {
    const setId = object.key.split('/')[0]!;
    if (!SET_ID_PATTERN.test(setId) || !object.key.includes('/')) continue;
    const entry = bySet.get(setId) ?? { keys: [], bytes: 0 };
    entry.keys.push(object.key);
    entry.bytes += object.size;
    bySet.set(setId, entry);
  }
  const sets: RemoteSet[] = [];
  for (const [setId, { keys, bytes }] of bySet) {
    const set: RemoteSet = { setId, complete: false, keys, bytes, pinned: keys.includes(`${setId}/${PINNED_FILE}`) };
    if (keys.includes(`${setId}/${MANIFEST_FILE}`)) {
      try {
        set.manifest = await readRemoteManifest(destination, setId);
        set.complete = true;
      } catch (error) {
        if (!(error instanceof BackupError) || error.code !== 'SET_DAMAGED') throw error;
        set.problem = error.message;
      }
    }
    sets.push(set);
  }
  return sets.sort((a, b) => (a.setId < b.setId ? 1 : a.setId > b.setId ? -1 : 0));
}

/** The complete sets only (manifest present and valid), newest first: the backups a destination holds. */
export async function listRemoteSets(destination: Destination): Promise<RemoteSet[]> {
  return (await listAllRemoteSets(destination)).filter((s) => s.complete);
}

export interface RemoteVerifyResult {
  setId: string;
  parts: number;
  bytes: number;
  problems: string[];
}

/**
 * Downloads every part of a remote set and checks size and SHA-256 against its manifest,
 * streaming (memory stays flat whatever the part size). Throws SET_DAMAGED listing every
 * problem; returns the counts when all is well.
 */
export async function verifyRemoteSet(
  destination: Destination,
  setId: string,
  options: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<RemoteVerifyResult> {
  const manifest = await readRemoteManifest(destination, setId);
  const problems: string[] = [];
  let bytes = 0;
  for (const part of manifest.parts) {
    const key = `${setId}/${part.path}`;
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        await destination.load(key),
        new Writable({
          write(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            size += chunk.length;
            options.onBytes?.(chunk.length);
            done();
          },
        }),
        { signal: options.signal },
      );
    } catch (error) {
      if (error instanceof DestinationError && error.kind === 'not-found') {
        problems.push(`${part.path} is missing`);
        continue;
      }
      throw error;
    }
    bytes += size;
    const digest = hash.digest('hex');
    if (size !== part.bytes) problems.push(`${part.path} is ${size} bytes, the manifest says ${part.bytes}`);
    else if (digest !== part.sha256) problems.push(`${part.path} has SHA-256 ${digest}, the manifest says ${part.sha256}`);
  }
  if (problems.length > 0) {
    throw new BackupError('SET_DAMAGED', `Damaged remote set ${setId} on ${destination.location}: ${problems.join('; ')}`);
  }
  return { setId, parts: manifest.parts.length, bytes, problems };
}

/** Removes a remote set: manifest first, so a half-removed set looks incomplete, never complete-but-damaged. */
export async function removeRemoteSet(destination: Destination, set: Pick<RemoteSet, 'setId' | 'keys'>): Promise<void> {
  const manifestKey = `${set.setId}/${MANIFEST_FILE}`;
  if (set.keys.includes(manifestKey)) await destination.remove(manifestKey);
  for (const key of set.keys) if (key !== manifestKey) await destination.remove(key);
}
