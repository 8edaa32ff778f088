/**
 * A destination directory holding backup sets: creating a set under a lock, finishing it
 * with its manifest, listing complete sets, and clearing what killed runs left behind.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  newSetId,
  MANIFEST_FILE,
  manifestBytes,
  SET_ID_PATTERN,
  sourceIdentity,
  validateManifest,
  type Manifest,
} from '../../protocol/manifest.js';
import { VERIFICATION_FILE, type SetSummary, type VerificationRecord } from '../../protocol/sets.js';
import { countOtherTables } from '../../protocol/civicrm-tables.js';
import { BackupError } from '../core/errors.js';
import { writeFileAtomic } from './durable.js';

export const LOCK_FILE = '.civibackup.lock';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  runId: string;
}

export interface DestinationLock {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One run per destination. A lock whose process is gone (killed, crashed) on this host is
 * stale and taken over; a live one refuses with LOCKED.
 */
export async function acquireLock(destination: string, runId: string): Promise<DestinationLock> {
  const lockPath = join(destination, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(JSON.stringify(info));
      await handle.close();
      return {
        async release() {
          await unlink(lockPath).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await readLock(lockPath);
      if (holder && holder.host === info.host && processAlive(holder.pid) && holder.pid !== process.pid) {
        throw new BackupError('LOCKED', `Another CiviBackup run (pid ${holder.pid}, started ${holder.startedAt}) is using ${destination}.`);
      }
      if (holder && holder.host !== info.host) {
        throw new BackupError('LOCKED', `${destination} is locked by a run on host ${holder.host}; remove ${lockPath} if that run is gone.`);
      }
      await unlink(lockPath).catch(() => undefined);
    }
  }
  throw new BackupError('LOCKED', `Could not lock ${destination}.`);
}

async function readLock(lockPath: string): Promise<LockInfo | null> {
  try {
    return JSON.parse(await readFile(lockPath, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

export async function ensureDestination(destination: string): Promise<string> {
  const abs = resolve(destination);
  try {
    await mkdir(abs, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new BackupError('IO', `Cannot create the destination directory ${abs}: ${(error as Error).message}`, { cause: error });
  }
  return abs;
}

/** Ids of set directories that have no manifest: unfinished, never to be listed. */
export async function findIncompleteSets(destination: string): Promise<string[]> {
  const incomplete: string[] = [];
  for (const entry of await readdir(destination, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || !SET_ID_PATTERN.test(entry.name)) continue;
    const hasManifest = await stat(join(destination, entry.name, MANIFEST_FILE)).then(() => true, () => false);
    if (!hasManifest) incomplete.push(entry.name);
  }
  return incomplete.sort();
}

/**
 * Removes unfinished sets. Only call while holding the destination lock: then no other run
 * can be writing one, so every set without a manifest is a leftover of a killed run.
 */
export async function removeIncompleteSets(destination: string): Promise<string[]> {
  const removed = await findIncompleteSets(destination);
  for (const id of removed) await rm(join(destination, id), { recursive: true, force: true });
  return removed;
}

export interface NewSet {
  id: string;
  dir: string;
  createdAt: Date;
}

export async function createSetDirectory(destination: string, now = new Date()): Promise<NewSet> {
  const id = newSetId(now, randomBytes(3).toString('hex'));
  const dir = join(destination, id);
  await mkdir(dir, { mode: 0o700 });
  return { id, dir, createdAt: now };
}

/** The commit point of a backup: after this the set is complete. */
export async function writeManifest(setDir: string, manifest: Manifest): Promise<void> {
  const problems = validateManifest(manifest);
  if (problems.length > 0) throw new BackupError('INTERNAL', `Refusing to write an invalid manifest: ${problems.join('; ')}`);
  await writeFileAtomic(join(setDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Reads and validates a set's manifest; SET_INCOMPLETE when absent, SET_DAMAGED when unreadable. */
export async function readManifest(setDir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(setDir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      const exists = await stat(setDir).then(() => true, () => false);
      if (!exists) throw new BackupError('USAGE', `There is no backup set at ${setDir}.`);
      throw new BackupError('SET_INCOMPLETE', `${setDir} has no manifest.json: the backup never finished.`);
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BackupError('SET_DAMAGED', `${join(setDir, MANIFEST_FILE)} is not valid JSON.`, { cause: error });
  }
  const problems = validateManifest(parsed);
  if (problems.length > 0) throw new BackupError('SET_DAMAGED', `${join(setDir, MANIFEST_FILE)} is invalid: ${problems.join('; ')}`);
  return parsed as Manifest;
}

export async function readVerification(setDir: string): Promise<VerificationRecord> {
  try {
    const record = JSON.parse(await readFile(join(setDir, VERIFICATION_FILE), 'utf8')) as VerificationRecord;
    if (typeof record.state === 'string' && typeof record.at === 'string') return record;
  } catch {
    /* never verified */
  }
  return { state: 'unverified', at: '' };
}

export async function writeVerification(setDir: string, record: VerificationRecord): Promise<void> {
  await writeFileAtomic(join(setDir, VERIFICATION_FILE), `${JSON.stringify(record, null, 2)}\n`);
}

export function summarizeSet(manifest: Manifest, location: string, verification: VerificationRecord): SetSummary {
  const source = sourceIdentity(manifest);
  return {
    setId: manifest.setId,
    location,
    createdAt: manifest.createdAt,
    finishedAt: manifest.finishedAt,
    bytes: manifestBytes(manifest),
    parts: manifest.parts.length,
    encrypted: manifest.encryption !== null,
    databases: manifest.databases.map((db) => ({
      role: db.role,
      name: db.name,
      tables: db.tables.length,
      rows: db.tables.reduce((sum, t) => sum + t.rows, 0),
      otherTables: countOtherTables(db.tables.map((t) => t.name)),
    })),
    directories: manifest.files.map((f) => ({ label: f.label, files: f.files, bytes: f.bytes })),
    verification,
    format: 1,
    addedBytes: manifestBytes(manifest),
    referencedBytes: manifestBytes(manifest),
    ...(source !== undefined ? { source } : {}),
    ...(manifest.trigger ? { trigger: manifest.trigger } : {}),
  };
}

/** Complete sets under a destination, newest first. Unreadable manifests are skipped. */
export async function listSets(destination: string): Promise<SetSummary[]> {
  const abs = resolve(destination);
  const entries = await readdir(abs, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new BackupError('USAGE', `The destination ${abs} does not exist.`);
    throw error;
  });
  const sets: SetSummary[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !SET_ID_PATTERN.test(entry.name)) continue;
    const dir = join(abs, entry.name);
    try {
      const manifest = await readManifest(dir);
      sets.push(summarizeSet(manifest, dir, await readVerification(dir)));
    } catch {
      /* incomplete or damaged: not a backup */
    }
  }
  return sets.sort((a, b) => (a.setId < b.setId ? 1 : a.setId > b.setId ? -1 : 0));
}
