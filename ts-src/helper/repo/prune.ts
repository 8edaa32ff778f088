/**
 * Prune: delete every pack no kept set needs. The caller holds the EXCLUSIVE lock (taken
 * before it read the manifests, so no backup can finish a set in between) and passes the
 * packs the kept manifests list.
 *
 * Order, so a prune killed at any point leaves every needed blob readable: for each
 * unneeded pack, its index file goes first (fsync), then the pack. Killed in between, the
 * pack is left without an index: garbage nobody references, removed by the next prune. A
 * needed pack is never touched. Also removed: packs without an index (killed backups or
 * prunes), temp packs in tmp/ (killed backups; safe only because the exclusive lock says no
 * backup is running) and temp files of interrupted atomic writes.
 *
 * Not done: repacking packs that are partly unused (restic's "repack"); a pack stays as long
 * as one kept set needs one blob of it.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import { fsyncDirectory } from '../set/durable.js';
import { DATA_DIR, INDEX_DIR, indexPath, isPackName, packPath, TEMP_DIR } from './layout.js';
import { holdsExclusiveLock, LocalRepository, type Repository } from './repository.js';

export interface PruneResult {
  removedPacks: number;
  freedBytes: number;
}

/** Files in <root>/<dir>/<2hex>/, as [prefix dir, name]. */
async function listSharded(root: string, dir: string): Promise<{ shard: string; name: string }[]> {
  const found: { shard: string; name: string }[] = [];
  let shards: string[];
  try {
    shards = await readdir(join(root, dir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw error;
  }
  for (const shard of shards.sort()) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of (await readdir(join(root, dir, shard))).sort()) found.push({ shard: join(root, dir, shard), name });
  }
  return found;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function remove(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Test-only: a hook called before each deletion, so tests can kill the process at chosen points. */
export interface PruneHooks {
  beforeDelete?: (what: 'index' | 'pack' | 'temp', path: string) => Promise<void> | void;
}

export async function pruneRepository(repo: Repository, neededPacks: Set<string>, reporter: Reporter, hooks: PruneHooks = {}): Promise<PruneResult> {
  if (!holdsExclusiveLock(repo)) {
    throw new BackupError('INTERNAL', 'pruneRepository needs the exclusive lock: call repo.lockExclusive(runId) BEFORE reading the manifests that give the needed packs.');
  }
  const root = repo.root;
  const warn = (code: string, message: string, item?: string): void => {
    reporter.emit({ type: 'warning', code, message, ...(item ? { item } : {}) });
  };
  const result: PruneResult = { removedPacks: 0, freedBytes: 0 };
  const packFiles = new Set<string>();
  for (const { name } of await listSharded(root, DATA_DIR)) if (isPackName(name)) packFiles.add(name);
  const indexed = new Set<string>();

  // 1. Unneeded packs with an index: index first, then the pack.
  for (const { shard, name } of await listSharded(root, INDEX_DIR)) {
    const path = join(shard, name);
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      await hooks.beforeDelete?.('temp', path);
      await remove(path); // an index write that was interrupted
      continue;
    }
    const pack = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
    if (!isPackName(pack)) continue;
    if (neededPacks.has(pack)) {
      indexed.add(pack);
      continue;
    }
    const bytes = await sizeOf(packPath(root, pack));
    await hooks.beforeDelete?.('index', path);
    await remove(path);
    await fsyncDirectory(shard);
    if (repo instanceof LocalRepository) repo.table.dropPack(pack);
    await hooks.beforeDelete?.('pack', packPath(root, pack));
    if (await remove(packPath(root, pack))) {
      result.removedPacks += 1;
      result.freedBytes += bytes;
    }
    packFiles.delete(pack);
  }

  // 2. Packs without an index: left by a killed backup or prune. A needed one is damage to report, not garbage.
  for (const pack of packFiles) {
    if (indexed.has(pack)) continue;
    if (neededPacks.has(pack)) {
      warn('PACK_UNINDEXED', `Pack ${pack} is listed by a kept set but has no index file (${indexPath(root, pack)}); it is kept. Run verify to see which sets are affected.`, pack);
      continue;
    }
    const path = packPath(root, pack);
    const bytes = await sizeOf(path);
    await hooks.beforeDelete?.('pack', path);
    if (await remove(path)) {
      result.removedPacks += 1;
      result.freedBytes += bytes;
    }
  }
  for (const pack of neededPacks) {
    if (!packFiles.has(pack)) warn('PACK_MISSING', `Pack ${pack}, listed by a kept set, is not in the repository (${packPath(root, pack)}). Run verify to see which sets are affected.`, pack);
  }

  // 3. Temp packs of killed backups (no backup runs now: we hold the exclusive lock).
  let temps: string[] = [];
  try {
    temps = await readdir(join(root, TEMP_DIR));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of temps) {
    const path = join(root, TEMP_DIR, name);
    const bytes = await sizeOf(path);
    await hooks.beforeDelete?.('temp', path);
    if (await remove(path)) result.freedBytes += bytes;
  }
  return result;
}
