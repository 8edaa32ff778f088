/**
 * The SQL of a database stored in a deduplicated set (format v2, dump-to-blobs.ts), read back
 * from its blobs for restore, deep verify and plain export. One blob is held at a time (plus
 * the next one, fetched while the current one is consumed), so memory stays at ~2 MiB
 * whatever the database size.
 *
 * Exports (for set/set-reader.ts, db/restore.ts and deep verify):
 *
 * - `databaseSqlFromBlobs(record, reader, options?) -> AsyncIterable<Buffer>`
 *   The whole database's SQL in restore order, exactly what `cat` of a v1 set's db/*.sql
 *   files in name order gives: schemaBlobs (prelude, CREATE TABLEs), each table's blobs in
 *   record order, objectBlobs (routines, views, triggers, events, postlude). Pipe it into
 *   `mariadb TARGET` or split it with readStatements(Readable.from(...)).
 *
 * - `databaseSqlPieces(record, reader, options?) -> DatabaseSqlPieces`
 *   The same SQL cut the way db/restore.ts works on a v1 set's parts (restore-plan.ts):
 *     prelude  the session settings; run on EVERY restore connection first (v1: 000-prelude)
 *     schema   CREATE TABLE / sequences; serially, before the data (v1: 100-schema)
 *     tables   one piece per table with data (blobs non-empty), `table` set, `rawBytes` for
 *              largest-first scheduling; the pieces may run in parallel on different
 *              connections, but ONE table's piece runs in order on one connection (a row too
 *              large for a statement is assembled in session variables over several
 *              statements) (v1: 200-data-<table>[.NNNN])
 *     objects  routines, views, triggers, events, postlude; serially, after the data and
 *              keys (v1: 750, 800, 900, 999)
 *   Each piece: `name` (a v1-like path such as "db/200-data-civicrm_contact.sql", for
 *   progress and error messages), `blobs`, `rawBytes` (from the index), `sql()` (its bytes as
 *   an AsyncIterable<Buffer>, one blob at a time) and `open()` (the same as a byte Readable,
 *   what readStatements() and pipeline() take).
 *
 * - `blobsSql(ids, reader, options?) -> AsyncGenerator<Buffer>`
 *   The concatenated content of any list of blobs, one at a time, in order.
 *
 * - `blobRestoreSource(record, reader, options?) -> { database, source }`
 *   What db/restore.ts restoreDatabase({ database, source, target, force, reporter, ... })
 *   takes to restore a v2 database with its parallel, deferred-index machinery: `database`
 *   is the record in v1 shape (folder "db"/"logdb", each table's `parts` = its piece's name),
 *   `source` the plan (prelude, schema, per-table data, objects) and how to open each piece.
 *
 * - `databaseBlobIds(record) -> string[]`
 *   Every blob a database record references, in restore order (quick verify, prune marks).
 *
 * Damage: reader.get() throws BackupError SET_DAMAGED naming the pack; the stream then fails
 * at that blob. A restore that must not touch the target before every blob is proven readable
 * checks them first (repo/check.ts checkBlobs, or a drain of databaseSqlFromBlobs).
 */
import { Readable } from 'node:stream';
import type { DatabaseRecord, DatabaseRecordV2, PartRecord } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { BlobReader } from '../repo/repository.js';
import { safeName } from './dump-table.js';
import type { RestoreSource } from './restore.js';
import type { RestorePlan } from './restore-plan.js';

export interface BlobSqlOptions {
  signal?: AbortSignal;
  /** Called with the content bytes of each blob as it is handed on (progress). */
  onBytes?: (bytes: number) => void;
}

export interface SqlPiece {
  /** v1-like logical path, e.g. "db/100-schema.sql" (messages and progress only). */
  name: string;
  /** The table whose rows the piece holds (data pieces only). */
  table?: string;
  blobs: readonly string[];
  /** Uncompressed SQL bytes, from the repository index (0 for blobs it does not know). */
  rawBytes: number;
  sql(): AsyncIterable<Buffer>;
  open(): Readable;
}

export interface DatabaseSqlPieces {
  prelude: SqlPiece;
  schema: SqlPiece;
  /** Tables with data, in record order (a table whose data was skipped has no piece). */
  tables: SqlPiece[];
  objects: SqlPiece;
  /** prelude, schema, tables, objects: the restore order. */
  all: SqlPiece[];
  rawBytes: number;
}

/** The content of `ids` in order, one blob in memory at a time plus the next one being read. */
export async function* blobsSql(ids: readonly string[], reader: BlobReader, options: BlobSqlOptions = {}): AsyncGenerator<Buffer> {
  let next: Promise<Buffer> | undefined = ids.length > 0 ? reader.get(ids[0]) : undefined;
  try {
    for (let i = 0; i < ids.length; i += 1) {
      const current = await next!;
      next = i + 1 < ids.length ? reader.get(ids[i + 1]) : undefined;
      // A read ahead that fails while the current blob is consumed is reported when reached.
      next?.catch(() => undefined);
      if (options.signal?.aborted) throw new BackupError('CANCELLED', 'The restore was cancelled.');
      options.onBytes?.(current.length);
      if (current.length > 0) yield current;
    }
  } finally {
    next?.catch(() => undefined);
  }
}

function folderOf(record: Pick<DatabaseRecordV2, 'role'>): string {
  return record.role === 'logging' ? 'logdb' : 'db';
}

function assertShape(record: DatabaseRecordV2): void {
  const valid =
    Array.isArray(record.schemaBlobs) &&
    record.schemaBlobs.length > 0 &&
    Array.isArray(record.objectBlobs) &&
    record.objectBlobs.length > 0 &&
    Array.isArray(record.tables) &&
    record.tables.every((t) => Array.isArray(t.blobs));
  if (!valid) {
    throw new BackupError(
      'SET_DAMAGED',
      `The catalog's record of database ${record.name} lacks its schema, object or table blob lists; the set cannot restore this database.`,
    );
  }
}

/** Every blob of the database, in restore order (a blob used twice is listed twice). */
export function databaseBlobIds(record: DatabaseRecordV2): string[] {
  return [...record.schemaBlobs, ...record.tables.flatMap((t) => t.blobs), ...record.objectBlobs];
}

/** The database's whole SQL stream in restore order (see the top of this file). */
export function databaseSqlFromBlobs(record: DatabaseRecordV2, reader: BlobReader, options: BlobSqlOptions = {}): AsyncIterable<Buffer> {
  assertShape(record);
  return blobsSql(databaseBlobIds(record), reader, options);
}

/** The database's SQL as the pieces a parallel restore runs (see the top of this file). */
export function databaseSqlPieces(record: DatabaseRecordV2, reader: BlobReader, options: BlobSqlOptions = {}): DatabaseSqlPieces {
  assertShape(record);
  const folder = folderOf(record);
  const piece = (name: string, blobs: readonly string[], table?: string): SqlPiece => ({
    name: `${folder}/${name}`,
    ...(table === undefined ? {} : { table }),
    blobs,
    rawBytes: blobs.reduce((sum, id) => sum + (reader.rawLength(id) ?? 0), 0),
    sql: () => blobsSql(blobs, reader, options),
    open: () => Readable.from(blobsSql(blobs, reader, options), { objectMode: false }),
  });
  // The prelude is the first schema blob, the postlude the last object blob (dump-to-blobs.ts).
  const prelude = piece('000-prelude.sql', record.schemaBlobs.slice(0, 1));
  const schema = piece('100-schema.sql', record.schemaBlobs.slice(1));
  const tables = record.tables.filter((t) => t.blobs.length > 0).map((t) => piece(`200-data-${safeName(t.name)}.sql`, t.blobs, t.name));
  const objects = piece('900-objects.sql', record.objectBlobs);
  const all = [prelude, schema, ...tables, objects];
  return { prelude, schema, tables, objects, all, rawBytes: all.reduce((sum, p) => sum + p.rawBytes, 0) };
}

/**
 * A v2 database as restoreDatabase() takes it (see the top of this file). The pieces stand in
 * for part files: `path` is the piece's name, `rawBytes` its SQL size; `bytes` is the stored
 * size of its blobs and `sha256` is empty (blobs are checked by the repository reader, each
 * against its id or its authentication tag, when read).
 */
export function blobRestoreSource(record: DatabaseRecordV2, reader: BlobReader, options: BlobSqlOptions = {}): { database: DatabaseRecord; source: RestoreSource } {
  const pieces = databaseSqlPieces(record, reader, options);
  const byPath = new Map<string, SqlPiece>();
  const partOf = (piece: SqlPiece): PartRecord => {
    byPath.set(piece.name, piece);
    return { path: piece.name, bytes: piece.blobs.reduce((sum, id) => sum + (reader.storedLength(id) ?? 0), 0), sha256: '', rawBytes: piece.rawBytes };
  };
  const folder = folderOf(record);
  const tablePieces = new Map(pieces.tables.map((p) => [p.table!, p]));
  const plan: RestorePlan = {
    folder,
    prelude: [partOf(pieces.prelude)],
    before: [partOf(pieces.schema)],
    data: pieces.tables.map((p) => ({ part: partOf(p), table: p.table! })),
    after: [partOf(pieces.objects)],
    all: [],
    rawBytes: pieces.rawBytes,
  };
  plan.all = [...plan.prelude, ...plan.before, ...plan.data.map((d) => d.part), ...plan.after];
  const { schemaBlobs: _schema, objectBlobs: _objects, tables, ...rest } = record;
  const database: DatabaseRecord = {
    ...rest,
    folder,
    tables: tables.map(({ blobs: _blobs, ...table }) => ({ ...table, parts: tablePieces.has(table.name) ? [tablePieces.get(table.name)!.name] : [] })),
  };
  const source: RestoreSource = {
    plan,
    open: async (part) => {
      const piece = byPath.get(part.path);
      if (!piece) throw new BackupError('INTERNAL', `No blobs for ${part.path} in the restore plan.`);
      return piece.open();
    },
  };
  return { database, source };
}
