/**
 * Deep verify: restore every database of a set into a scratch database, then recompute
 * each table's row count and canonical row digest from the restored rows, read exactly as
 * the dump reads them (introspect.selectStatement over openConnection's utf8mb4/UTC
 * session, raw bytes, row-digest.ts), and compare them and the object names with the
 * manifest. The scratch database is always dropped afterwards, also on failure.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mysql2';
import type { DatabaseRecord, Manifest } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { ReadCodec } from '../set/codec.js';
import { closeConnection, openConnection } from './connection.js';
import { streamRows } from './dump-table.js';
import type { Dsn } from './dsn.js';
import { listColumns, listObjects, listTables, selectStatement, storedColumns } from './introspect.js';
import { inspectTarget, objectCount, restoreDatabase, type RestoreProgress } from './restore.js';
import { openRestoreConnection, quoteIdentifier, utf8AsBytes } from './restore-exec.js';
import { planRestore } from './restore-plan.js';
import { TableDigest } from './row-digest.js';

export interface DeepVerifyOptions {
  setDir: string;
  manifest: Manifest;
  /** Server (and optionally database) to restore into; a named database must be new or empty. */
  scratch: Dsn;
  /** True when the scratch DSN named no database: a unique one is made for each database. */
  scratchNamed: boolean;
  codec: ReadCodec;
  jobs?: number;
  reporter: Reporter;
  signal?: AbortSignal;
}

export interface TableCheck {
  table: string;
  rows: number;
  expectedRows: number;
  digestOk: boolean;
}

export interface DeepVerifyResult {
  restoreSeconds: number;
  verifySeconds: number;
  tables: number;
  rows: number;
  mismatches: string[];
}

/** Scratch database name: `<source>_civibackup_verify_<random>`, within MariaDB's 64 chars. */
export function scratchDatabaseName(sourceName: string): string {
  const suffix = `_civibackup_verify_${randomBytes(4).toString('hex')}`;
  const base = sourceName.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64 - suffix.length);
  return `${base}${suffix}`;
}

async function tableDigest(connection: Connection, database: string, table: string): Promise<TableDigest> {
  const columns = await listColumns(connection, database, table);
  const digest = new TableDigest();
  const rows = streamRows(connection, selectStatement(table, storedColumns(columns), []));
  for await (const row of rows as AsyncIterable<(Buffer | null)[]>) digest.addRow(row);
  return digest;
}

function sameNames(kind: string, expected: string[] | undefined, expectedCount: number, actual: string[], problems: string[]): void {
  if (expected) {
    const want = [...expected].sort();
    const got = [...actual].sort();
    const missing = want.filter((n) => !got.includes(n));
    const extra = got.filter((n) => !want.includes(n));
    if (missing.length > 0) problems.push(`${kind} missing after restore: ${missing.join(', ')}`);
    if (extra.length > 0) problems.push(`${kind} not in the manifest: ${extra.join(', ')}`);
  } else if (actual.length !== expectedCount) {
    problems.push(`${actual.length} ${kind} after restore, the manifest says ${expectedCount}`);
  }
}

/** Compares one restored database with its manifest record; returns the problems found. */
export async function compareWithManifest(
  dsn: Dsn,
  record: DatabaseRecord,
  jobs: number,
  reporter: Reporter,
): Promise<{ problems: string[]; tables: number; rows: number }> {
  const problems: string[] = [];
  const connections: Connection[] = [];
  let rowsSeen = 0;
  try {
    for (let i = 0; i < jobs; i += 1) connections.push(await openConnection(dsn));
    const first = connections[0];
    const tables = await listTables(first, dsn.database);
    const baseTables = tables.filter((t) => t.type !== 'SEQUENCE').map((t) => t.name);
    sameNames('tables', record.tables.map((t) => t.name), record.counts.tables, baseTables, problems);
    const sequences = tables.filter((t) => t.type === 'SEQUENCE').length;
    if (record.counts.sequences !== undefined && sequences !== record.counts.sequences) {
      problems.push(`${sequences} sequences after restore, the manifest says ${record.counts.sequences}`);
    }
    const objects = await listObjects(first, dsn.database);
    sameNames('views', record.objects?.views, record.counts.views, objects.views, problems);
    sameNames('functions', record.objects?.functions, record.counts.functions, objects.functions, problems);
    sameNames('procedures', record.objects?.procedures, record.counts.procedures, objects.procedures, problems);
    sameNames('triggers', record.objects?.triggers, record.counts.triggers, objects.triggers.map((t) => t.name), problems);
    sameNames('events', record.objects?.events, record.counts.events, objects.events, problems);

    const present = new Set(baseTables);
    const queue = record.tables.filter((t) => present.has(t.name));
    let done = 0;
    const work = async (connection: Connection): Promise<void> => {
      for (;;) {
        const table = queue.shift();
        if (!table) return;
        const digest = await tableDigest(connection, dsn.database, table.name);
        rowsSeen += digest.rows;
        done += 1;
        reporter.progress({ type: 'progress', phase: 'verify', item: table.name, rows: rowsSeen, bytes: 0, itemsDone: done, itemsTotal: record.tables.length });
        if (table.dataSkipped !== undefined) {
          if (digest.rows !== 0) problems.push(`table ${table.name}: its data was skipped at backup but ${digest.rows} rows were restored`);
          continue;
        }
        if (digest.rows !== table.rows) problems.push(`table ${table.name}: ${digest.rows} rows after restore, the manifest says ${table.rows}`);
        else if (table.digest !== undefined && digest.hex() !== table.digest) problems.push(`table ${table.name}: the row digest differs from the manifest (same row count, different content)`);
      }
    };
    await Promise.all(connections.map(work));
    return { problems, tables: record.tables.length, rows: rowsSeen };
  } finally {
    await Promise.all(connections.map((c) => closeConnection(c).catch(() => undefined)));
  }
}

async function dropScratch(dsn: Dsn, database: string, created: boolean): Promise<void> {
  const admin = await openRestoreConnection(dsn, null);
  try {
    if (created) {
      await admin.run(utf8AsBytes(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`));
      return;
    }
    // A database we were given empty: leave it empty.
    const state = await inspectTarget(admin, database);
    if (!state.exists || objectCount(state) === 0) return;
    const db = quoteIdentifier(database);
    await admin.run('SET FOREIGN_KEY_CHECKS = 0');
    for (const v of state.views) await admin.run(utf8AsBytes(`DROP VIEW IF EXISTS ${db}.${quoteIdentifier(v)}`));
    for (const t of state.tables) await admin.run(utf8AsBytes(`DROP TABLE IF EXISTS ${db}.${quoteIdentifier(t)}`));
    for (const f of state.functions) await admin.run(utf8AsBytes(`DROP FUNCTION IF EXISTS ${db}.${quoteIdentifier(f)}`));
    for (const p of state.procedures) await admin.run(utf8AsBytes(`DROP PROCEDURE IF EXISTS ${db}.${quoteIdentifier(p)}`));
    for (const e of state.events) await admin.run(utf8AsBytes(`DROP EVENT IF EXISTS ${db}.${quoteIdentifier(e)}`));
  } finally {
    await admin.close();
  }
}

/**
 * Restores and compares every database of the set. Throws VERIFY_MISMATCH naming the
 * tables and objects that differ; the caller has already checked the part hashes.
 */
export async function deepVerify(options: DeepVerifyOptions): Promise<DeepVerifyResult> {
  const { manifest, reporter } = options;
  const mismatches: string[] = [];
  let restoreSeconds = 0;
  let verifySeconds = 0;
  let tables = 0;
  let rows = 0;
  const progress: RestoreProgress = {
    totalBytes: manifest.databases.reduce((sum, d) => sum + planRestore(manifest, d).rawBytes, 0),
    doneBytes: 0,
  };
  reporter.emit({ type: 'phase', phase: 'restore', totalBytes: progress.totalBytes });
  for (const record of manifest.databases) {
    // The named scratch database takes the main database; any other gets its own new one.
    const useNamed = options.scratchNamed && record.role === 'main';
    const database = useNamed ? options.scratch.database : scratchDatabaseName(record.name);
    const dsn: Dsn = { ...options.scratch, database };
    let created = !useNamed;
    if (useNamed) {
      const admin = await openRestoreConnection(options.scratch, null);
      try {
        const state = await inspectTarget(admin, database);
        if (state.exists && objectCount(state) > 0) {
          throw new BackupError('TARGET_NOT_EMPTY', `The scratch database ${database} is not empty; give a new or empty database (or a DSN without a database name, and a unique one is made and dropped).`);
        }
        created = !state.exists;
      } finally {
        await admin.close();
      }
    }
    try {
      const started = Date.now();
      await restoreDatabase({
        setDir: options.setDir,
        manifest,
        database: record,
        target: dsn,
        codec: options.codec,
        force: false,
        jobs: options.jobs,
        reporter,
        signal: options.signal,
        progress,
      });
      restoreSeconds += (Date.now() - started) / 1000;
      const compareStarted = Date.now();
      reporter.emit({ type: 'phase', phase: 'verify', totalItems: record.tables.length });
      const compared = await compareWithManifest(dsn, record, options.jobs ?? 2, reporter);
      verifySeconds += (Date.now() - compareStarted) / 1000;
      tables += compared.tables;
      rows += compared.rows;
      const label = record.role === 'main' ? '' : `${record.folder}/: `;
      mismatches.push(...compared.problems.map((p) => `${label}${p}`));
    } finally {
      await dropScratch(options.scratch, database, created).catch((error: unknown) => {
        reporter.emit({ type: 'warning', code: 'SCRATCH_DROP', message: `Could not drop the scratch database ${database}: ${(error as Error).message}` });
      });
    }
  }
  return { restoreSeconds, verifySeconds, tables, rows, mismatches };
}
