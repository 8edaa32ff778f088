/**
 * Repository locks (restic's model): a backup holds a SHARED lock for its whole run, prune an
 * EXCLUSIVE one, so prune never deletes a pack that a running backup has just referenced
 * from its index and will name in its manifest. A lock is a file locks/<runId>.json; taking
 * one writes the file and then looks again, so two runs racing both see each other (and the
 * later check makes at least one of them back off: never both pass).
 *
 * A lock is stale, and ignored (and removed by the next run that sees it), when it was taken
 * on this host by a process that is gone, or when it has not been refreshed for 24 hours
 * (holders refresh every 5 minutes, so only a machine that died or lost the destination
 * leaves one that old).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BackupError } from '../core/errors.js';
import { writeFileAtomic } from '../set/durable.js';
import { LOCKS_DIR } from './layout.js';

export type LockType = 'shared' | 'exclusive';

export interface LockRecord {
  type: LockType;
  runId: string;
  host: string;
  pid: number;
  createdAt: string;
  refreshedAt: string;
}

export interface RepositoryLock {
  readonly type: LockType;
  readonly file: string;
  release(): Promise<void>;
}

export const LOCK_REFRESH_MS = 5 * 60 * 1000;
export const LOCK_STALE_MS = 24 * 60 * 60 * 1000;

export interface LockOptions {
  /** Tests shorten these; production uses the constants above. */
  refreshMs?: number;
  staleMs?: number;
  host?: string;
}

export interface SeenLock {
  file: string;
  record?: LockRecord;
  stale: boolean;
  /** What the lock is, for messages: "a backup (shared lock) of run ... on host ..., pid ..., since ...". */
  description: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(text: string): LockRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockRecord>;
    if ((v.type === 'shared' || v.type === 'exclusive') && typeof v.runId === 'string' && typeof v.host === 'string' && Number.isInteger(v.pid) && typeof v.refreshedAt === 'string') {
      return v as LockRecord;
    }
  } catch {
    // a malformed lock is judged by its file time below
  }
  return undefined;
}

/** Every lock file in the repository, with whether it is stale. */
export async function listLocks(root: string, options: LockOptions = {}): Promise<SeenLock[]> {
  const dir = join(root, LOCKS_DIR);
  const host = options.host ?? hostname();
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const seen: SeenLock[] = [];
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue; // '.x.tmp' files are locks being written
    const file = join(dir, name);
    let text: string;
    let mtimeMs: number;
    try {
      [text, mtimeMs] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mtimeMs)]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw error;
    }
    const record = parseLock(text);
    const refreshed = record ? Date.parse(record.refreshedAt) : mtimeMs;
    const old = !Number.isFinite(refreshed) || Date.now() - refreshed > staleMs;
    const deadHere = record !== undefined && record.host === host && !processAlive(record.pid);
    const description = record
      ? `${record.type === 'shared' ? 'a backup (shared lock)' : 'a prune (exclusive lock)'} of run ${record.runId} on host ${record.host}, pid ${record.pid}, since ${record.createdAt}`
      : `an unreadable lock file ${name}`;
    seen.push({ file, record, stale: old || deadHere, description });
  }
  return seen;
}

function lockedError(root: string, holders: SeenLock[], wanted: LockType): BackupError {
  const what = holders.map((h) => h.description).join('; ');
  const action =
    wanted === 'exclusive'
      ? 'Prune needs the repository to itself: wait until that run has finished and run prune again'
      : 'A backup cannot start while a prune is deleting data: wait until the prune has finished and run the backup again';
  return new BackupError(
    'LOCKED',
    `The repository at ${root} is in use by ${what}. ${action}. If no CiviBackup run is active on that host any more, delete ${holders.map((h) => h.file).join(', ')} (a lock is also ignored by itself once it is 24 hours without refresh).`,
  );
}

/**
 * Takes a lock or throws LOCKED naming who holds the conflicting one. A shared lock conflicts
 * with live exclusive locks; an exclusive lock with every live lock. Stale locks are removed.
 */
export async function acquireLock(root: string, runId: string, type: LockType, options: LockOptions = {}): Promise<RepositoryLock> {
  const dir = join(root, LOCKS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const conflicts = async (own?: string): Promise<SeenLock[]> => {
    const all = await listLocks(root, options);
    for (const lock of all) if (lock.stale && lock.file !== own) await unlink(lock.file).catch(() => undefined);
    return all.filter((l) => !l.stale && l.file !== own && (type === 'exclusive' || l.record?.type !== 'shared'));
  };
  const before = await conflicts();
  if (before.length > 0) throw lockedError(root, before, type);

  const safeRun = /^[A-Za-z0-9_-]{1,64}$/.test(runId) ? runId : randomBytes(6).toString('hex');
  const file = join(dir, `${safeRun}-${type}-${randomBytes(3).toString('hex')}.json`);
  const now = new Date().toISOString();
  const record: LockRecord = { type, runId, host: options.host ?? hostname(), pid: process.pid, createdAt: now, refreshedAt: now };
  await writeFileAtomic(file, `${JSON.stringify(record)}\n`, 0o600);
  // Look again: a run that wrote its lock at the same moment is seen now (and sees us).
  const after = await conflicts(file);
  if (after.length > 0) {
    await unlink(file).catch(() => undefined);
    throw lockedError(root, after, type);
  }

  let released = false;
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    refreshing = writeFileAtomic(file, `${JSON.stringify({ ...record, refreshedAt: new Date().toISOString() })}\n`, 0o600).catch(() => undefined);
  }, options.refreshMs ?? LOCK_REFRESH_MS);
  timer.unref();
  return {
    type,
    file,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await refreshing;
      await unlink(file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },
  };
}
