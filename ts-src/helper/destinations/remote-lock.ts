/**
 * Locks on an offsite destination, for deduplicated (format 2) sets: the repository locks of
 * repo/lock.ts carried over to a key -> bytes store. An upload holds a SHARED lock while it
 * sends packs and until its manifest is published; a remote prune holds an EXCLUSIVE one while
 * it deletes unreferenced packs. Without them, a prune could delete a pack that an upload on
 * another site (or another run) has just found present and is about to reference.
 *
 * A lock is the object locks/<runId>.json. Taking one writes it, then lists locks/ again
 * (object stores have no create-if-absent): two runs racing both see each other, and the
 * rule below makes at least one back off, never both pass:
 *  - an exclusive taker backs off when it sees any other live lock;
 *  - a shared taker backs off when it sees a live exclusive lock.
 * A lock is stale when its holder is gone (same host, dead pid) or when it was not refreshed
 * for LOCK_STALE_MS (holders refresh every LOCK_REFRESH_MS): a machine that died mid-upload.
 */
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { BackupError } from '../core/errors.js';
import { LOCK_REFRESH_MS, LOCK_STALE_MS, type LockRecord, type LockType } from '../repo/lock.js';
import { DestinationError, type Destination } from './destination.js';
import { readObject } from './remote-sets.js';

export const REMOTE_LOCKS_PREFIX = 'locks/';

export interface RemoteLock {
  readonly key: string;
  release(): Promise<void>;
}

export interface RemoteLockOptions {
  /** Tests shorten these. */
  refreshMs?: number;
  staleMs?: number;
  /** How long a shared taker waits for an exclusive lock (a prune) to go away; 0: not at all. */
  waitMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  host?: string;
}

interface SeenRemoteLock {
  key: string;
  record?: LockRecord;
  stale: boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLocks(destination: Destination, options: RemoteLockOptions): Promise<SeenRemoteLock[]> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const host = options.host ?? hostname();
  const seen: SeenRemoteLock[] = [];
  for (const object of await destination.list(REMOTE_LOCKS_PREFIX)) {
    if (!object.key.endsWith('.json')) continue;
    let record: LockRecord | undefined;
    try {
      record = JSON.parse((await readObject(destination, object.key, { bytes: 64 * 1024, error: () => new Error('lock too large') })).toString('utf8')) as LockRecord;
    } catch (error) {
      // Removed between list and read: it is gone, not a lock.
      if (error instanceof DestinationError && error.kind === 'not-found') continue;
      record = undefined;
    }
    const refreshed = record ? Date.parse(record.refreshedAt) : Number.NaN;
    const stale =
      record === undefined ||
      !Number.isFinite(refreshed) ||
      Date.now() - refreshed > staleMs ||
      (record.host === host && !processAlive(record.pid));
    seen.push({ key: object.key, ...(record ? { record } : {}), stale });
  }
  return seen;
}

function describe(lock: SeenRemoteLock): string {
  const r = lock.record;
  return r ? `${r.type === 'exclusive' ? 'a prune' : 'a backup upload'} (run ${r.runId} on ${r.host}, pid ${r.pid}, since ${r.createdAt})` : lock.key;
}

async function saveLock(destination: Destination, key: string, record: LockRecord, signal?: AbortSignal): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(record));
  await destination.save(key, () => Readable.from([bytes]), { size: bytes.length, signal });
}

/**
 * Takes a lock on the destination. Shared: waits up to `waitMs` while a live exclusive lock
 * (a prune) is there, then fails with LOCKED. Exclusive: fails at once with LOCKED when any
 * other live lock is there. Stale locks are ignored (an exclusive taker removes them).
 */
export async function takeRemoteLock(destination: Destination, type: LockType, runId: string, options: RemoteLockOptions = {}): Promise<RemoteLock> {
  const key = `${REMOTE_LOCKS_PREFIX}${runId}.json`;
  const host = options.host ?? hostname();
  const now = new Date().toISOString();
  const record: LockRecord = { type, runId, host, pid: process.pid, createdAt: now, refreshedAt: now };
  const deadline = Date.now() + (options.waitMs ?? 10 * 60 * 1000);
  for (;;) {
    record.refreshedAt = new Date().toISOString();
    await saveLock(destination, key, record, options.signal);
    const others = (await readLocks(destination, options)).filter((l) => l.key !== key);
    const blocking = others.filter((l) => !l.stale && (type === 'exclusive' || l.record?.type === 'exclusive'));
    if (blocking.length === 0) {
      if (type === 'exclusive') for (const stale of others.filter((l) => l.stale)) await destination.remove(stale.key).catch(() => undefined);
      return holdLock(destination, key, record, options);
    }
    await destination.remove(key).catch(() => undefined);
    if (type === 'exclusive' || Date.now() >= deadline) {
      throw new BackupError(
        'LOCKED',
        `${destination.location} is locked by ${blocking.map(describe).join(', ')}. ${type === 'exclusive' ? 'Pruning it now could delete data that run is about to use; run the prune again when it has finished.' : 'Wait until it has finished and run the backup again.'} A lock left by a machine that died is ignored after ${Math.round((options.staleMs ?? LOCK_STALE_MS) / 3_600_000)} hours, or remove ${blocking.map((l) => l.key).join(', ')} by hand once you are sure nothing runs.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 5000));
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
  }
}

function holdLock(destination: Destination, key: string, record: LockRecord, options: RemoteLockOptions): RemoteLock {
  // Refresh so a long upload is never taken for a dead one.
  const timer = setInterval(() => {
    record.refreshedAt = new Date().toISOString();
    saveLock(destination, key, record).catch(() => undefined);
  }, options.refreshMs ?? LOCK_REFRESH_MS);
  timer.unref();
  return {
    key,
    async release() {
      clearInterval(timer);
      await destination.remove(key).catch(() => undefined);
    },
  };
}
