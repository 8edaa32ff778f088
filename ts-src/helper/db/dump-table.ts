/**
 * The rows of one table as multi-row INSERT statements, streamed: each row packet from the
 * server is encoded into the statement being built the moment it arrives, without parsing
 * it into values first (row-packets.ts, text-row.ts); a finished statement goes to a part
 * file's compressor, and the socket is paused while every compressor is full. Large tables
 * roll over to a new part file every `partRawBytes`. Memory stays at about one statement
 * per lane plus the stream buffers, whatever the table size.
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
import { literalLength, literalMaxBytes, quoteIdentifier, sqlLiteral, variableExpression, writeHexDigits, writeLiteralRange, writeNull, type ValueKind } from './sql-literal.js';
import { readRowPackets, type RowPacketReader } from './row-packets.js';
import { columnBounds, decodeTextRow, encodeTextRow } from './text-row.js';

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
const COMMA_NEWLINE = Buffer.from(',\n');

/** Receives finished statements in order; `continued` marks one that must share its part file with the next. */
export type StatementSink = (statement: Buffer, continued: boolean) => void;

/** Per-kind bound of a literal's size: multiplier of the value's length plus a constant. */
function literalBound(kind: ValueKind, charset: string | null | undefined): { perByte: number; extra: number } {
  const extra = literalMaxBytes(kind, 0, charset);
  return { perByte: literalMaxBytes(kind, 1, charset) - extra, extra };
}

/**
 * Turns rows, given as their text-protocol encoding (text-row.ts), into multi-row INSERT
 * statements of at most `limit` bytes, updating the digest. Each statement is written
 * straight into one buffer, literal by literal, from the bytes where the row lies (no value
 * is ever copied out on its own); a row that would overflow the limit moves to the next
 * statement, and a row too large for any statement becomes a session-variable chain.
 * Synchronous and pure apart from `emit`: the dump calls it from the socket's row callback.
 */
export class InsertEncoder {
  private readonly kinds: ValueKind[];
  private readonly charsets: (string | null)[];
  private readonly perByte: Int32Array;
  private readonly extra: Int32Array;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private readonly stored: ColumnInfo[];
  private readonly header: Buffer;
  /** Rows whose worst-case size stays below this always fit a statement alone. */
  private readonly smallRow: number;
  private readonly capacity: number;
  private buffer: Buffer;
  private pos = 0;
  private rowsInStatement = 0;

  constructor(
    table: string,
    columns: ColumnInfo[],
    private readonly limit: number,
    private readonly digest: TableDigest,
    private readonly emit: StatementSink,
  ) {
    this.stored = storedColumns(columns);
    this.kinds = this.stored.map((c) => c.kind);
    this.charsets = this.stored.map((c) => c.charset);
    const bounds = this.stored.map((c) => literalBound(c.kind, c.charset));
    this.perByte = Int32Array.from(bounds, (b) => b.perByte);
    this.extra = Int32Array.from(bounds, (b) => b.extra);
    this.starts = new Int32Array(this.stored.length);
    this.ends = new Int32Array(this.stored.length);
    this.header = Buffer.from(`INSERT INTO ${quoteIdentifier(table)} (${this.stored.map((c) => quoteIdentifier(c.name)).join(',')}) VALUES\n`, 'utf8');
    this.smallRow = limit - this.header.length - END.length;
    this.capacity = limit + 64 * 1024;
    this.buffer = Buffer.allocUnsafe(this.capacity);
  }

  get columnCount(): number {
    return this.stored.length;
  }

  /** Adds the row whose encoding is encoded[start, end); reads the bytes before returning only. */
  addEncodedRow(encoded: Buffer, start: number, end: number): void {
    const count = this.stored.length;
    const { starts, ends, kinds, charsets, perByte, extra } = this;
    columnBounds(encoded, start, end, count, starts, ends);
    this.digest.addEncodedRow(encoded, start, end, count);
    let worst = 3 + count;
    for (let i = 0; i < count; i += 1) worst += starts[i] < 0 ? 4 : extra[i] + perByte[i] * (ends[i] - starts[i]);
    if (worst > this.smallRow) {
      this.addLargeRow(decodeTextRow(encoded, start, end, count));
      return;
    }
    if (this.rowsInStatement > 0 && this.pos + 2 + worst + END.length > this.capacity) this.finishStatement(this.pos);
    let buffer = this.buffer;
    const separatorAt = this.pos;
    let pos = this.rowsInStatement === 0 ? this.header.copy(buffer, 0) : separatorAt + COMMA_NEWLINE.copy(buffer, separatorAt);
    const rowStart = pos;
    buffer[pos++] = 0x28; // (
    for (let i = 0; i < count; i += 1) {
      if (i > 0) buffer[pos++] = 0x2c; // ,
      pos = starts[i] < 0 ? writeNull(buffer, pos) : writeLiteralRange(kinds[i], encoded, starts[i], ends[i], charsets[i], buffer, pos);
    }
    buffer[pos++] = 0x29; // )
    if (this.rowsInStatement > 0 && pos + END.length > this.limit) {
      // This row overflows: end the statement before it and start the next with it.
      const rowBytes = Buffer.from(buffer.subarray(rowStart, pos));
      this.finishStatement(separatorAt);
      buffer = this.buffer;
      pos = this.header.copy(buffer, 0);
      pos += rowBytes.copy(buffer, pos);
      this.rowsInStatement = 1;
    } else {
      this.rowsInStatement += 1;
    }
    this.pos = pos;
  }

  /** Emits the statement in progress, if any. */
  end(): void {
    if (this.rowsInStatement > 0) this.finishStatement(this.pos);
  }

  private finishStatement(end: number): void {
    const statement = this.buffer.subarray(0, end + END.copy(this.buffer, end));
    this.buffer = Buffer.allocUnsafe(this.capacity);
    this.pos = 0;
    this.rowsInStatement = 0;
    this.emit(statement, false);
  }

  /** A row whose worst case exceeds a statement: measured exactly (rare path). */
  private addLargeRow(row: (Buffer | null)[]): void {
    const { kinds, charsets, stored } = this;
    // Lengths without building the literals: an 8 MB value would cost 16 MB of hex here.
    const lengths = row.map((value, i) => literalLength(kinds[i], value, charsets[i]));
    const exact = lengths.reduce((sum, n) => sum + n, 3 + row.length);
    if (exact > this.smallRow) {
      if (this.rowsInStatement > 0) this.finishStatement(this.pos);
      let previous: Buffer | undefined;
      for (const sql of bigRowParts(this.header, stored, row, lengths, this.limit)) {
        if (previous) this.emit(previous, true);
        previous = sql;
      }
      if (previous) this.emit(previous, false);
      return;
    }
    const literals = row.map((value, i) => sqlLiteral(kinds[i], value, charsets[i]));
    if (this.rowsInStatement > 0 && this.pos + 2 + exact + END.length > this.limit) this.finishStatement(this.pos);
    const buffer = this.buffer;
    let pos = this.rowsInStatement === 0 ? this.header.copy(buffer, 0) : this.pos + COMMA_NEWLINE.copy(buffer, this.pos);
    buffer[pos++] = 0x28;
    literals.forEach((literal, i) => {
      if (i > 0) buffer[pos++] = 0x2c;
      pos += literal.copy(buffer, pos);
    });
    buffer[pos++] = 0x29;
    this.pos = pos;
    this.rowsInStatement += 1;
  }
}

/**
 * One row too large for a single statement: each large value is assembled in a session
 * variable from hex chunks (SET @cb_vN = 0x...; SET @cb_vN = CONCAT(@cb_vN, 0x...)), then
 * the row is inserted naming the variables. Works without a primary key and within any
 * packet limit the value itself fits in. All statements of the chain go to one part file.
 */
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
  // Copied: the values may share the row packet's memory, which is not ours to keep.
  yield Buffer.concat(parts);
  if (variables.length > 0) yield Buffer.from(`SET ${variables.map((v) => `${v} = NULL`).join(', ')};\n`, 'latin1');
}

/** Statements for rows given as values (tests and tools): the dump's encoder, fed re-encoded rows. */
export function insertStatementsFor(rows: Iterable<readonly (Buffer | null)[]>, table: string, columns: ColumnInfo[], limit: number, digest: TableDigest): Buffer[] {
  const statements: Buffer[] = [];
  const encoder = new InsertEncoder(table, columns, limit, digest, (statement) => statements.push(Buffer.from(statement)));
  for (const row of rows) {
    const encoded = encodeTextRow(row);
    encoder.addEncodedRow(encoded, 0, encoded.length);
  }
  encoder.end();
  return statements;
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

/**
 * Statements queued per part file before the socket is paused. Several statements: pausing
 * the socket stops the server's sending thread, and restarting it costs a round trip, so a
 * lane that takes statements one at a time would leave the compressor waiting for rows.
 */
const LANE_BUFFER_BYTES = 4 * 1024 * 1024;

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
  const finished: PartRecord[] = [];
  const contentBytes = new Map<number, number>();
  let failure: unknown;
  let partsOpened = 0;
  const lanes: (Lane | undefined)[] = new Array(laneCount).fill(undefined);
  const pending: Promise<unknown>[] = [];
  let firstPart: Promise<PartRecord> | undefined;
  let reader: RowPacketReader | undefined;
  let paused = false;

  const fail = (error: unknown): void => {
    failure ??= error;
    reader?.discard(failure);
  };
  const report = (): void => {
    let raw = 0;
    for (const bytes of contentBytes.values()) raw += bytes;
    options.onProgress?.(digest.rows, raw);
  };
  const nameOf = (number: number): string =>
    laneCount === 1 && number === 1 ? options.logicalBase : `${options.logicalBase}.${String(number).padStart(4, '0')}`;
  const hasRoom = (lane: Lane | undefined): boolean => lane === undefined || !lane.input.writableNeedDrain;
  const onDrain = (): void => {
    if (paused && lanes.some(hasRoom)) {
      paused = false;
      reader?.resume();
    }
  };

  const openLane = (): Lane => {
    partsOpened += 1;
    const number = partsOpened;
    if (laneCount === 1 && number === 2 && firstPart) {
      // The table turned out to need several parts: the first one gets its number too,
      // once it is complete (its record was pushed by the handler registered before this one).
      pending.push(
        firstPart.then(
          async (first) => {
            const renamed = first.path.replace(/^(.*\/200-data-[^/]*?)(\.sql.*)$/, (_m, base: string, ext: string) => `${base}.0001${ext}`);
            await rename(join(options.setDir, first.path), join(options.setDir, renamed));
            const at = finished.findIndex((p) => p.path === first.path);
            if (at >= 0) finished[at] = { ...first, path: renamed };
          },
          () => undefined,
        ),
      );
    }
    const input = new PassThrough({ highWaterMark: LANE_BUFFER_BYTES });
    // pipeline() reports a failing part through writePart's promise; a late write to the
    // destroyed input must not become an unhandled 'error' event.
    input.on('error', () => undefined);
    input.on('drain', onDrain);
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
        (error: unknown) => fail(error),
      ),
    );
    return { input, done, number, rawBytes: 0 };
  };

  const closeLane = (index: number): void => {
    lanes[index]?.input.end();
    lanes[index] = undefined;
    // A closed lane leaves room for a new one.
    onDrain();
  };

  let next = 0;
  let chainLane = -1;
  /** Called synchronously from the row callback: picks a lane, writes, pauses the socket when all lanes are full. */
  const write: StatementSink = (statement, continued) => {
    if (failure !== undefined) throw failure;
    // Round robin over lanes with room; a statement continuing a chain goes where the chain started.
    let index = chainLane;
    for (let tries = 0; index < 0 && tries < laneCount; tries += 1) {
      const candidate = (next + tries) % laneCount;
      if (hasRoom(lanes[candidate])) index = candidate;
    }
    if (index < 0) index = next % laneCount;
    next = index + 1;
    let lane = lanes[index];
    if (!lane) {
      lane = openLane();
      lanes[index] = lane;
    }
    if (lane.input.destroyed) throw failure ?? new BackupError('IO', `Writing the data of ${options.table} stopped unexpectedly.`);
    lane.input.write(statement);
    lane.rawBytes += statement.length;
    chainLane = continued ? index : -1;
    if (lane.rawBytes >= partLimit && chainLane < 0) closeLane(index);
    if (!paused && !lanes.some(hasRoom)) {
      paused = true;
      reader?.pause();
    }
  };

  const encoder = new InsertEncoder(options.table, options.columns, limit, digest, write);
  const sql = selectStatement(options.table, storedColumns(options.columns), options.primaryKey);
  try {
    reader = readRowPackets(options.connection, sql, (buffer, start, end) => encoder.addEncodedRow(buffer, start, end));
    await reader.done;
    if (failure !== undefined) throw failure;
    encoder.end();
    // An empty table still gets its (comment-only) data file.
    if (partsOpened === 0) lanes[0] = openLane();
    for (let i = 0; i < laneCount; i += 1) closeLane(i);
  } catch (error) {
    for (const lane of lanes) lane?.input.destroy();
    await Promise.allSettled(pending);
    throw rowReadError(failure ?? error);
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
