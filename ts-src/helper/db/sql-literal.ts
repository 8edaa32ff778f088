/**
 * Values as SQL literals, exactly. Pure: input is the server's text-protocol bytes of a
 * column (mysql2 with typeCast off), output the bytes of a literal that stores the same
 * value again. Working on bytes, not JS strings, keeps every value exact (no UTF-16 round
 * trip) and avoids decoding in the hot path.
 *
 * How each column is read (see selectExpression) and written:
 * - number  (integers, DECIMAL, YEAR): the server's digits as they are.
 * - float   (FLOAT, DOUBLE): read as CAST(col AS DOUBLE), which the server prints as the
 *           shortest text that parses back to the same double; a FLOAT widened to DOUBLE
 *           is exact and narrows back to the same FLOAT. Written with an exponent ("e0"
 *           when it has none) so the server parses a float literal, not a DECIMAL.
 * - binary  (BINARY, VARBINARY, BLOBs, BIT, spatial): 0x hex of the bytes; '' when empty.
 * - text    (utf8mb3/utf8mb4 strings, ENUM, SET, JSON, temporal, INET4/6, UUID): a quoted
 *           string with \0 \' \\ \n \r \Z escaped. UTF-8 multibyte sequences never contain
 *           bytes below 0x80, so escaping byte by byte is safe.
 * - charset (strings in any other character set): read as CAST(col AS BINARY) and written as
 *           _<charset>0x<hex>, so no conversion through utf8mb4 can alter a byte.
 */

export type ValueKind = 'number' | 'float' | 'binary' | 'text' | 'charset';

export interface ColumnShape {
  name: string;
  /** information_schema.COLUMNS.DATA_TYPE, lower case. */
  dataType: string;
  /** information_schema.COLUMNS.CHARACTER_SET_NAME, null for non-strings. */
  charset: string | null;
}

const NUMBER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'dec', 'fixed', 'year']);
const FLOAT_TYPES = new Set(['float', 'double', 'real', 'double precision']);
const BINARY_TYPES = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'bit',
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
]);
/** Character sets whose text passes unchanged through a utf8mb4 connection. */
const UTF8_CHARSETS = new Set(['utf8mb4', 'utf8mb3', 'utf8']);

export function valueKind(column: ColumnShape): ValueKind {
  const type = column.dataType.toLowerCase();
  if (NUMBER_TYPES.has(type)) return 'number';
  if (FLOAT_TYPES.has(type)) return 'float';
  if (BINARY_TYPES.has(type)) return 'binary';
  const charset = column.charset?.toLowerCase();
  if (charset === 'binary') return 'binary';
  if (charset && !UTF8_CHARSETS.has(charset)) return 'charset';
  return 'text';
}

export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A quoted string literal for SQL text we generate (names in comments, sql_mode values...). */
export function quoteString(text: string): string {
  return escapeText(Buffer.from(text, 'utf8')).toString('utf8');
}

/** The expression the dump (and deep verify) selects for a column; both must agree. */
export function selectExpression(column: ColumnShape): string {
  const kind = valueKind(column);
  const name = quoteIdentifier(column.name);
  if (kind === 'float') return `CAST(${name} AS DOUBLE)`;
  if (kind === 'charset') return `CAST(${name} AS BINARY)`;
  return name;
}

const NULL_LITERAL = Buffer.from('NULL');
const EMPTY_STRING = Buffer.from("''");
const HEX_PREFIX = Buffer.from('0x');
/** The letter after the backslash for the six bytes that need one; 0 for every other byte (a typed array: one load, no hole checks). */
const ESCAPES = new Uint8Array(256);
ESCAPES[0x00] = 0x30; // \0
ESCAPES[0x0a] = 0x6e; // \n
ESCAPES[0x0d] = 0x72; // \r
ESCAPES[0x1a] = 0x5a; // \Z
ESCAPES[0x27] = 0x27; // \'
ESCAPES[0x5c] = 0x5c; // \\

/** '...' with the six bytes MySQL string syntax needs escaped (the dump's own writer, exactly sized). */
export function escapeText(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(literalLength('text', raw));
  writeLiteralRange('text', raw, 0, raw.length, null, out, 0);
  return out;
}

export function hexLiteral(raw: Buffer): Buffer {
  if (raw.length === 0) return EMPTY_STRING;
  return Buffer.concat([HEX_PREFIX, Buffer.from(raw.toString('hex'), 'latin1')]);
}

function floatLiteral(raw: Buffer): Buffer {
  // The server prints e.g. "1.5", "5e-324", "1.7976931348623157e308"; no NaN or Inf exist in MariaDB.
  for (let i = 0; i < raw.length; i += 1) if (raw[i] === 0x65 || raw[i] === 0x45) return raw;
  return Buffer.concat([raw, Buffer.from('e0')]);
}

/** The literal for one value read with selectExpression(). `raw` null is SQL NULL. */
export function sqlLiteral(kind: ValueKind, raw: Buffer | null, charset?: string | null): Buffer {
  if (raw === null) return NULL_LITERAL;
  switch (kind) {
    case 'number':
      return raw;
    case 'float':
      return floatLiteral(raw);
    case 'binary':
      return hexLiteral(raw);
    case 'text':
      return escapeText(raw);
    case 'charset':
      return raw.length === 0 ? Buffer.from(`_${charset ?? 'binary'}''`) : Buffer.concat([Buffer.from(`_${charset ?? 'binary'} `), hexLiteral(raw)]);
  }
}

/**
 * The expression that turns a session variable holding a value's raw bytes (built from hex
 * chunks, so it is a binary string) back into the column's value.
 */
export function variableExpression(kind: ValueKind, variable: string, charset?: string | null): string {
  if (kind === 'text') return `CONVERT(${variable} USING utf8mb4)`;
  if (kind === 'charset') return `CONVERT(${variable} USING ${charset ?? 'binary'})`;
  return variable;
}

/** An upper bound of the literal's size in bytes (exact for all kinds but text). */
export function literalMaxLength(kind: ValueKind, raw: Buffer | null, charset?: string | null): number {
  return raw === null ? 4 : literalMaxBytes(kind, raw.length, charset);
}

/** The literal's exact size in bytes, without building it. */
export function literalLength(kind: ValueKind, raw: Buffer | null, charset?: string | null): number {
  if (raw === null || kind !== 'text') {
    if (raw !== null && kind === 'float') return sqlLiteral(kind, raw, charset).length;
    if (raw !== null && kind === 'binary' && raw.length === 0) return 2;
    if (raw !== null && kind === 'charset' && raw.length === 0) return sqlLiteral(kind, raw, charset).length;
    return literalMaxLength(kind, raw, charset);
  }
  let extra = 0;
  for (let i = 0; i < raw.length; i += 1) if (ESCAPES[raw[i]] !== 0) extra += 1;
  return 2 + raw.length + extra;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Lower-case hex digits of `raw` into `out` at `offset`, no intermediate string; returns the new offset. */
export function writeHexDigits(raw: Buffer, out: Buffer, offset: number): number {
  for (let i = 0; i < raw.length; i += 1) {
    out[offset++] = HEX_DIGITS[raw[i] >> 4];
    out[offset++] = HEX_DIGITS[raw[i] & 15];
  }
  return offset;
}

/** Hex of src[start, end): short values byte by byte, long ones through the native encoder. */
function writeHexRange(src: Buffer, start: number, end: number, out: Buffer, offset: number): number {
  if (end - start >= 64) return offset + out.write(src.toString('hex', start, end), offset, 'latin1');
  for (let i = start; i < end; i += 1) {
    out[offset++] = HEX_DIGITS[src[i] >> 4];
    out[offset++] = HEX_DIGITS[src[i] & 15];
  }
  return offset;
}

const SPECIAL_BYTES = [0x00, 0x0a, 0x0d, 0x1a, 0x27, 0x5c];

/** The next `byte` in src[from, end), or -1 (indexOf searches to the buffer's end: clamp). */
function nextSpecial(src: Buffer, byte: number, from: number, end: number): number {
  const at = src.indexOf(byte, from);
  return at < end ? at : -1;
}

/**
 * Long text: memchr-speed native searches for each of the six special bytes and native copies
 * of the runs between them, instead of a JS loop over every byte (4x faster on CiviCRM text).
 */
function writeLongText(src: Buffer, start: number, end: number, out: Buffer, offset: number): number {
  out[offset++] = 0x27;
  const next = SPECIAL_BYTES.map((byte) => nextSpecial(src, byte, start, end));
  let position = start;
  for (;;) {
    let at = -1;
    let which = -1;
    for (let k = 0; k < 6; k += 1) {
      if (next[k] >= 0 && (at < 0 || next[k] < at)) {
        at = next[k];
        which = k;
      }
    }
    if (at < 0) break;
    if (at > position) offset += src.copy(out, offset, position, at);
    out[offset++] = 0x5c;
    out[offset++] = ESCAPES[SPECIAL_BYTES[which]];
    position = at + 1;
    next[which] = nextSpecial(src, SPECIAL_BYTES[which], position, end);
  }
  if (position < end) offset += src.copy(out, offset, position, end);
  out[offset++] = 0x27;
  return offset;
}

/**
 * Writes the same bytes as sqlLiteral() into `out` at `offset` without allocating; returns
 * the new offset. `out` must have literalMaxLength() bytes free.
 */
export function writeLiteral(kind: ValueKind, raw: Buffer | null, charset: string | null | undefined, out: Buffer, offset: number): number {
  if (raw === null) return writeNull(out, offset);
  return writeLiteralRange(kind, raw, 0, raw.length, charset, out, offset);
}

export function writeNull(out: Buffer, offset: number): number {
  out[offset] = 0x4e; // N
  out[offset + 1] = 0x55; // U
  out[offset + 2] = 0x4c; // L
  out[offset + 3] = 0x4c; // L
  return offset + 4;
}

/** An upper bound of the literal's size for a non-NULL value of `length` bytes (see literalMaxLength). */
export function literalMaxBytes(kind: ValueKind, length: number, charset?: string | null): number {
  switch (kind) {
    case 'number':
      return length;
    case 'float':
      return length + 2;
    case 'binary':
    case 'text':
      return 2 + 2 * length;
    case 'charset':
      return (charset ?? 'binary').length + 4 + 2 * length;
  }
}

/**
 * The literal of the non-NULL value in src[start, end), written into `out` at `offset`:
 * the dump's hot path, reading values where the server's row packet holds them.
 */
export function writeLiteralRange(kind: ValueKind, src: Buffer, start: number, end: number, charset: string | null | undefined, out: Buffer, offset: number): number {
  switch (kind) {
    case 'number':
      if (end - start < 16) {
        for (let i = start; i < end; i += 1) out[offset++] = src[i];
        return offset;
      }
      return offset + src.copy(out, offset, start, end);
    case 'float': {
      for (let i = start; i < end; i += 1) out[offset++] = src[i];
      for (let i = start; i < end; i += 1) if (src[i] === 0x65 || src[i] === 0x45) return offset;
      out[offset] = 0x65; // e
      out[offset + 1] = 0x30; // 0
      return offset + 2;
    }
    case 'binary':
      if (end === start) {
        out[offset] = 0x27;
        out[offset + 1] = 0x27;
        return offset + 2;
      }
      out[offset] = 0x30; // 0
      out[offset + 1] = 0x78; // x
      return writeHexRange(src, start, end, out, offset + 2);
    case 'text': {
      if (end - start >= 48) return writeLongText(src, start, end, out, offset);
      out[offset++] = 0x27;
      for (let i = start; i < end; i += 1) {
        const byte = src[i];
        const escaped = ESCAPES[byte];
        if (escaped === 0) out[offset++] = byte;
        else {
          out[offset++] = 0x5c;
          out[offset++] = escaped;
        }
      }
      out[offset++] = 0x27;
      return offset;
    }
    case 'charset': {
      const literal = sqlLiteral(kind, src.subarray(start, end), charset);
      return offset + literal.copy(out, offset);
    }
  }
}

/** Strings a literal is as text, for tests and messages. */
export function literalText(kind: ValueKind, raw: Buffer | null, charset?: string | null): string {
  return sqlLiteral(kind, raw, charset).toString('utf8');
}
