/**
 * The database of a deduplicated set (format v2): the same consistent dump as a v1 set
 * (dumpConsistent: one snapshot, same table order, same table facts, same SQL), but stored as
 * content-addressed blobs in the repository instead of part files.
 *
 * Where the SQL goes (docs/format.md, "The database in a deduplicated set"):
 * - `schemaBlobs`: the prelude (always exactly one blob, first), then the CREATE TABLE text
 *   cut at content-defined line ends (textBlobs).
 * - each table's `blobs`: its rows as INSERT statements. A blob holds whole statements only
 *   (one statement, usually; the statements of a row too large for one statement are grouped
 *   up to the blob maximum); the first blob starts with a comment line naming the table.
 *   Statements end at content-defined rows (insert-encoder.ts RowCuts) with the row digest's
 *   own hash: a changed, inserted or deleted row changes the blob it is in (and at most its
 *   neighbour), every other blob keeps its bytes and so its id.
 * - `objectBlobs`: routines, views, triggers and events (each cut like the schema), then the
 *   postlude (always exactly one blob, last).
 * Concatenated in that order (schema, tables in record order, objects) the blobs are exactly
 * the SQL a v1 set's db/*.sql files give in name order.
 *
 * The dedup: before a blob is compressed, its id is computed (writer.idOf, a SHA-256 or an
 * HMAC) and looked up (writer.has). A blob the repository holds already is referenced, never
 * compressed, encrypted or written again: an unchanged table costs reading, encoding and
 * hashing, not compression (bench/db-dedup.ts measures it).
 */
import type { DatabaseRecordV2 } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { BlobWriter } from '../repo/repository.js';
import { dumpConsistent, type DumpSink, type TableDumpRequest, type TableStored } from './dump-database.js';
import type { Dsn } from './dsn.js';
import { rowReadError, statementLimit } from './dump-table.js';
import { InsertEncoder, type RowCuts, type StatementSink } from './insert-encoder.js';
import { selectStatement, storedColumns } from './introspect.js';
import { murmur3x86_128Range, TableDigest } from './row-digest.js';
import { readRowPackets, type RowPacketReader } from './row-packets.js';
import { quoteIdentifier } from './sql-literal.js';


/** Where blobs are cut: rows (statements) and text (DDL) lines. */
export interface BlobChunking {
  /** A row ends its blob with probability rowBytes / rowTargetBytes (once the blob has rowMinBytes). */
  rowTargetBytes: number;
  rowMinBytes: number;
  /** The most SQL in one blob (and in one INSERT statement, within half the server's packet limit). */
  rowMaxBytes: number;
  textTargetBytes: number;
  textMinBytes: number;
  textMaxBytes: number;
}

/**
 * Rows: blobs of ~0.5 MiB (the repository's pack unit is 16 MiB; restic cuts ~1 MiB), a
 * change costs about that much; at most 1 MiB (the design's blob maximum). Text: the schema of
 * a CiviCRM database is ~0.5 MB and its AUTO_INCREMENT values change every day, so it is cut
 * finer (~64 KiB) to keep what a day's inserts change small.
 */
export const DEFAULT_BLOB_CHUNKING: BlobChunking = {
  rowTargetBytes: 512 * 1024,
  rowMinBytes: 64 * 1024,
  rowMaxBytes: 1024 * 1024,
  textTargetBytes: 64 * 1024,
  textMinBytes: 16 * 1024,
  textMaxBytes: 1024 * 1024,
};

/**
 * New blobs being compressed and stored at once: two cores compress while the connection
 * reads; more would only hold more SQL in memory (each is at most rowMaxBytes).
 */
export const DEFAULT_PUTS_IN_FLIGHT = 4;

export interface BlobDumpOptions {
  dsn: Dsn;
  role: 'main' | 'logging';
  writer: BlobWriter;
  reporter: Reporter;
  signal?: AbortSignal;
  /** Glob patterns (* and ?) on table names whose data is skipped. */
  excludeData: string[];
  skipCacheData: boolean;
  /**
   * Warnings for the set's manifest (a view left out, a missing privilege). Absent: each is
   * emitted as a `warning` event with code DB.
   */
  onWarning?: (message: string) => void;
  /** Test and bench knobs. */
  chunking?: Partial<BlobChunking>;
  putsInFlight?: number;
}

/** What one dump referenced and what it stored (bench, tests, the run's summary). */
export interface BlobDumpStats {
  /** Blob references in the record (a blob used twice counts twice). */
  blobs: number;
  /** Uncompressed SQL bytes of all referenced blobs: the size of the v1 dump's SQL. */
  rawBytes: number;
  /** Blobs this dump gave to the writer to store (unknown to the repository and to this run). */
  newBlobs: number;
  newRawBytes: number;
  /** Blobs found by id and not compressed or stored again. */
  reusedBlobs: number;
  reusedRawBytes: number;
}

export interface BlobDumpResult {
  record: DatabaseRecordV2;
  warnings: string[];
  stats: BlobDumpStats;
}

/** The dump of one database into blobs; the record lists them (see the top of this file). */
export async function dumpDatabaseToBlobs(options: BlobDumpOptions): Promise<DatabaseRecordV2> {
  const { record, warnings } = await dumpDatabaseToBlobsDetailed(options);
  for (const message of warnings) {
    if (options.onWarning) options.onWarning(message);
    else options.reporter.emit({ type: 'warning', code: 'DB', message });
  }
  return record;
}

/** dumpDatabaseToBlobs, returning its warnings (not reported) and what it stored. */
export async function dumpDatabaseToBlobsDetailed(options: BlobDumpOptions): Promise<BlobDumpResult> {
  const chunking: BlobChunking = { ...DEFAULT_BLOB_CHUNKING, ...options.chunking };
  const putter = new BlobPutter(options.writer, options.putsInFlight ?? DEFAULT_PUTS_IN_FLIGHT);
  const schemaBlobs: string[] = [];
  const objectBlobs: string[] = [];
  const sink: DumpSink = {
    text: async (name, sql) => {
      checkCancelled(options.signal);
      const blobs = textBlobs(Buffer.from(sql, 'utf8'), chunking);
      const stored = blobs.map((blob) => putter.add(blob));
      (name < '200' ? schemaBlobs : objectBlobs).push(...stored.map((s) => s.id));
      await Promise.all(stored.map((s) => s.done));
    },
    table: (request) => startTableBlobs(request, putter, chunking, options.signal),
  };
  try {
    const { record, warnings } = await dumpConsistent(
      {
        dsn: options.dsn,
        role: options.role,
        folder: options.role === 'main' ? 'db' : 'logdb',
        reporter: options.reporter,
        signal: options.signal,
        excludeData: options.excludeData,
        skipCacheData: options.skipCacheData,
      },
      sink,
    );
    await putter.settled();
    const { folder: _folder, tables, ...rest } = record;
    const v2: DatabaseRecordV2 = {
      ...rest,
      tables: tables.map(({ parts, ...table }) => ({ ...table, blobs: parts })),
      schemaBlobs,
      objectBlobs,
    };
    return { record: v2, warnings, stats: { ...putter.stats } };
  } finally {
    // A failed dump leaves no put running behind the caller's writer.abort().
    await putter.settled().catch(() => undefined);
  }
}

function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BackupError('CANCELLED', 'The backup was cancelled.');
}

/**
 * Hands blobs to the writer: the id first, and only an unknown blob is stored (compressed,
 * encrypted, appended to a pack). At most `limit` stores run at once; `full` tells the table
 * reader to pause the socket, `onRoom` when it may go on.
 */
class BlobPutter {
  readonly stats: BlobDumpStats = { blobs: 0, rawBytes: 0, newBlobs: 0, newRawBytes: 0, reusedBlobs: 0, reusedRawBytes: 0 };
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();
  failure: unknown;
  onRoom: (() => void) | undefined;

  constructor(
    private readonly writer: BlobWriter,
    private readonly limit: number,
  ) {}

  get full(): boolean {
    return this.inFlight >= this.limit;
  }

  /** The blob's id, and a promise that settles when it is durable in the writer's pack (at once when known). */
  add(blob: Buffer): { id: string; done: Promise<void> } {
    if (this.failure !== undefined) throw this.failure;
    const id = this.writer.idOf(blob);
    this.stats.blobs += 1;
    this.stats.rawBytes += blob.length;
    if (this.writer.has(id)) {
      this.stats.reusedBlobs += 1;
      this.stats.reusedRawBytes += blob.length;
      return { id, done: Promise.resolve() };
    }
    this.stats.newBlobs += 1;
    this.stats.newRawBytes += blob.length;
    this.inFlight += 1;
    const done = this.writer.put(blob).then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error;
        throw error;
      },
    );
    const tracked = done.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(tracked);
    void tracked.then(() => {
      this.running.delete(tracked);
      this.inFlight -= 1;
      this.onRoom?.();
    });
    // The caller may only await it later; a failure must not count as unhandled meanwhile.
    done.catch(() => undefined);
    return { id, done };
  }

  /** Every store started has settled; throws the first failure. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * Cuts text (DDL) into blobs at line ends chosen by content: after a line whose hash is below
 * lineBytes / textTargetBytes * 2^32, once a blob has textMinBytes; a blob never exceeds
 * textMaxBytes unless one line does (then the line is cut at textMaxBytes). A change in one
 * table's CREATE TABLE changes the blob around it only. Small text is one blob.
 */
export function textBlobs(text: Buffer, chunking: Pick<BlobChunking, 'textTargetBytes' | 'textMinBytes' | 'textMaxBytes'>): Buffer[] {
  const blobs: Buffer[] = [];
  const hash = new Uint32Array(4);
  const scale = 2 ** 32 / Math.max(1, chunking.textTargetBytes);
  let blobStart = 0;
  let lineStart = 0;
  while (lineStart < text.length) {
    const newline = text.indexOf(0x0a, lineStart);
    const lineEnd = newline < 0 ? text.length : newline + 1;
    if (lineEnd - blobStart > chunking.textMaxBytes) {
      if (lineStart > blobStart) {
        blobs.push(text.subarray(blobStart, lineStart));
        blobStart = lineStart;
        continue;
      }
      // One line longer than a blob: cut it at the maximum.
      blobs.push(text.subarray(blobStart, blobStart + chunking.textMaxBytes));
      blobStart += chunking.textMaxBytes;
      lineStart = blobStart;
      continue;
    }
    if (lineEnd - blobStart >= chunking.textMinBytes) {
      murmur3x86_128Range(text, lineStart, lineEnd, 0, hash);
      if (hash[0] < (lineEnd - lineStart) * scale) {
        blobs.push(text.subarray(blobStart, lineEnd));
        blobStart = lineEnd;
      }
    }
    lineStart = lineEnd;
  }
  if (blobStart < text.length) blobs.push(text.subarray(blobStart));
  return blobs;
}

/** The comment line that starts a table's first blob (v1 parts start with a like one). */
export function tableHeading(table: string): Buffer {
  return Buffer.from(`-- CiviBackup: rows of table ${quoteIdentifier(table).replace(/\n/g, ' ')}\n`, 'utf8');
}

/**
 * Reads one table's rows into blobs. Resolves when the rows are read (the connection is free);
 * `completion` when every new blob of the table is in the writer's pack. The socket is paused
 * while `putsInFlight` blobs are being stored, so memory stays at a few blobs whatever the
 * table size; a row too large for a statement (a variable chain) is pulled one statement at
 * a time, as in dump-table.ts.
 */
async function startTableBlobs(request: TableDumpRequest, putter: BlobPutter, chunking: BlobChunking, signal: AbortSignal | undefined): Promise<{ completion: Promise<TableStored> }> {
  const table = request.table.name;
  const limit = statementLimit(request.maxAllowedPacket, chunking.rowMaxBytes);
  const cuts: RowCuts = { targetBytes: chunking.rowTargetBytes, minBytes: chunking.rowMinBytes };
  const digest = new TableDigest();
  const ids: string[] = [];
  const stored: Promise<void>[] = [];
  let rawBytes = 0;
  let pending: Buffer[] = [tableHeading(table)];
  let pendingBytes = pending[0].length;
  let pendingStatements = 0;
  let failure: unknown;
  let reader: RowPacketReader | undefined;
  let paused = false;
  let chain: Iterator<Buffer> | undefined;
  let chainWritten: (() => void) | undefined;

  const fail = (error: unknown): void => {
    failure ??= error;
    chain = undefined;
    reader?.discard(failure);
    chainWritten?.();
  };
  const flush = (): void => {
    if (pendingBytes === 0) return;
    const blob = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    pendingStatements = 0;
    const put = putter.add(blob);
    ids.push(put.id);
    stored.push(put.done);
    rawBytes += blob.length;
    request.onProgress(digest.rows, rawBytes);
  };
  const add = (sql: Buffer, cut: boolean): void => {
    if (failure !== undefined) throw failure;
    checkCancelled(signal);
    if (pendingStatements > 0 && pendingBytes + sql.length > chunking.rowMaxBytes) flush();
    pending.push(sql);
    pendingBytes += sql.length;
    pendingStatements += 1;
    if (cut) flush();
  };
  const pauseReading = (): void => {
    if (paused) return;
    paused = true;
    reader?.pause();
  };
  const resumeIfRoom = (): void => {
    if (paused && !chain && !putter.full) {
      paused = false;
      reader?.resume();
    }
  };
  const pumpChain = (): void => {
    try {
      while (chain) {
        if (putter.full) {
          pauseReading();
          return;
        }
        const next = chain.next();
        if (next.done) {
          chain = undefined;
          // A large row's statements end their blob: the next row starts a fresh one.
          flush();
          chainWritten?.();
          break;
        }
        add(next.value, false);
      }
    } catch (error) {
      fail(error);
      return;
    }
    resumeIfRoom();
  };
  putter.onRoom = () => {
    if (putter.failure !== undefined) fail(putter.failure);
    else if (chain) pumpChain();
    else resumeIfRoom();
  };

  const sink: StatementSink = {
    statement: (sql, cut) => {
      add(sql, cut === true);
      if (putter.full) pauseReading();
    },
    chain: (parts) => {
      if (failure !== undefined) throw failure;
      chain = parts;
      pumpChain();
    },
  };
  const columns = storedColumns(request.columns);
  const encoder = new InsertEncoder(table, columns, limit, digest, sink, cuts);
  try {
    reader = readRowPackets(request.connection, selectStatement(table, columns, request.primaryKey), (buffer, start, end) => encoder.addEncodedRow(buffer, start, end));
    await reader.done;
    // The socket stays paused while a large row is half written (see dump-table.ts).
    if (chain) await new Promise<void>((resolve) => (chainWritten = resolve));
    if (failure !== undefined) throw failure;
    encoder.end();
    // The last blob; an empty table's only blob is its heading, as a v1 part is.
    flush();
  } catch (error) {
    throw rowReadError(failure ?? error);
  } finally {
    putter.onRoom = undefined;
  }
  const rows = digest.rows;
  const hex = digest.hex();
  const completion = Promise.all(stored).then(() => ({ rows, digest: hex, rawBytes, pieces: ids }));
  completion.catch(() => undefined);
  return { completion };
}
