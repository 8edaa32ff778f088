/**
 * Deep verify: restore every database of a set into a scratch database, then recompute
 * each table's row count and canonical row digest from the restored rows, read exactly as
 * the dump reads them (introspect.selectStatement over openConnection's utf8mb4/UTC
 * session, raw bytes, row-digest.ts), and compare them and the object names with the
 * manifest. The scratch database is always dropped afterwards, also on failure.
 *
 * Digests overlap the restore: a table is read as soon as its rows and indexes are in,
 * on separate connections, while other tables still load; every digest is taken before
 * routines, triggers and events are created (an event could otherwise change rows).
 * `verifySeconds` is the time spent waiting for digests after the data was loaded.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mysql2';
import type { DatabaseRecord, Manifest } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { ReadCodec } from '../set/codec.js';
import { closeConnection, openConnection } from './connection.js';
import { readRowPackets } from './row-packets.js';
import type { Dsn } from './dsn.js';
import { listColumns, listObjects, listTables, selectStatement, storedColumns } from './introspect.js';
import { charsetClause, inspectTarget, objectCount, restoreDatabase, type RestoreProgress, type RestoreSource } from './restore.js';
import { currentAccount, grantDatabaseStatements } from './grants.js';
import { openRestoreConnection, quoteIdentifier, utf8AsBytes } from './restore-exec.js';
import { planRestore } from './restore-plan.js';
import { TableDigest, type RowDigestVersion } from './row-digest.js';

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
  /**
   * Where each database's SQL comes from (set/set-reader.ts restoreSource, either format);
   * default: the v1 part files in setDir.
   */
  sourceOf?: (database: DatabaseRecord) => RestoreSource;
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

/** The table's digest as the manifest's version defines it, hashing each row packet where it lies. */
async function tableDigest(connection: Connection, database: string, table: string, version: RowDigestVersion): Promise<TableDigest> {
  const stored = storedColumns(await listColumns(connection, database, table));
  const digest = new TableDigest(version);
  const count = stored.length;
  await readRowPackets(connection, selectStatement(table, stored, []), (buffer, start, end) => digest.addEncodedRow(buffer, start, end, count)).done;
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

/**
 * Digests tables of a restored database on its own connections, table by table as the
 * restore reports them ready, so reading overlaps loading.
 */
export class DigestPool {
  private readonly queue: string[] = [];
  private readonly seen = new Set<string>();
  private readonly connections: Connection[] = [];
  private workers: Promise<void>[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private failure: unknown;
  readonly problems: string[] = [];
  rows = 0;
  done = 0;

  constructor(
    private readonly dsn: Dsn,
    private readonly record: DatabaseRecord,
    private readonly size: number,
    private readonly reporter: Reporter,
  ) {}

  /** Queues a table (once); starts the connections on first use. */
  add(table: string): void {
    if (this.seen.has(table) || !this.record.tables.some((t) => t.name === table)) return;
    this.seen.add(table);
    this.queue.push(table);
    if (this.workers.length === 0) this.workers = Array.from({ length: this.size }, () => this.work());
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async work(): Promise<void> {
    let connection: Connection | undefined;
    try {
      connection = await openConnection(this.dsn);
      this.connections.push(connection);
      for (;;) {
        const table = this.queue.shift();
        if (table === undefined) {
          if (this.closed) return;
          await new Promise<void>((resolve) => {
            const previous = this.wake;
            this.wake = () => {
              previous?.();
              resolve();
            };
          });
          continue;
        }
        await this.check(connection, table);
      }
    } catch (error) {
      this.failure ??= error;
    }
  }

  private async check(connection: Connection, name: string): Promise<void> {
    const table = this.record.tables.find((t) => t.name === name)!;
    let digest: TableDigest;
    try {
      digest = await tableDigest(connection, this.dsn.database, name, this.record.rowDigestVersion ?? 1);
    } catch (error) {
      // A table the restore did not create: compareObjects names it.
      if ((error as { code?: string }).code === 'ER_NO_SUCH_TABLE') return;
      throw error;
    }
    this.rows += digest.rows;
    this.done += 1;
    this.reporter.progress({ type: 'progress', phase: 'verify', item: name, rows: this.rows, bytes: 0, itemsDone: this.done, itemsTotal: this.record.tables.length });
    if (table.dataSkipped !== undefined) {
      if (digest.rows !== 0) this.problems.push(`table ${name}: its data was skipped at backup but ${digest.rows} rows were restored`);
      return;
    }
    if (digest.rows !== table.rows) this.problems.push(`table ${name}: ${digest.rows} rows after restore, the manifest says ${table.rows}`);
    else if (table.digest !== undefined && digest.hex() !== table.digest) this.problems.push(`table ${name}: the row digest differs from the manifest (same row count, different content)`);
  }

  /** Waits for every queued table; rethrows a read failure. */
  async finish(): Promise<void> {
    this.closed = true;
    const wake = this.wake;
    this.wake = null;
    wake?.();
    await Promise.all(this.workers);
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    const wake = this.wake;
    this.wake = null;
    wake?.();
    await Promise.all(this.workers);
    await Promise.all(this.connections.map((c) => closeConnection(c).catch(() => undefined)));
  }
}

/** Compares the restored tables' names and the stored objects with the manifest. */
export async function compareObjects(dsn: Dsn, record: DatabaseRecord): Promise<{ problems: string[]; presentTables: string[] }> {
  const problems: string[] = [];
  const connection = await openConnection(dsn);
  try {
    const tables = await listTables(connection, dsn.database);
    const baseTables = tables.filter((t) => t.type !== 'SEQUENCE').map((t) => t.name);
    sameNames('tables', record.tables.map((t) => t.name), record.counts.tables, baseTables, problems);
    const sequences = tables.filter((t) => t.type === 'SEQUENCE').length;
    if (record.counts.sequences !== undefined && sequences !== record.counts.sequences) {
      problems.push(`${sequences} sequences after restore, the manifest says ${record.counts.sequences}`);
    }
    const objects = await listObjects(connection, dsn.database);
    sameNames('views', record.objects?.views, record.counts.views, objects.views, problems);
    sameNames('functions', record.objects?.functions, record.counts.functions, objects.functions, problems);
    sameNames('procedures', record.objects?.procedures, record.counts.procedures, objects.procedures, problems);
    sameNames('triggers', record.objects?.triggers, record.counts.triggers, objects.triggers.map((t) => t.name), problems);
    sameNames('events', record.objects?.events, record.counts.events, objects.events, problems);
    return { problems, presentTables: baseTables };
  } finally {
    await closeConnection(connection);
  }
}

/**
 * Makes the per-run scratch database of a scratch DSN without a database name. A user with
 * only CiviCRM's privileges on its own database may not create one: the message says what to
 * grant, or which database to name instead.
 */
async function createScratchDatabase(scratch: Dsn, database: string, record: DatabaseRecord): Promise<void> {
  const admin = await openRestoreConnection(scratch, null);
  try {
    await admin.run(utf8AsBytes(`CREATE DATABASE ${quoteIdentifier(database)}${charsetClause(record)}`));
  } catch (error) {
    const account = await currentAccount((sql) => admin.rows(sql));
    const suffix = database.slice(database.lastIndexOf('_civibackup_verify_'));
    const pattern = `${database.slice(0, database.length - suffix.length)}_civibackup_verify_`.replace(/[_%\\]/g, '\\$&');
    throw new BackupError(
      'DB_PRIVILEGE',
      `A deep verify restores the set into a scratch database, and the user ${account} may not create one (${error instanceof Error ? error.message : String(error)}). Either give a scratch database the user may use: as an administrator run ${grantDatabaseStatements('civibackup_scratch', account, true)} and pass --scratch-db with that database name (the extension: the setting civibackup_scratch_database); or let the user create and drop its own: GRANT ALL PRIVILEGES ON \`${pattern}%\`.* TO ${account};`,
      { cause: error },
    );
  } finally {
    await admin.close();
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
    totalBytes: manifest.databases.reduce((sum, d) => sum + (options.sourceOf ? options.sourceOf(d).plan.rawBytes : planRestore(manifest, d).rawBytes), 0),
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
    if (!useNamed) await createScratchDatabase(options.scratch, database, record);
    const digests = new DigestPool(dsn, record, Math.max(1, options.jobs ?? 2), reporter);
    let waited = 0;
    try {
      const started = Date.now();
      const sql = options.sourceOf ? { source: options.sourceOf(record) } : { setDir: options.setDir, manifest, codec: options.codec };
      await restoreDatabase({
        ...sql,
        database: record,
        target: dsn,
        force: false,
        jobs: options.jobs,
        reporter,
        signal: options.signal,
        progress,
        // Digest each table as soon as it is complete, while others load; all of them
        // before any trigger or event exists that could change rows.
        onTableReady: (table) => digests.add(table),
        beforeObjects: async () => {
          for (const table of record.tables) digests.add(table.name);
          const waitStarted = Date.now();
          await digests.finish();
          waited = (Date.now() - waitStarted) / 1000;
        },
      });
      verifySeconds += waited;
      restoreSeconds += (Date.now() - started) / 1000 - waited;
      const compared = await compareObjects(dsn, record);
      tables += record.tables.length;
      rows += digests.rows;
      const label = record.role === 'main' ? '' : `${record.folder}/: `;
      mismatches.push(...[...compared.problems, ...digests.problems].map((p) => `${label}${p}`));
    } finally {
      await digests.close();
      await dropScratch(options.scratch, database, created).catch((error: unknown) => {
        reporter.emit({ type: 'warning', code: 'SCRATCH_DROP', message: `Could not drop the scratch database ${database}: ${(error as Error).message}` });
      });
    }
  }
  return { restoreSeconds, verifySeconds, tables, rows, mismatches };
}
