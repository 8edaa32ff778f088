/**
 * One backup run, callable without the CLI. Format 2 (deduplicated sets, the default) is in
 * run-backup-v2.ts; format 1 here: lock the destination, clear what killed runs
 * left, write the database(s), the logging database, the directories, and the manifest
 * LAST (the commit point). Whatever fails, the lock is released and the set directory is
 * left without a manifest (then removed), so no failed run ever lists as a backup.
 */
import { runWarnings } from './run-warnings.js';
import { hostname } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DestinationSpec, DirectorySpec, RetentionPolicy } from '../../protocol/job.js';
import { copyOffsiteAndPrune, type AfterBackupSummary } from '../destinations/after-backup.js';
import type { TreeChanges } from '../../protocol/tree-changes.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, manifestBytes, type DatabaseRecord, type FilesRecord, type Manifest, type PartRecord } from '../../protocol/manifest.js';
import { BackupError, toBackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { WriteCodec } from '../set/codec.js';
import { fsyncDirectory } from '../set/durable.js';
import { acquireLock, createSetDirectory, ensureDestination, removeIncompleteSets, writeManifest } from '../set/set-store.js';
import { describeDsn, type Dsn } from '../db/dsn.js';
import { dumpDatabase } from '../db/dump-database.js';
import { archiveDirectories } from '../files/index.js';
import { TOOL_VERSION } from '../version.js';
import { runBackupV2 } from './run-backup-v2.js';

export interface BackupOptions {
  to: string;
  /** Absent with --no-db: directories only. */
  dsn?: Dsn;
  loggingDsn?: Dsn;
  codec: WriteCodec;
  reporter: Reporter;
  signal?: AbortSignal;
  excludeData?: string[];
  skipCacheData?: boolean;
  files?: DirectorySpec[];
  /** Exclude patterns for directory archives (files engineer's syntax). */
  filesExclude?: string[];
  /** Keep ConfigAndLog/ in directory archives; leave out `upload/` at their roots. */
  filesIncludeLogs?: boolean;
  filesExcludeUploadDir?: boolean;
  trigger?: string;
  civicrmVersion?: string;
  site?: string;
  /** An explicit source id (manifest source.id): retention prunes only sets of the same source. */
  sourceId?: string;
  /** Warnings gathered before the run (DSN on argv...), carried into the manifest. */
  warnings?: string[];
  /** Offsite copies and retention once the set is complete (destinations/after-backup.ts). */
  offsite?: DestinationSpec[];
  retention?: RetentionPolicy;
  /** Where destination secrets are read from (the variables the job names). */
  env?: NodeJS.ProcessEnv;
  /** Set format: 2 (deduplicated, the default) or 1 (a set directory of parts, as 0.1.0 wrote). */
  format?: 1 | 2;
  /** Where a v2 backup keeps its state (idKey, tree caches); see run-backup-v2.ts. */
  stateDir?: string;
  /** Test and bench knobs. */
  statementBytes?: number;
  partRawBytes?: number;
  parallelMinBytes?: number;
}

export interface BackupSummary {
  set: string;
  setId: string;
  bytes: number;
  rawBytes: number;
  parts: number;
  tables: number;
  rows: number;
  directories: number;
  durations: { databaseMs: number; loggingMs: number; filesMs: number; totalMs: number };
  warnings: string[];
  /** Offsite copies and retention, when the job asked for them. */
  offsite?: AfterBackupSummary['offsite'];
  retention?: { removed: string[]; kept: number; source?: string; otherSources: number };
  /** 1 or 2 (absent: 1). */
  format?: 1 | 2;
  /** Format 2: what the run stored and what the set references. */
  dedup?: { addedBytes: number; referencedBytes: number; newBlobs: number; blobs: number; packs: number; unchangedFiles: number; readBytes: number };
  /**
   * Format 2, when CiviCRM's code (label `code`) was backed up: what changed in it since the
   * previous set. It names files, so it is only in this result (the site keeps it privately),
   * never in the manifest.
   */
  codeChanges?: TreeChanges;
}

/** Maps an error from the dump to a stable code, naming what was being written. */
function mapRunError(error: unknown): BackupError {
  const mapped = toBackupError(error);
  if (mapped.code === 'DB_LOST') {
    return new BackupError('DB_LOST', `${mapped.message.replace(/\.?$/, '.')} The backup stopped; no complete set was written.`, { cause: error });
  }
  return mapped;
}

export async function runBackup(options: BackupOptions): Promise<BackupSummary> {
  try {
    return (options.format ?? 2) === 2 ? await runBackupV2(options) : await runBackupV1(options);
  } catch (error) {
    const mapped = mapRunError(error);
    if (options.dsn && (mapped.code === 'DB_CONNECT' || mapped.code === 'DB_PRIVILEGE')) {
      // Name the account in the message so the person knows which DSN to fix.
      if (!mapped.message.includes(options.dsn.user)) mapped.message = `${describeDsn(options.dsn)}: ${mapped.message}`;
    }
    throw mapped;
  }
}

/** Format 1: a set directory of parts (0.1.0's format), kept for `--format 1`. */
async function runBackupV1(options: BackupOptions): Promise<BackupSummary> {
  const started = Date.now();
  const { reporter } = options;
  const { warnings, warn } = runWarnings(reporter, options.warnings);
  reporter.emit({ type: 'phase', phase: 'prepare' });
  const destination = await ensureDestination(options.to);
  const lock = await acquireLock(destination, reporter.runId);
  let setDir: string | undefined;
  let committed = false;
  try {
    for (const leftover of await removeIncompleteSets(destination)) {
      warn('INCOMPLETE_SET_REMOVED', `Removed ${join(destination, leftover)}: an unfinished set left by an earlier run that was interrupted.`);
    }
    const set = await createSetDirectory(destination);
    setDir = set.dir;
    const parts: PartRecord[] = [];
    const databases: DatabaseRecord[] = [];
    let files: FilesRecord[] = [];

    // The main and the logging database are dumped alike, each into its own folder.
    const dir = set.dir;
    const dumpOne = (dsn: Dsn, role: 'main' | 'logging', folder: string) =>
      dumpDatabase({
        dsn,
        role,
        folder,
        setDir: dir,
        codec: options.codec,
        reporter,
        signal: options.signal,
        excludeData: options.excludeData ?? [],
        skipCacheData: options.skipCacheData ?? true,
        statementBytes: options.statementBytes,
        partRawBytes: options.partRawBytes,
        parallelMinBytes: options.parallelMinBytes,
      });

    const dbStarted = Date.now();
    if (options.dsn) {
      const main = await dumpOne(options.dsn, 'main', 'db');
      parts.push(...main.parts);
      databases.push(main.record);
      for (const w of main.warnings) warn('DB', w);
    }
    const databaseMs = Date.now() - dbStarted;

    const logStarted = Date.now();
    if (options.loggingDsn) {
      reporter.emit({ type: 'phase', phase: 'logdb' });
      const logging = await dumpOne(options.loggingDsn, 'logging', 'logdb');
      parts.push(...logging.parts);
      databases.push(logging.record);
      for (const w of logging.warnings) warn('DB', w);
    }
    const loggingMs = Date.now() - logStarted;

    const filesStarted = Date.now();
    if (options.files && options.files.length > 0) {
      const archived = await archiveDirectories(options.files, {
        setDir,
        codec: options.codec,
        reporter,
        signal: options.signal,
        destination,
        exclude: options.filesExclude,
        includeLogs: options.filesIncludeLogs,
        excludeUploadDir: options.filesExcludeUploadDir,
      });
      parts.push(...archived.parts);
      files = archived.files;
      warnings.push(...archived.warnings);
    }
    const filesMs = Date.now() - filesStarted;

    reporter.emit({ type: 'phase', phase: 'manifest' });
    for (const folder of new Set(parts.map((p) => p.path.split('/')[0]))) await fsyncDirectory(join(setDir, folder));
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_VERSION,
      setId: set.id,
      tool: { name: 'civibackup', version: TOOL_VERSION, node: process.versions.node },
      createdAt: set.createdAt.toISOString(),
      finishedAt: new Date().toISOString(),
      source: {
        hostname: hostname(),
        ...(options.civicrmVersion ? { civicrmVersion: options.civicrmVersion } : {}),
        ...(options.site ? { site: options.site } : {}),
        ...(options.sourceId ? { id: options.sourceId } : {}),
      },
      compression: { algorithm: options.codec.compression, level: options.codec.level },
      encryption: options.codec.encryption
        ? { recipients: options.codec.encryption.recipients, passphrase: options.codec.encryption.passphrase !== undefined }
        : null,
      parts,
      databases,
      files,
      warnings,
      ...(options.trigger ? { trigger: options.trigger } : {}),
    };
    await writeManifest(setDir, manifest);
    committed = true;
    // Offsite copies, then retention (local and remote), still under the lock.
    const after =
      (options.offsite?.length ?? 0) > 0 || options.retention
        ? await copyOffsiteAndPrune({ destination, setDir, manifest, offsite: options.offsite, retention: options.retention, reporter, env: options.env ?? process.env, signal: options.signal })
        : undefined;
    const tables = databases.reduce((sum, d) => sum + d.tables.length, 0);
    const rows = databases.reduce((sum, d) => sum + d.tables.reduce((s, t) => s + t.rows, 0), 0);
    return {
      set: setDir,
      setId: set.id,
      bytes: manifestBytes(manifest),
      rawBytes: parts.reduce((sum, p) => sum + p.rawBytes, 0),
      parts: parts.length,
      tables,
      rows,
      directories: files.length,
      durations: { databaseMs, loggingMs, filesMs, totalMs: Date.now() - started },
      warnings,
      ...(after ? { offsite: after.offsite, retention: after.retention && { removed: after.retention.removed, kept: after.retention.kept, source: after.retention.source, otherSources: after.retention.leftAlone.length } } : {}),
    };
  } finally {
    if (!committed && setDir) {
      // An unfinished set has no manifest and never lists; remove it now rather than later.
      await rm(setDir, { recursive: true, force: true }).catch(() => undefined);
    }
    await lock.release();
  }
}
