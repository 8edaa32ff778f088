/**
 * Rows, given as their text-protocol encoding (text-row.ts), as multi-row INSERT statements.
 * Pure and synchronous: the dump runs it in encoder worker threads (encoder-worker.ts) or, when
 * no worker can run, on the main thread from the socket's row callback.
 */
import type { TableDigest } from './row-digest.js';
import { literalLength, literalMaxBytes, quoteIdentifier, sqlLiteral, variableExpression, writeHexDigits, writeLiteralRange, writeNull, type ValueKind } from './sql-literal.js';
import { columnBounds, decodeTextRow, encodeTextRow } from './text-row.js';

/** What the encoder needs of a column (introspect.ts ColumnInfo has it). */
export interface EncodedColumn {
  name: string;
  kind: ValueKind;
  charset: string | null;
}

/**
 * A statement's own memory (never Node's shared 8 KiB pool), so a worker can transfer it to
 * the main thread without copying.
 */
function statementBuffer(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size));
}

const OPEN = Buffer.from('(');
const CLOSE = Buffer.from(')');
const COMMA = Buffer.from(',');
const END = Buffer.from(';\n');
const COMMA_NEWLINE = Buffer.from(',\n');

/** Where finished statements go, in order. */
export interface StatementSink {
  /**
   * A statement that stands alone (any part file may take it). `cut` is true when the
   * statement ended at a content-defined boundary (RowCuts), false when it ended because the
   * next row did not fit (or at the end of the rows).
   */
  statement(sql: Buffer, cut?: boolean): void;
  /**
   * The statements of one row too large for a statement (session-variable chunks, then the
   * INSERT): they must go to one part file, in order. Pulled lazily, so the consumer can wait
   * for room between chunks: a 64 MB value is 128 MB of hex, never all in memory at once.
   * The iterator reads the row's bytes, which stay valid (the packet is not reused).
   */
  chain(parts: Iterator<Buffer>): void;
}

/**
 * Content-defined statement ends (deduplicated sets, db/dump-to-blobs.ts): a statement ends
 * after a row whose row hash (the first 32-bit word of the row's digest hash, row-digest.ts)
 * is below rowBytes / targetBytes * 2^32, once the statement holds at least `minBytes`.
 * Each row is a cut point with a chance proportional to its size, so statements average
 * about minBytes + targetBytes and their ends depend only on the rows around them: inserting
 * or deleting a row moves the ends next to it and no others. The statement limit stays the
 * maximum.
 */
export interface RowCuts {
  targetBytes: number;
  minBytes: number;
}

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
 * Synchronous and pure apart from `sink`: the dump calls it from the socket's row callback.
 */
export class InsertEncoder {
  private readonly kinds: ValueKind[];
  private readonly charsets: (string | null)[];
  private readonly perByte: Int32Array;
  private readonly extra: Int32Array;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private readonly stored: EncodedColumn[];
  private readonly header: Buffer;
  /** Rows whose worst-case size stays below this always fit a statement alone. */
  private readonly smallRow: number;
  private readonly capacity: number;
  private buffer: Buffer;
  private pos = 0;
  private rowsInStatement = 0;
  /** 2^32 / cuts.targetBytes: a row of n bytes ends its statement when its hash < n * this. */
  private readonly cutScale: number;
  private readonly cutMinBytes: number;

  /**
   * `stored`: the columns the statements name, in select order (generated columns left out).
   * `cuts`: end statements at content-defined rows too (absent: only at the limit).
   */
  constructor(
    table: string,
    stored: EncodedColumn[],
    private readonly limit: number,
    private readonly digest: TableDigest,
    private readonly sink: StatementSink,
    cuts?: RowCuts,
  ) {
    this.cutScale = cuts ? 2 ** 32 / Math.max(1, cuts.targetBytes) : 0;
    this.cutMinBytes = cuts ? cuts.minBytes : Infinity;
    this.stored = stored;
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
    this.buffer = statementBuffer(this.capacity);
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
    let pos: number;
    if (this.rowsInStatement === 0) pos = this.header.copy(buffer, 0);
    else {
      // Two bytes written directly: a native copy per row costs more than the bytes.
      buffer[separatorAt] = 0x2c; // ,
      buffer[separatorAt + 1] = 0x0a; // \n
      pos = separatorAt + 2;
    }
    const rowStart = pos;
    buffer[pos++] = 0x28; // (
    for (let i = 0; i < count; i += 1) {
      if (i > 0) buffer[pos++] = 0x2c; // ,
      pos = starts[i] < 0 ? writeNull(buffer, pos) : writeLiteralRange(kinds[i], encoded, starts[i], ends[i], charsets[i], buffer, pos);
    }
    buffer[pos++] = 0x29; // )
    const rowLength = pos - rowStart;
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
    this.cutAfterRow(rowLength);
  }

  /** Emits the statement in progress, if any. */
  end(): void {
    if (this.rowsInStatement > 0) this.finishStatement(this.pos);
  }

  /** Ends the statement after the row just added when the row is a content-defined cut point. */
  private cutAfterRow(rowBytes: number): void {
    if (this.pos < this.cutMinBytes) return;
    if (this.digest.lastRowHash < rowBytes * this.cutScale) this.finishStatement(this.pos, true);
  }

  private finishStatement(end: number, cut = false): void {
    const statement = this.buffer.subarray(0, end + END.copy(this.buffer, end));
    this.buffer = statementBuffer(this.capacity);
    this.pos = 0;
    this.rowsInStatement = 0;
    this.sink.statement(statement, cut);
  }

  /** A row whose worst case exceeds a statement: measured exactly (rare path). */
  private addLargeRow(row: (Buffer | null)[]): void {
    const { kinds, charsets, stored } = this;
    // Lengths without building the literals: an 8 MB value would cost 16 MB of hex here.
    const lengths = row.map((value, i) => literalLength(kinds[i], value, charsets[i]));
    const exact = lengths.reduce((sum, n) => sum + n, 3 + row.length);
    if (exact > this.smallRow) {
      if (this.rowsInStatement > 0) this.finishStatement(this.pos);
      this.sink.chain(bigRowParts(this.header, stored, row, lengths, this.limit));
      return;
    }
    const literals = row.map((value, i) => sqlLiteral(kinds[i], value, charsets[i]));
    if (this.rowsInStatement > 0 && this.pos + 2 + exact + END.length > this.limit) this.finishStatement(this.pos);
    const buffer = this.buffer;
    let pos = this.rowsInStatement === 0 ? this.header.copy(buffer, 0) : this.pos + COMMA_NEWLINE.copy(buffer, this.pos);
    const rowStart = pos;
    buffer[pos++] = 0x28;
    literals.forEach((literal, i) => {
      if (i > 0) buffer[pos++] = 0x2c;
      pos += literal.copy(buffer, pos);
    });
    buffer[pos++] = 0x29;
    this.pos = pos;
    this.rowsInStatement += 1;
    this.cutAfterRow(pos - rowStart);
  }
}

/**
 * One row too large for a single statement: each large value is assembled in a session
 * variable from hex chunks (SET @cb_vN = 0x...; SET @cb_vN = CONCAT(@cb_vN, 0x...)), then
 * the row is inserted naming the variables. Works without a primary key and within any
 * packet limit the value itself fits in. All statements of the chain go to one part file.
 */
function* bigRowParts(header: Buffer, stored: EncodedColumn[], row: (Buffer | null)[], lengths: number[], limit: number): Generator<Buffer> {
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
export function insertStatementsFor(
  rows: Iterable<readonly (Buffer | null)[]>,
  table: string,
  stored: EncodedColumn[],
  limit: number,
  digest: TableDigest,
  cuts?: RowCuts,
): Buffer[] {
  const statements: Buffer[] = [];
  const encoder = new InsertEncoder(
    table,
    stored,
    limit,
    digest,
    {
      statement: (sql) => statements.push(Buffer.from(sql)),
      chain: (parts) => {
        for (let next = parts.next(); !next.done; next = parts.next()) statements.push(Buffer.from(next.value));
      },
    },
    cuts,
  );
  for (const row of rows) {
    const encoded = encodeTextRow(row);
    encoder.addEncodedRow(encoded, 0, encoded.length);
  }
  encoder.end();
  return statements;
}

