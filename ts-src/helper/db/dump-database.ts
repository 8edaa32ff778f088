/**
 * A consistent dump of one database: into a set folder (db/ or logdb/, format v1) here, or
 * into deduplicated blobs (format v2) through dump-to-blobs.ts, which shares dumpConsistent.
 *
 * Consistency recipe (correctness before speed):
 * 1. Connection B (only when non-transactional tables have data to dump): LOCK TABLES those
 *    tables READ. Writers to them now wait.
 * 2. Connection A: REPEATABLE READ + START TRANSACTION WITH CONSISTENT SNAPSHOT. All InnoDB
 *    (transactional) tables are read through A, one after another, so they share one point
 *    in time; no global lock and no RELOAD privilege are needed. Compression still runs on
 *    the second core because zlib works in the thread pool while A streams rows.
 * 3. B reads its locked tables (unchanged since before the snapshot began, so they match
 *    the snapshot's point in time), then UNLOCK TABLES: their writers wait only that long.
 * 4. A reads schema, data, routines, views, triggers, events, then COMMIT.
 */
import type { Connection } from 'mysql2';
import { availableParallelism } from 'node:os';
import type { DatabaseRecord, PartRecord, TableRecord } from '../../protocol/manifest.js';
import type { Reporter } from '../core/reporter.js';
import { writePart } from '../set/part-writer.js';
import type { WriteCodec } from '../set/codec.js';
import { closeConnection, openConnection, query } from './connection.js';
import { dsnHostLabel, type Dsn } from './dsn.js';
import { routinesSql, schemaSql, triggersEventsSql, viewsSql, postludeSql, preludeSql } from './dump-objects.js';
import { safeName, startTableDump, type TableDumpResult } from './dump-table.js';
import { ROW_DIGEST_VERSION } from './row-digest.js';
import {
  checkDumpPrivileges,
  listColumns,
  listObjects,
  listTables,
  primaryKey,
  serverInfo,
  type ColumnInfo,
  type TableInfo,
} from './introspect.js';
import { quoteIdentifier } from './sql-literal.js';
import { TOOL_VERSION } from '../version.js';

/** CiviCRM's cache tables: structure kept, data skipped unless asked for. */
export const CIVICRM_CACHE_TABLES = [
  'civicrm_cache',
  'civicrm_acl_cache',
  'civicrm_acl_contact_cache',
  'civicrm_group_contact_cache',
  'civicrm_prevnext_cache',
] as const;

export interface DatabaseDumpOptions {
  dsn: Dsn;
  role: 'main' | 'logging';
  /** "db" or "logdb". */
  folder: string;
  setDir: string;
  codec: WriteCodec;
  reporter: Reporter;
  signal?: AbortSignal;
  /** Glob patterns (* and ?) on table names whose data is skipped. */
  excludeData: string[];
  skipCacheData: boolean;
  /** Test and bench knobs. */
  statementBytes?: number;
  partRawBytes?: number;
  /** Tables whose data is estimated above this many bytes are written in parallel lanes. */
  parallelMinBytes?: number;
}

/** Above this estimated size a table is compressed in parallel lanes (one per core). */
export const DEFAULT_PARALLEL_MIN_BYTES = 16 * 1024 * 1024;

export interface DatabaseDumpResult {
  record: DatabaseRecord;
  parts: PartRecord[];
  warnings: string[];
}

/** Glob (* any run, ? one character) matched against the whole table name, case-sensitive. */
export function globToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

export function dataSkipReason(table: string, excludeData: string[], skipCacheData: boolean): string | undefined {
  if (skipCacheData && (CIVICRM_CACHE_TABLES as readonly string[]).includes(table)) return 'CiviCRM cache table (rebuilt by CiviCRM; --no-skip-cache-data keeps it)';
  const hit = excludeData.find((p) => globToRegExp(p).test(table));
  return hit === undefined ? undefined : `excluded by --exclude-data ${hit}`;
}

/**
 * Where a consistent dump's SQL goes: the part files of a set folder (format v1, below) or
 * deduplicated blobs (format v2, dump-to-blobs.ts). The snapshot recipe, table order and
 * table facts are the same for both (dumpConsistent).
 */
export interface DumpSink {
  /**
   * One fixed piece of SQL, called in restore order with its v1 file name: 000-prelude.sql,
   * 100-schema.sql, 750-routines.sql, 800-views.sql, 900-triggers-events.sql, 999-postlude.sql.
   */
  text(name: string, sql: string): Promise<void>;
  /**
   * Starts dumping one table's rows; resolves once the rows are read (the connection is free
   * for the next table), `completion` once they are stored.
   */
  table(request: TableDumpRequest): Promise<{ completion: Promise<TableStored> }>;
}

export interface TableDumpRequest {
  connection: Connection;
  table: TableInfo;
  columns: ColumnInfo[];
  primaryKey: string[];
  maxAllowedPacket: number;
  signal?: AbortSignal;
  onProgress: (rows: number, rawBytes: number) => void;
}

export interface TableStored {
  rows: number;
  digest: string;
  /** Uncompressed SQL bytes of the table's rows. */
  rawBytes: number;
  /** What the table record lists: part paths (v1) or blob ids (v2), in restore order. */
  pieces: string[];
}

export interface ConsistentDumpOptions {
  dsn: Dsn;
  role: 'main' | 'logging';
  /** "db" or "logdb": the record's folder, and which progress phase the events name. */
  folder: string;
  reporter: Reporter;
  signal?: AbortSignal;
  excludeData: string[];
  skipCacheData: boolean;
}

export async function dumpDatabase(options: DatabaseDumpOptions): Promise<DatabaseDumpResult> {
  const parts: PartRecord[] = [];
  const cores = Math.max(1, Math.min(4, availableParallelism()));
  const lanesFor = (table: TableInfo): number =>
    options.codec.compression !== 'none' && table.dataLength >= (options.parallelMinBytes ?? DEFAULT_PARALLEL_MIN_BYTES) ? cores : 1;
  const sink: DumpSink = {
    text: async (name, text) => {
      parts.push(await writePart(options.setDir, `${options.folder}/${name}`, [Buffer.from(text, 'utf8')], { codec: options.codec, signal: options.signal }));
    },
    table: async (request) => {
      const started = await startTableDump({
        connection: request.connection,
        table: request.table.name,
        columns: request.columns,
        primaryKey: request.primaryKey,
        setDir: options.setDir,
        logicalBase: `${options.folder}/200-data-${safeName(request.table.name)}`,
        codec: options.codec,
        signal: options.signal,
        maxAllowedPacket: request.maxAllowedPacket,
        statementBytes: options.statementBytes,
        partRawBytes: options.partRawBytes,
        lanes: lanesFor(request.table),
        onProgress: request.onProgress,
      });
      return {
        completion: started.completion.then((result: TableDumpResult) => {
          parts.push(...result.parts);
          return { rows: result.rows, digest: result.digest, rawBytes: result.rawBytes, pieces: result.parts.map((p) => p.path) };
        }),
      };
    },
  };
  const { record, warnings } = await dumpConsistent(options, sink);
  return { record, parts, warnings };
}

/** The consistent dump (recipe at the top of this file), its SQL handed to `sink`. */
export async function dumpConsistent(options: ConsistentDumpOptions, sink: DumpSink): Promise<{ record: DatabaseRecord; warnings: string[] }> {
  const { dsn, reporter, folder } = options;
  const warnings: string[] = [];
  let snapshotConnection: Connection | undefined;
  let lockConnection: Connection | undefined;
  let succeeded = false;
  /** Tables whose rows are read but whose SQL is still being stored. */
  const finishing: Promise<void>[] = [];
  try {
    snapshotConnection = await openConnection(dsn);
    const a = snapshotConnection;
    const info = await serverInfo(a);
    const [schema] = await query<{ DEFAULT_COLLATION_NAME: string }>(a, 'SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [dsn.database]);
    const tables = await listTables(a, dsn.database);
    const objectsBefore = await listObjects(a, dsn.database);
    const skip = new Map<string, string>();
    for (const t of tables) {
      const reason = t.type === 'SEQUENCE' ? undefined : dataSkipReason(t.name, options.excludeData, options.skipCacheData);
      if (reason) skip.set(t.name, reason);
    }
    const dataTables = tables.filter((t) => t.type !== 'SEQUENCE' && !skip.has(t.name));
    const lockedTables = dataTables.filter((t) => !t.transactional);
    warnings.push(...(await checkDumpPrivileges(a, info, { database: dsn.database, views: objectsBefore.views.length > 0, lockTables: lockedTables.length > 0 })));

    if (lockedTables.length > 0) {
      lockConnection = await openConnection(dsn);
      await query(lockConnection, `LOCK TABLES ${lockedTables.map((t) => `${quoteIdentifier(t.name)} READ`).join(', ')}`);
    }
    await query(a, 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await query(a, 'START TRANSACTION WITH CONSISTENT SNAPSHOT');

    // Everything below reads inside the snapshot (metadata too, so it matches the rows).
    const objects = await listObjects(a, dsn.database);
    if (folder === 'db') reporter.emit({ type: 'phase', phase: 'schema' });
    await sink.text('000-prelude.sql', preludeSql(`CiviBackup ${TOOL_VERSION} dump of database ${quoteIdentifier(dsn.database)} from ${info.version}`));
    await sink.text('100-schema.sql', await schemaSql(a, tables));

    const records = new Map<string, TableRecord>();
    for (const t of tables) {
      if (t.type === 'SEQUENCE') continue;
      records.set(t.name, {
        name: t.name,
        engine: t.engine,
        rows: 0,
        snapshot: t.transactional,
        ...(t.transactional ? {} : { readMode: lockConnection ? 'LOCK TABLES READ, held from before the snapshot until read' : 'no data read' }),
        parts: [],
        ...(skip.has(t.name) ? { dataSkipped: skip.get(t.name) } : {}),
      });
    }

    const totalRows = dataTables.reduce((sum, t) => sum + t.rowsEstimate, 0);
    const totalBytes = dataTables.reduce((sum, t) => sum + t.dataLength, 0);
    if (folder === 'db') reporter.emit({ type: 'phase', phase: 'data', totalRows, totalBytes, totalItems: dataTables.length });
    let done = 0;
    let bytesDone = 0;
    const dumpOne = async (connection: Connection, table: TableInfo): Promise<void> => {
      const columns = await listColumns(a, dsn.database, table.name);
      const key = await primaryKey(a, dsn.database, table.name);
      const started = await sink.table({
        connection,
        table,
        columns,
        primaryKey: key,
        maxAllowedPacket: info.maxAllowedPacket,
        signal: options.signal,
        onProgress: (rows, raw) =>
          reporter.progress({
            type: 'progress',
            phase: folder === 'db' ? 'data' : 'logdb',
            item: table.name,
            rows,
            rowsTotal: table.rowsEstimate,
            bytes: bytesDone + raw,
            bytesTotal: totalBytes,
            itemsDone: done,
            itemsTotal: dataTables.length,
          }),
      });
      const finished = started.completion.then((result: TableStored) => {
        bytesDone += result.rawBytes;
        done += 1;
        const record = records.get(table.name)!;
        record.rows = result.rows;
        record.digest = result.digest;
        record.parts = result.pieces;
        const generated = columns.filter((c) => c.generated).map((c) => c.name);
        if (generated.length > 0) record.generatedColumns = generated;
        reporter.progress(
          { type: 'progress', phase: folder === 'db' ? 'data' : 'logdb', item: table.name, rows: result.rows, bytes: bytesDone, bytesTotal: totalBytes, itemsDone: done, itemsTotal: dataTables.length },
          true,
        );
      });
      finished.catch(() => undefined);
      finishing.push(finished);
      // At most one table is stored behind the one being read: memory stays bounded and
      // a failure (disk full) stops the run within one table.
      while (finishing.length > 1) await finishing.shift();
    };

    if (lockConnection) {
      for (const table of lockedTables) await dumpOne(lockConnection, table);
      // The locked tables' rows are all read: release the lock while compression finishes.
      await query(lockConnection, 'UNLOCK TABLES');
      await closeConnection(lockConnection);
      lockConnection = undefined;
    }
    for (const table of dataTables.filter((t) => t.transactional)) await dumpOne(a, table);
    for (const pendingTable of finishing.splice(0)) await pendingTable;

    if (folder === 'db') reporter.emit({ type: 'phase', phase: 'objects' });
    await sink.text('750-routines.sql', await routinesSql(a, objects));
    const views = await viewsSql(a, objects);
    warnings.push(...views.skipped);
    objects.views = views.written;
    await sink.text('800-views.sql', views.sql);
    await sink.text('900-triggers-events.sql', await triggersEventsSql(a, objects));
    await sink.text('999-postlude.sql', postludeSql());
    await query(a, 'COMMIT');

    const sequences = tables.filter((t) => t.type === 'SEQUENCE');
    const record: DatabaseRecord = {
      role: options.role,
      folder,
      name: dsn.database,
      host: dsnHostLabel(dsn),
      server: { version: info.version, flavor: info.flavor },
      charset: 'utf8mb4',
      ...(schema?.DEFAULT_COLLATION_NAME ? { collation: schema.DEFAULT_COLLATION_NAME } : {}),
      snapshot: {
        isolation: 'REPEATABLE READ',
        consistentSnapshot: true,
        nonTransactionalTables: tables.filter((t) => t.type !== 'SEQUENCE' && !t.transactional).map((t) => t.name),
      },
      tables: [...records.values()],
      rowDigestVersion: ROW_DIGEST_VERSION,
      counts: {
        tables: records.size,
        views: objects.views.length,
        functions: objects.functions.length,
        procedures: objects.procedures.length,
        triggers: objects.triggers.length,
        events: objects.events.length,
        sequences: sequences.length,
      },
      objects: {
        views: objects.views,
        functions: objects.functions,
        procedures: objects.procedures,
        triggers: objects.triggers.map((t) => t.name),
        events: objects.events,
      },
    };
    succeeded = true;
    return { record, warnings };
  } finally {
    // Let writers still running after a failure settle before the caller cleans up.
    await Promise.allSettled(finishing);
    // After a failure a connection may be dead or mid-result: destroy, do not wait on it.
    if (lockConnection) lockConnection.destroy();
    if (snapshotConnection) {
      if (succeeded) await closeConnection(snapshotConnection);
      else snapshotConnection.destroy();
    }
  }
}
