/**
 * The rows of one table as multi-row INSERT statements, streamed: rows come from the server
 * in batches (the socket is paused when we fall behind), each statement is assembled from
 * the rows' literal pieces and handed on when it reaches the size limit, and large tables
 * roll over to a new part file every `partRawBytes`. Memory stays at about one statement
 * plus the stream buffers, whatever the table size.
 */
import type { Connection } from 'mysql2';
import { PassThrough } from 'node:stream';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { PartRecord } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import { writePart } from '../set/part-writer.js';
import type { WriteCodec } from '../set/codec.js';
import type { ColumnInfo } from './introspect.js';
import { selectStatement, storedColumns } from './introspect.js';
import { TableDigest } from './row-digest.js';
import { literalLength, writeHexDigits, literalMaxLength, quoteIdentifier, sqlLiteral, variableExpression, writeLiteral } from './sql-literal.js';

/** Target size of one INSERT statement: big enough for fast loads, far below any packet limit. */
export const DEFAULT_STATEMENT_BYTES = 1024 * 1024;
/** Raw SQL per part file before a table is split. */
export const DEFAULT_PART_RAW_BYTES = 256 * 1024 * 1024;

export interface TableDumpOptions {
  connection: Connection;
  table: string;
  columns: ColumnInfo[];
  primaryKey: string[];
  setDir: string;
  /** "db/200-data-<safe>" without extension. */
  logicalBase: string;
  codec: WriteCodec;
  signal?: AbortSignal;
  maxAllowedPacket: number;
  statementBytes?: number;
  partRawBytes?: number;
  onProgress?: (rows: number, rawBytes: number) => void;
  /** Part files written at once (each with its own compressor); default 1. */
  lanes?: number;
}

export interface TableDumpResult {
  rows: number;
  digest: string;
  parts: PartRecord[];
  rawBytes: number;
}

/** Table name -> file-name-safe text: [A-Za-z0-9_] kept, every other UTF-8 byte as -XX. */
export function safeName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_]/.test(c) ? c : `-${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function statementLimit(maxAllowedPacket: number, wanted = DEFAULT_STATEMENT_BYTES): number {
  // Half the packet leaves room for the client's own framing and any re-encoding.
  return Math.max(4096, Math.min(wanted, Math.floor(maxAllowedPacket / 2)));
}

const OPEN = Buffer.from('(');
const CLOSE = Buffer.from(')');
const COMMA = Buffer.from(',');
const END = Buffer.from(';\n');

/**
 * Turns batches of raw rows (readRowBatches) into SQL statements (Buffers), updating the digest and counts.
 * Each statement is written straight into one buffer, literal by literal (no per-value
 * allocation); a row that would overflow the limit moves to the next statement.
 * Exported for tests: it is pure apart from reading `rows`.
 */
export async function* insertStatements(
  batches: AsyncIterable<RawRow[]>,
  table: string,
  columns: ColumnInfo[],
  limit: number,
  digest: TableDigest,
): AsyncGenerator<Buffer> {
  const stored = storedColumns(columns);
  const kinds = stored.map((c) => c.kind);
  const charsets = stored.map((c) => c.charset);
  const header = Buffer.from(`INSERT INTO ${quoteIdentifier(table)} (${stored.map((c) => quoteIdentifier(c.name)).join(',')}) VALUES\n`, 'utf8');
  // Rows whose worst-case size stays below this always fit a statement alone.
  const smallRow = limit - header.length - END.length;
  const capacity = limit + 64 * 1024;
  let buffer = Buffer.allocUnsafe(capacity);
  let pos = 0;
  let rowsInStatement = 0;
  const finish = (end: number): Buffer => {
    const statement = buffer.subarray(0, end + END.copy(buffer, end));
    buffer = Buffer.allocUnsafe(capacity);
    return statement;
  };
  for await (const batch of batches) for (const row of batch) {
    digest.addRow(row);
    let worst = 3 + row.length;
    for (let i = 0; i < row.length; i += 1) worst += literalMaxLength(kinds[i], row[i], charsets[i]);
    if (worst > smallRow) {
      // Possibly too big to share a statement: measure exactly (rare path).
      // Lengths without building the literals: an 8 MB value would cost 16 MB of hex here.
      const lengths = row.map((value, i) => literalLength(kinds[i], value, charsets[i]));
      const exact = lengths.reduce((sum, n) => sum + n, 3 + row.length);
      if (exact > smallRow) {
        if (rowsInStatement > 0) yield finish(pos);
        pos = 0;
        rowsInStatement = 0;
        yield* bigRowStatements(header, stored, row, lengths, limit);
        continue;
      }
      const literals = row.map((value, i) => sqlLiteral(kinds[i], value, charsets[i]));
      if (rowsInStatement > 0 && pos + 2 + exact + END.length > limit) {
        yield finish(pos);
        pos = 0;
        rowsInStatement = 0;
      }
      pos = rowsInStatement === 0 ? header.copy(buffer, 0) : pos + COMMA_NEWLINE.copy(buffer, pos);
      buffer[pos++] = 0x28;
      literals.forEach((literal, i) => {
        if (i > 0) buffer[pos++] = 0x2c;
        pos += literal.copy(buffer, pos);
      });
      buffer[pos++] = 0x29;
      rowsInStatement += 1;
      continue;
    }
    if (rowsInStatement > 0 && pos + 2 + worst + END.length > capacity) {
      yield finish(pos);
      pos = 0;
      rowsInStatement = 0;
    }
    const separatorAt = pos;
    pos = rowsInStatement === 0 ? header.copy(buffer, 0) : pos + COMMA_NEWLINE.copy(buffer, pos);
    const rowStart = pos;
    buffer[pos++] = 0x28; // (
    for (let i = 0; i < row.length; i += 1) {
      if (i > 0) buffer[pos++] = 0x2c; // ,
      pos = writeLiteral(kinds[i], row[i], charsets[i], buffer, pos);
    }
    buffer[pos++] = 0x29; // )
    if (rowsInStatement > 0 && pos + END.length > limit) {
      // This row overflows: end the statement before it and start the next with it.
      const rowBytes = Buffer.from(buffer.subarray(rowStart, pos));
      yield finish(separatorAt);
      pos = header.copy(buffer, 0);
      pos += rowBytes.copy(buffer, pos);
      rowsInStatement = 1;
    } else {
      rowsInStatement += 1;
    }
  }
  if (rowsInStatement > 0) yield finish(pos);
}

const COMMA_NEWLINE = Buffer.from(',\n');

/**
 * One row too large for a single statement: each large value is assembled in a session
 * variable from hex chunks (SET @cb_vN = 0x...; SET @cb_vN = CONCAT(@cb_vN, 0x...)), then
 * the row is inserted naming the variables. Works without a primary key and within any
 * packet limit the value itself fits in.
 */
/**
 * Statements that must be followed, in the same part file, by the next statement: the
 * session-variable chain of a big row (SET ..., SET CONCAT ..., INSERT, SET NULL).
 */
export const CONTINUED = new WeakSet<Buffer>();

function* bigRowStatements(header: Buffer, stored: ColumnInfo[], row: (Buffer | null)[], lengths: number[], limit: number): Generator<Buffer> {
  for (const statement of bigRowChain(header, stored, row, lengths, limit)) {
    if (!statement.last) CONTINUED.add(statement.sql);
    yield statement.sql;
  }
}

function* bigRowChain(header: Buffer, stored: ColumnInfo[], row: (Buffer | null)[], lengths: number[], limit: number): Generator<{ sql: Buffer; last: boolean }> {
  let previous: Buffer | undefined;
  for (const sql of bigRowParts(header, stored, row, lengths, limit)) {
    if (previous) yield { sql: previous, last: false };
    previous = sql;
  }
  if (previous) yield { sql: previous, last: true };
}

function* bigRowParts(header: Buffer, stored: ColumnInfo[], row: (Buffer | null)[], lengths: number[], limit: number): Generator<Buffer> {
  const chunkRaw = Math.max(1024, Math.floor((limit - 64) / 2));
  const inline = Math.floor(limit / (2 * Math.max(1, stored.length)));
  const values: Buffer[] = [];
  const variables: string[] = [];
  for (let i = 0; i < row.length; i += 1) {
    const raw = row[i];
    if (raw === null || lengths[i] <= inline) {
      values.push(sqlLiteral(stored[i].kind, raw, stored[i].charset));
      continue;
    }
    const variable = `@cb_v${variables.length + 1}`;
    variables.push(variable);
    for (let offset = 0; offset < raw.length; offset += chunkRaw) {
      // Each chunk statement is built in one buffer (no hex string copies: an 8 MB value
      // would otherwise leave ~60 MB of garbage behind).
      const chunk = raw.subarray(offset, offset + chunkRaw);
      const head = Buffer.from(offset === 0 ? `SET ${variable} = 0x` : `SET ${variable} = CONCAT(${variable}, 0x`, 'latin1');
      const tail = Buffer.from(offset === 0 ? ';\n' : ');\n', 'latin1');
      const statement = Buffer.allocUnsafe(head.length + 2 * chunk.length + tail.length);
      let at = head.copy(statement, 0);
      at = writeHexDigits(chunk, statement, at);
      tail.copy(statement, at);
      yield statement;
    }
    values.push(Buffer.from(variableExpression(stored[i].kind, variable, stored[i].charset), 'latin1'));
  }
  const parts: Buffer[] = [header, OPEN];
  values.forEach((v, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(v);
  });
  parts.push(CLOSE, END);
  yield Buffer.concat(parts);
  if (variables.length > 0) yield Buffer.from(`SET ${variables.map((v) => `${v} = NULL`).join(', ')};\n`, 'latin1');
}

/** One row as the server sent it (typeCast off): a Buffer per value, null for NULL. */
export type RawRow = (Buffer | null)[];

/**
 * Rows per batch handed to the consumer: one promise per batch instead of one per row. Kept
 * small on purpose, like the queue below: rows that wait long enough to survive a young
 * generation GC are promoted and become old-space garbage. (256-row batches with a 4-batch
 * queue measured no faster on the sample database, and their peak RSS was at the top of the
 * run-to-run noise.)
 */
const BATCH_ROWS = 64;
/** A batch also ends once its values reach this many bytes (big rows travel alone). */
const BATCH_BYTES = 1024 * 1024;
/** The socket is paused while more than this is queued for the consumer. */
const MAX_QUEUED_BATCHES = 2;
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export interface RowBatchReader extends AsyncIterable<RawRow[]> {
  /**
   * Stops delivering rows (early exit). The rest of the result is read and discarded so the
   * connection stays usable for the next query; callers that give up on the connection may
   * close it instead. Safe to call more than once and after the end.
   */
  close(): void;
}

function lostConnection(error?: Error): BackupError {
  return new BackupError('DB_LOST', `The database connection was lost while reading rows (${error?.message ?? 'the server closed the connection'}).`, {
    cause: error,
  });
}

/**
 * Reads the raw rows of a SELECT (typeCast off: Buffers and nulls, exactly as the server sent
 * them) in batches, straight from the query's 'result' events: an object-mode stream with
 * `for await` costs a promise and several callbacks per row (7.5-10 µs/row measured, against
 * 2-3 µs/row this way; docs/benchmarks.md). Memory stays bounded: the connection's socket is
 * paused while a few batches wait for the consumer and resumed as it drains them.
 *
 * mysql2 neither ends nor errors a query without callback when the server drops the
 * connection mid-result (KILL, restart): only the connection says so ('error' or 'end').
 * That becomes BackupError DB_LOST; without it the reader would wait forever and Node would
 * exit 0 with nothing written.
 */
export function readRowBatches(connection: Connection, sql: string): RowBatchReader {
  const query = connection.query({ sql, rowsAsArray: true, typeCast: false });
  const queue: { rows: RawRow[]; bytes: number }[] = [];
  let queuedBytes = 0;
  let current: RawRow[] = [];
  let currentBytes = 0;
  let finished = false;
  let discarding = false;
  let paused = false;
  let failure: unknown;
  let wakeConsumer: (() => void) | null = null;

  const wake = (): void => {
    const resolve = wakeConsumer;
    wakeConsumer = null;
    resolve?.();
  };
  const resume = (): void => {
    if (!paused) return;
    paused = false;
    // Handles the packets mysql2 held back synchronously: 'result' may pause again.
    connection.resume();
  };
  const flush = (): void => {
    if (current.length === 0) return;
    queue.push({ rows: current, bytes: currentBytes });
    queuedBytes += currentBytes;
    current = [];
    currentBytes = 0;
    if (!paused && (queue.length > MAX_QUEUED_BATCHES || queuedBytes > MAX_QUEUED_BYTES)) {
      paused = true;
      connection.pause();
    }
    wake();
  };
  const onRow = (row: RawRow): void => {
    if (discarding) return;
    current.push(row);
    for (let i = 0; i < row.length; i += 1) {
      const value = row[i];
      if (value !== null) currentBytes += value.length;
    }
    if (current.length >= BATCH_ROWS || currentBytes >= BATCH_BYTES) flush();
  };
  const finish = (error?: unknown): void => {
    if (finished) return;
    finished = true;
    if (error !== undefined) failure = error;
    else flush();
    query.off('result', onRow);
    connection.off('error', onConnectionError);
    connection.off('end', onConnectionEnd);
    if (discarding || failure !== undefined) resume();
    wake();
  };
  const onConnectionError = (error: Error): void => finish(lostConnection(error));
  const onConnectionEnd = (): void => finish(lostConnection());
  query.on('result', onRow);
  // A server error ends the query with 'error' and then 'end'; the first one counts.
  query.on('error', (error: Error & { fatal?: boolean }) => finish(error.fatal ? lostConnection(error) : error));
  query.on('end', () => finish());
  connection.on('error', onConnectionError);
  connection.on('end', onConnectionEnd);

  const close = (): void => {
    if (discarding) return;
    discarding = true;
    queue.length = 0;
    queuedBytes = 0;
    current = [];
    resume();
    wake();
  };

  return {
    close,
    async *[Symbol.asyncIterator](): AsyncGenerator<RawRow[]> {
      try {
        for (;;) {
          if (failure !== undefined) throw failure;
          if (discarding) return;
          const batch = queue.shift();
          if (batch) {
            queuedBytes -= batch.bytes;
            if (paused && queue.length <= MAX_QUEUED_BATCHES / 2 && queuedBytes <= MAX_QUEUED_BYTES / 2) resume();
            yield batch.rows;
            continue;
          }
          if (finished) return;
          await new Promise<void>((resolve) => (wakeConsumer = resolve));
        }
      } finally {
        if (!finished) close();
      }
    },
  };
}

/** The rows of readRowBatches() one by one (tests and tools; the dump reads batches). */
export async function* streamRows(connection: Connection, sql: string): AsyncGenerator<RawRow> {
  for await (const batch of readRowBatches(connection, sql)) yield* batch;
}

/**
 * What a reader of rows should throw for `error`. A Node stream closed before its end
 * ("Premature close") can only mean the result was cut off.
 */
export function rowReadError(error: unknown): unknown {
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new BackupError('DB_LOST', 'The database connection was lost while reading rows (the server closed the result before its end).', { cause: error });
  }
  return error;
}

/** One open part file being fed statements (its compressor runs in the thread pool). */
interface Lane {
  input: PassThrough;
  done: Promise<PartRecord>;
  number: number;
  rawBytes: number;
}

/**
 * Dumps one table to one or more part files. Each part is complete statements only, so every
 * part restores on its own after the prelude.
 *
 * With `lanes` > 1 the statements go to that many part files at once, each with its own
 * compressor: zlib runs in the thread pool, so two lanes keep two cores compressing while one
 * connection reads the rows (compression, not reading, sets the pace of a dump). Statements
 * go to whichever lane has room, so rows of a table are spread over its parts; order inside a
 * table does not matter to a restore (every INSERT names its columns and values).
 */
export async function dumpTable(options: TableDumpOptions): Promise<TableDumpResult> {
  const started = await startTableDump(options);
  return started.completion;
}

/**
 * Reads all rows of the table into its part files and resolves once the rows are read (the
 * connection is free for the next table); `completion` resolves when the parts are
 * compressed, hashed and durable. Overlapping one table's compression tail with the next
 * table's reading keeps both cores busy across the many small tables of a CiviCRM database.
 */
export async function startTableDump(options: TableDumpOptions): Promise<{ completion: Promise<TableDumpResult> }> {
  const limit = statementLimit(options.maxAllowedPacket, options.statementBytes);
  const partLimit = options.partRawBytes ?? DEFAULT_PART_RAW_BYTES;
  const laneCount = Math.max(1, options.lanes ?? 1);
  const digest = new TableDigest();
  const sql = selectStatement(options.table, storedColumns(options.columns), options.primaryKey);
  const rowReader = readRowBatches(options.connection, sql);
  const statements = insertStatements(rowReader, options.table, options.columns, limit, digest);
  const finished: PartRecord[] = [];
  const contentBytes = new Map<number, number>();
  let failure: unknown;
  let failed: () => void = () => undefined;
  const failedPromise = new Promise<void>((resolve) => (failed = resolve));
  let partsOpened = 0;
  const lanes: (Lane | undefined)[] = new Array(laneCount).fill(undefined);
  const pending: Promise<unknown>[] = [];
  let firstPart: Promise<PartRecord> | undefined;

  const report = (): void => {
    let raw = 0;
    for (const bytes of contentBytes.values()) raw += bytes;
    options.onProgress?.(digest.rows, raw);
  };
  const nameOf = (number: number): string =>
    laneCount === 1 && number === 1 ? options.logicalBase : `${options.logicalBase}.${String(number).padStart(4, '0')}`;

  const openLane = async (): Promise<Lane> => {
    partsOpened += 1;
    const number = partsOpened;
    if (laneCount === 1 && number === 2 && firstPart) {
      // The table turned out to need several parts: the first one gets its number too.
      const first = await firstPart;
      const at = finished.findIndex((p) => p.path === first.path);
      if (at >= 0) {
        const renamed = first.path.replace(/^(.*\/200-data-[^/]*?)(\.sql.*)$/, (_m, base: string, ext: string) => `${base}.0001${ext}`);
        await rename(join(options.setDir, first.path), join(options.setDir, renamed));
        finished[at] = { ...first, path: renamed };
      }
    }
    const input = new PassThrough({ highWaterMark: 64 * 1024 });
    // pipeline() reports a failing part through writePart's promise; a late write to the
    // destroyed input must not become an unhandled 'error' event.
    input.on('error', () => undefined);
    input.write(Buffer.from(`-- CiviBackup: rows of table ${quoteIdentifier(options.table).replace(/\n/g, ' ')}, part ${number}\n`, 'utf8'));
    const done = writePart(options.setDir, `${nameOf(number)}.sql`, input, {
      codec: options.codec,
      signal: options.signal,
      onContentBytes: (bytes) => {
        contentBytes.set(number, bytes);
        report();
      },
    });
    if (number === 1) firstPart = done;
    pending.push(
      done.then(
        (record) => {
          finished.push(record);
        },
        (error: unknown) => {
          failure ??= error;
          failed();
        },
      ),
    );
    return { input, done, number, rawBytes: 0 };
  };

  const closeLane = (index: number): void => {
    lanes[index]?.input.end();
    lanes[index] = undefined;
  };

  /** Resolves when some lane can take more (or a part failed); leaves no listeners behind. */
  const anyDrain = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const open = lanes.filter((lane): lane is Lane => lane !== undefined);
      const onDrain = (): void => {
        for (const lane of open) lane.input.off('drain', onDrain);
        resolve();
      };
      if (open.length < laneCount) return resolve();
      for (const lane of open) lane.input.on('drain', onDrain);
      void failedPromise.then(onDrain);
    });

  try {
    let next = 0;
    let stickTo = -1;
    for await (const statement of statements) {
      if (failure !== undefined) throw failure;
      // Pick a lane with room, round robin; wait when all are full. A statement continuing
      // a chain goes where the chain started.
      let index = stickTo;
      for (let tries = 0; index < 0 && tries < laneCount; tries += 1) {
        const candidate = (next + tries) % laneCount;
        const lane = lanes[candidate];
        if (!lane || !lane.input.writableNeedDrain) {
          index = candidate;
          break;
        }
      }
      if (index < 0) {
        await anyDrain();
        if (failure !== undefined) throw failure;
        index = lanes.findIndex((lane) => !lane || !lane.input.writableNeedDrain);
        if (index < 0) index = next % laneCount;
      }
      next = index + 1;
      let lane = lanes[index];
      if (!lane) {
        lane = await openLane();
        lanes[index] = lane;
      }
      if (lane.input.destroyed) {
        await Promise.race([failedPromise, ...pending]);
        throw failure ?? new BackupError('IO', `Writing the data of ${options.table} stopped unexpectedly.`);
      }
      const room = lane.input.write(statement);
      lane.rawBytes += statement.length;
      stickTo = CONTINUED.has(statement) ? index : -1;
      if (!room && stickTo >= 0) {
        // The chain's next statement must go to this lane: wait for this lane alone.
        const full = lane.input;
        await new Promise<void>((resolve) => {
          full.once('drain', resolve);
          void failedPromise.then(resolve);
        });
      }
      if (lane.rawBytes >= partLimit && stickTo < 0) closeLane(index);
    }
    if (partsOpened === 0) {
      // An empty table still gets its (comment-only) data file.
      lanes[0] = await openLane();
    }
    for (let i = 0; i < laneCount; i += 1) closeLane(i);
  } catch (error) {
    for (const lane of lanes) lane?.input.destroy();
    rowReader.close();
    await Promise.allSettled(pending);
    throw rowReadError(failure ?? error);
  } finally {
    rowReader.close();
  }
  const rows = digest.rows;
  const hex = digest.hex();
  const completion = Promise.all(pending).then(() => {
    if (failure !== undefined) throw failure;
    const number = (path: string): number => Number(/\.(\d{4})\.sql/.exec(path)?.[1] ?? 0);
    const parts = finished.sort((a, b) => number(a.path) - number(b.path));
    return { rows, digest: hex, parts, rawBytes: parts.reduce((sum, p) => sum + p.rawBytes, 0) };
  });
  // The caller may not await it at once; a failure must not count as unhandled meanwhile.
  completion.catch(() => undefined);
  return { completion };
}
