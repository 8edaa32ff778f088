/**
 * Deduplicated (format 2) sets on an offsite destination: the local repository's layout
 * mirrored key for key (docs/format.md): repository.json, data/<2hex>/<pack>,
 * index/<2hex>/<pack>.json, sets/<setId>/manifest.json, locks/.
 *
 * Upload sends only the packs the destination lacks (each checked on the way by size and
 * SHA-256, which is its name), each pack BEFORE its index file, and the set's manifest LAST,
 * after every pack it needs is confirmed present: a set is complete offsite only when all it
 * needs is there, and an unchanged re-run sends a manifest and nothing else.
 *
 * Several sites may share one prefix: packs are named by their content's hash and index files
 * by their pack, so two repositories' objects never collide; repository.json is written by
 * the first and only read for display; the id key (keys/) never leaves the server: offsite
 * copies are read without it. A prune counts the manifests of EVERY source there, under an
 * exclusive remote lock that no running upload holds (remote-lock.ts).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { isManifestV2, manifestV2Path, SETS_DIR, SET_ID_PATTERN, validateManifestV2, type ManifestV2 } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import { DATA_DIR, INDEX_DIR, REPOSITORY_FILE } from '../repo/layout.js';
import { DestinationError, type Destination, type ObjectInfo } from './destination.js';
import { takeRemoteLock, type RemoteLockOptions } from './remote-lock.js';
import { readObject } from './remote-sets.js';

export function packKey(pack: string): string {
  return `${DATA_DIR}/${pack.slice(0, 2)}/${pack}`;
}

export function indexKey(pack: string): string {
  return `${INDEX_DIR}/${pack.slice(0, 2)}/${pack}.json`;
}

export interface RepositoryUploadProgress {
  packsDone: number;
  packsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  key: string;
}

export interface RepositoryUploadOptions {
  runId: string;
  signal?: AbortSignal;
  onProgress?: (progress: RepositoryUploadProgress) => void;
  lock?: RemoteLockOptions;
}

export interface RepositoryUploadResult {
  setId: string;
  location: string;
  /** Packs the set needs, and how many of them had to be sent. */
  packs: number;
  packsSent: number;
  /** Bytes sent (packs, index files, manifest, repository.json): what this upload cost. */
  bytesSent: number;
  /** Stored bytes of every pack the set needs. */
  bytes: number;
  alreadyPresent: boolean;
}

async function saveSmall(destination: Destination, key: string, bytes: Buffer, signal?: AbortSignal): Promise<void> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await destination.save(key, () => Readable.from([bytes]), { size: bytes.length, sha256, signal });
}

/** Objects under a prefix by key (one paginated listing instead of a stat per object). */
async function objectsUnder(destination: Destination, prefix: string): Promise<Map<string, ObjectInfo>> {
  return new Map((await destination.list(prefix)).map((o) => [o.key, o]));
}

/**
 * Copies one complete local format-2 set: the packs the destination lacks, their index files,
 * then the manifest. `localRoot` is the local destination (the repository's root).
 */
export async function uploadRepositorySet(localRoot: string, manifest: ManifestV2, destination: Destination, options: RepositoryUploadOptions): Promise<RepositoryUploadResult> {
  const setId = manifest.id;
  const manifestKey = manifestV2Path(setId);
  const bytesTotal = manifest.packs.reduce((sum, p) => sum + p.bytes, 0);
  const base = { setId, location: `${destination.location}/${SETS_DIR}/${setId}`, packs: manifest.packs.length, bytes: bytesTotal };
  if (await destination.stat(manifestKey)) return { ...base, packsSent: 0, bytesSent: 0, alreadyPresent: true };

  const lock = await takeRemoteLock(destination, 'shared', options.runId, { ...options.lock, signal: options.signal });
  let bytesSent = 0;
  let packsSent = 0;
  try {
    if (!(await destination.stat(REPOSITORY_FILE))) {
      const text = await readFile(join(localRoot, REPOSITORY_FILE));
      await saveSmall(destination, REPOSITORY_FILE, text, options.signal);
      bytesSent += text.length;
    }
    const presentPacks = await objectsUnder(destination, `${DATA_DIR}/`);
    const presentIndexes = await objectsUnder(destination, `${INDEX_DIR}/`);
    let bytesDone = 0;
    for (const [index, pack] of manifest.packs.entries()) {
      const key = packKey(pack.name);
      // A pack is named by the SHA-256 of its bytes, and an upload is checked against it before
      // it is published: the same name and size there means the same bytes.
      if (presentPacks.get(key)?.size !== pack.bytes) {
        await destination.save(key, () => createReadStream(join(localRoot, ...key.split('/')), { highWaterMark: 1024 * 1024 }), {
          size: pack.bytes,
          sha256: pack.name,
          signal: options.signal,
        });
        bytesSent += pack.bytes;
        packsSent += 1;
      }
      // The index file after its pack: an index never names a pack that is not there.
      const idxKey = indexKey(pack.name);
      if (!presentIndexes.has(idxKey)) {
        const text = await readFile(join(localRoot, ...idxKey.split('/')));
        await saveSmall(destination, idxKey, text, options.signal);
        bytesSent += text.length;
      }
      bytesDone += pack.bytes;
      options.onProgress?.({ packsDone: index + 1, packsTotal: manifest.packs.length, bytesDone, bytesTotal, key });
    }
    // Everything the set needs is there (a pack seen in the listing may have been pruned since
    // by a prune that did not see our lock in time: check again, cheaply, by listing).
    const nowPresent = await objectsUnder(destination, `${DATA_DIR}/`);
    const nowIndexes = await objectsUnder(destination, `${INDEX_DIR}/`);
    const missing = manifest.packs.filter((p) => nowPresent.get(packKey(p.name))?.size !== p.bytes || !nowIndexes.has(indexKey(p.name)));
    if (missing.length > 0) {
      throw new DestinationError('permanent', `${missing.length} pack(s) of set ${setId} are missing or wrong on ${destination.location} after upload (first: ${packKey(missing[0]!.name)}); the set was not published there. Run the backup again.`);
    }
    const manifestText = await readFile(join(localRoot, ...manifestKey.split('/')));
    await saveSmall(destination, manifestKey, manifestText, options.signal);
    bytesSent += manifestText.length;
  } finally {
    await lock.release();
  }
  return { ...base, packsSent, bytesSent, alreadyPresent: false };
}

export interface RemoteV2Set {
  setId: string;
  manifest?: ManifestV2;
  /** Objects under sets/<setId>/ (the manifest, a pin). */
  keys: string[];
  problem?: string;
}

/** Every format-2 set on the destination (a manifest under sets/), newest first. */
export async function listRemoteV2Sets(destination: Destination): Promise<RemoteV2Set[]> {
  const bySet = new Map<string, string[]>();
  for (const object of await destination.list(`${SETS_DIR}/`)) {
    const setId = object.key.split('/')[1] ?? '';
    if (!SET_ID_PATTERN.test(setId)) continue;
    bySet.set(setId, [...(bySet.get(setId) ?? []), object.key]);
  }
  const sets: RemoteV2Set[] = [];
  for (const [setId, keys] of bySet) {
    const set: RemoteV2Set = { setId, keys };
    if (keys.includes(manifestV2Path(setId))) {
      try {
        const parsed: unknown = JSON.parse((await readObject(destination, manifestV2Path(setId), { bytes: 16 * 1024 * 1024, error: () => new Error('manifest too large') })).toString('utf8'));
        const problems = validateManifestV2(parsed);
        if (problems.length > 0 || !isManifestV2(parsed) || parsed.id !== setId) set.problem = `manifest invalid: ${problems.join('; ') || 'describes another set'}`;
        else set.manifest = parsed;
      } catch (error) {
        if (error instanceof DestinationError && error.kind === 'not-found') continue;
        set.problem = `manifest unreadable: ${(error as Error).message}`;
      }
    }
    sets.push(set);
  }
  return sets.sort((a, b) => (a.setId < b.setId ? 1 : a.setId > b.setId ? -1 : 0));
}

/** Removes a remote format-2 set's manifest (its packs stay until a prune finds them unneeded). */
export async function removeRemoteV2Set(destination: Destination, set: RemoteV2Set): Promise<void> {
  const manifestKey = manifestV2Path(set.setId);
  if (set.keys.includes(manifestKey)) await destination.remove(manifestKey);
  for (const key of set.keys) if (key !== manifestKey) await destination.remove(key);
}

export interface RemotePackPruneResult {
  location: string;
  removedPacks: number;
  freedBytes: number;
  /** True when another run held a lock, so nothing was deleted this time. */
  skipped?: string;
}

/**
 * Deletes the packs no format-2 manifest on the destination needs (of any source), index file
 * first, then the pack: a prune killed half-way leaves at most a pack without its index
 * (unreferenced; the next prune removes it), never an index naming a missing pack that a set
 * needs. Runs under an exclusive remote lock; when a backup upload holds a lock, it skips
 * (nothing is lost by pruning later) and says so.
 */
export async function pruneRemoteRepository(destination: Destination, runId: string, reporter?: Reporter, options: { lock?: RemoteLockOptions; signal?: AbortSignal } = {}): Promise<RemotePackPruneResult> {
  const result: RemotePackPruneResult = { location: destination.location, removedPacks: 0, freedBytes: 0 };
  let lock;
  try {
    lock = await takeRemoteLock(destination, 'exclusive', runId, { ...options.lock, signal: options.signal });
  } catch (error) {
    if (error instanceof BackupError && error.code === 'LOCKED') {
      result.skipped = error.message;
      reporter?.emit({ type: 'warning', code: 'REMOTE_PRUNE_SKIPPED', message: `Unused data on ${destination.location} was not removed this time: ${error.message}` });
      return result;
    }
    throw error;
  }
  try {
    const needed = new Set<string>();
    for (const set of await listRemoteV2Sets(destination)) {
      if (set.problem) {
        // A manifest that cannot be read might need any pack: delete nothing.
        throw new BackupError('SET_DAMAGED', `${destination.location}: ${SETS_DIR}/${set.setId}: ${set.problem}. Nothing was pruned there; look at that set (remove it if it is garbage) and prune again.`);
      }
      for (const pack of set.manifest?.packs ?? []) needed.add(pack.name);
    }
    const indexes = await objectsUnder(destination, `${INDEX_DIR}/`);
    // The packs left after this prune (nothing adds one while the exclusive lock is held).
    const packs = new Set<string>();
    for (const object of await destination.list(`${DATA_DIR}/`)) {
      const pack = object.key.split('/').pop() ?? '';
      if (needed.has(pack)) {
        packs.add(pack);
        continue;
      }
      const idx = indexKey(pack);
      if (indexes.has(idx)) await destination.remove(idx);
      await destination.remove(object.key);
      result.removedPacks += 1;
      result.freedBytes += object.size;
    }
    // Index files whose pack is gone (a prune killed between the two deletions, reversed).
    for (const key of indexes.keys()) {
      const pack = key.split('/').pop()?.replace(/\.json$/, '');
      if (pack && !packs.has(pack) && !needed.has(pack)) await destination.remove(key);
    }
  } finally {
    await lock.release();
  }
  return result;
}

/**
 * Checks a format-2 set on the destination: its manifest, and every pack it needs downloaded
 * and hashed (a pack's name is the SHA-256 of its bytes) with its index file present. Streams;
 * throws SET_DAMAGED listing every problem.
 */
export async function verifyRemoteRepositorySet(
  destination: Destination,
  setId: string,
  options: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<{ setId: string; parts: number; bytes: number }> {
  const set = (await listRemoteV2Sets(destination)).find((s) => s.setId === setId);
  if (!set?.manifest) {
    throw new BackupError(set?.problem ? 'SET_DAMAGED' : 'SET_INCOMPLETE', `${SETS_DIR}/${setId} on ${destination.location}: ${set?.problem ?? 'no manifest (the upload never finished, or no such set)'}.`);
  }
  const indexes = await objectsUnder(destination, `${INDEX_DIR}/`);
  const problems: string[] = [];
  let bytes = 0;
  for (const pack of set.manifest.packs) {
    if (!indexes.has(indexKey(pack.name))) problems.push(`${indexKey(pack.name)} is missing`);
    const hash = createHash('sha256');
    let size = 0;
    try {
      const stream = await destination.load(packKey(pack.name));
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
        hash.update(chunk);
        size += chunk.length;
        options.onBytes?.(chunk.length);
      }
    } catch (error) {
      if (error instanceof DestinationError && error.kind === 'not-found') {
        problems.push(`${packKey(pack.name)} is missing`);
        continue;
      }
      throw error;
    }
    bytes += size;
    if (size !== pack.bytes) problems.push(`${packKey(pack.name)} is ${size} bytes, the manifest says ${pack.bytes}`);
    else if (hash.digest('hex') !== pack.name) problems.push(`${packKey(pack.name)} does not hash to its name (damaged)`);
  }
  if (problems.length > 0) throw new BackupError('SET_DAMAGED', `Damaged remote set ${setId} on ${destination.location}: ${problems.join('; ')}`);
  return { setId, parts: set.manifest.packs.length, bytes };
}
