/**
 * The rows of one table as multi-row INSERT statements, streamed: rows come from the server
 * one by one (mysql2 pauses the socket when we fall behind), each statement is assembled from
 * the rows' literal pieces and handed on when it reaches the size limit, and large tables
 * roll over to a new part file every `partRawBytes`. Memory stays at about one statement
 * plus the stream buffers, whatever the table size.
 */
import type { Connection } from 'mysql2';
import type { Readable } from 'node:stream';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { PartRecord } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import { writePart } from '../set/part-writer.js';
import type { WriteCodec } from '../set/codec.js';
import type { ColumnInfo } from './introspect.js';
import { selectStatement, storedColumns } from './introspect.js';
import { TableDigest } from './row-digest.js';
import { hexLiteral, literalMaxLength, quoteIdentifier, sqlLiteral, variableExpression, writeLiteral } from './sql-literal.js';

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
 * Turns a stream of raw rows into SQL statements (Buffers), updating the digest and counts.
 * Each statement is written straight into one buffer, literal by literal (no per-value
 * allocation); a row that would overflow the limit moves to the next statement.
 * Exported for tests: it is pure apart from reading `rows`.
 */
export async function* insertStatements(
  rows: AsyncIterable<(Buffer | null)[]>,
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
  for await (const row of rows) {
    digest.addRow(row);
    let worst = 3 + row.length;
    for (let i = 0; i < row.length; i += 1) worst += literalMaxLength(kinds[i], row[i], charsets[i]);
    if (worst > smallRow) {
      // Possibly too big to share a statement: measure exactly (rare path).
      const literals = row.map((value, i) => sqlLiteral(kinds[i], value, charsets[i]));
      const exact = literals.reduce((sum, l) => sum + l.length, 3 + row.length);
      if (exact > smallRow) {
        if (rowsInStatement > 0) yield finish(pos);
        pos = 0;
        rowsInStatement = 0;
        yield* bigRowStatements(header, stored, row, literals, limit);
        continue;
      }
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
function* bigRowStatements(header: Buffer, stored: ColumnInfo[], row: (Buffer | null)[], literals: Buffer[], limit: number): Generator<Buffer> {
  const chunkRaw = Math.max(1024, Math.floor((limit - 64) / 2));
  const inline = Math.floor(limit / (2 * Math.max(1, stored.length)));
  const values: Buffer[] = [];
  const variables: string[] = [];
  for (let i = 0; i < row.length; i += 1) {
    const raw = row[i];
    if (raw === null || literals[i].length <= inline) {
      values.push(literals[i]);
      continue;
    }
    const variable = `@cb_v${variables.length + 1}`;
    variables.push(variable);
    for (let offset = 0; offset < raw.length; offset += chunkRaw) {
      const hex = hexLiteral(raw.subarray(offset, offset + chunkRaw));
      const statement = offset === 0 ? `SET ${variable} = ${hex.toString('latin1')};\n` : `SET ${variable} = CONCAT(${variable}, ${hex.toString('latin1')});\n`;
      yield Buffer.from(statement, 'latin1');
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

/**
 * Streams raw rows of a SELECT (typeCast off: Buffers and nulls, exactly as the server sent
 * them). mysql2's query stream neither ends nor errors when the server drops the connection
 * mid-result (KILL, restart): only the connection says so. Without this wiring the reader
 * would wait forever and Node would exit 0 with nothing written.
 */
export function streamRows(connection: Connection, sql: string): Readable {
  const stream = connection.query({ sql, rowsAsArray: true, typeCast: false }).stream({ highWaterMark: 64 });
  const onLost = (error?: Error): void => {
    if (stream.readableEnded || stream.destroyed) return;
    const lost = new BackupError('DB_LOST', `The database connection was lost while reading rows (${error?.message ?? 'the server closed the connection'}).`, {
      cause: error,
    });
    stream.destroy(lost);
  };
  const onEnd = (): void => onLost();
  connection.on('error', onLost);
  connection.on('end', onEnd);
  stream.once('close', () => {
    connection.off('error', onLost);
    connection.off('end', onEnd);
  });
  return stream;
}

/**
 * Dumps one table to one or more part files. Each part is complete statements only, so every
 * part restores on its own after the prelude.
 */
export async function dumpTable(options: TableDumpOptions): Promise<TableDumpResult> {
  const limit = statementLimit(options.maxAllowedPacket, options.statementBytes);
  const partLimit = options.partRawBytes ?? DEFAULT_PART_RAW_BYTES;
  const digest = new TableDigest();
  const sql = selectStatement(options.table, storedColumns(options.columns), options.primaryKey);
  const rowStream = streamRows(options.connection, sql);
  const statements = insertStatements(rowStream as AsyncIterable<(Buffer | null)[]>, options.table, options.columns, limit, digest);
  const iterator = statements[Symbol.asyncIterator]();
  const parts: PartRecord[] = [];
  let rawBefore = 0;
  let rawTotal = 0;
  try {
    let pending = await iterator.next();
    let index = 0;
    do {
      index += 1;
      const partNumber = index;
      const title = Buffer.from(`-- CiviBackup: rows of table ${quoteIdentifier(options.table).replace(/\n/g, ' ')}${partNumber > 1 ? `, part ${partNumber}` : ''}\n`, 'utf8');
      async function* partSource(): AsyncGenerator<Buffer> {
        yield title;
        let bytes = title.length;
        while (!pending.done) {
          const statement = pending.value;
          yield statement;
          bytes += statement.length;
          pending = await iterator.next();
          if (bytes >= partLimit) return;
        }
      }
      const logical = partNumber === 1 ? options.logicalBase : `${options.logicalBase}.${String(partNumber).padStart(4, '0')}`;
      if (partNumber === 2) {
        // The table turned out to need several parts: the first one gets its number too.
        const first = parts[0];
        const renamed = first.path.replace(/^(.*\/200-data-[^/]*?)(\.sql.*)$/, (_m, base: string, ext: string) => `${base}.0001${ext}`);
        await rename(join(options.setDir, first.path), join(options.setDir, renamed));
        parts[0] = { ...first, path: renamed };
      }
      const record = await writePart(options.setDir, `${logical}.sql`, partSource(), {
        codec: options.codec,
        signal: options.signal,
        onContentBytes: (bytes) => {
          rawTotal = rawBefore + bytes;
          options.onProgress?.(digest.rows, rawTotal);
        },
      });
      rawBefore += record.rawBytes;
      parts.push(record);
    } while (!pending.done);
  } finally {
    await iterator.return?.(undefined);
    rowStream.destroy();
  }
  return { rows: digest.rows, digest: digest.hex(), parts, rawBytes: rawBefore };
}
