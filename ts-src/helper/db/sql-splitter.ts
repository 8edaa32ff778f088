/**
 * A streaming SQL statement splitter that cuts a dump the way the mariadb client does for
 * our format: a statement ends at the current delimiter outside strings, quoted identifiers
 * and comments; a `DELIMITER xx` line at the start of a statement changes the delimiter.
 *
 * It works on bytes, not characters: every byte that matters to the syntax is ASCII, and in
 * UTF-8 (or any ASCII-compatible charset) an ASCII byte is never part of a multi-byte
 * character, so statements are cut without decoding and reach the server byte for byte.
 *
 * Chunk boundaries are safe: the scanner keeps its state between chunks and only holds back
 * the few bytes it needs to look ahead ("--" + space, "/*!", a multi-byte delimiter, a
 * DELIMITER line). A huge statement is kept as a list of chunk slices and joined once, so
 * a statement of tens of MB costs linear time.
 *
 * Comments are kept in the statement text (the server ignores them, and routine bodies keep
 * theirs as in the source); a statement that holds only comments and blanks is dropped, as
 * the client does. `/*!NNNNN ... *\/` executable comments are statement text.
 */

const enum State {
  Normal,
  SingleQuote,
  DoubleQuote,
  Backtick,
  LineComment,
  BlockComment,
}

const BACKSLASH = 0x5c;
const SINGLE = 0x27;
const DOUBLE = 0x22;
const BACKTICK = 0x60;
const DASH = 0x2d;
const HASH = 0x23;
const SLASH = 0x2f;
const STAR = 0x2a;
const BANG = 0x21;
const NEWLINE = 0x0a;
const LETTER_M = 0x4d;

export interface SqlStatement {
  /** The statement bytes, without its delimiter. */
  sql: Buffer;
  /** 1-based position of the statement in the input. */
  index: number;
  /** 1-based line of the statement's first byte that is not blank or comment. */
  line: number;
}

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

/** `-- ` starts a comment only when the dashes are followed by a blank or control char. */
function isCommentDashFollower(byte: number): boolean {
  return byte <= 0x20;
}

/** Bytes that can start or end something in the normal state (besides the delimiter). */
const INTERESTING = new Uint8Array(256);
for (const b of [SINGLE, DOUBLE, BACKTICK, DASH, HASH, SLASH, NEWLINE]) INTERESTING[b] = 1;

const DELIMITER_COMMAND = /^[ \t]*delimiter[ \t]+(\S+)/i;
const DELIMITER_WORD = 'delimiter';
const DELIMITER_WORD_RE = /^delimiter[ \t]$/i;

export class SqlSplitter {
  private delimiter: Buffer;
  private state = State.Normal;
  /** In a quoted string the previous byte was an unescaped backslash. */
  private escapeNext = false;
  private hasContent = false;
  /** No non-blank byte seen on the current line yet (for DELIMITER commands). */
  private lineBlank = true;
  /** Slices of the current statement from earlier chunks. */
  private pieces: Buffer[] = [];
  /** Bytes held back from the previous chunk because they needed look-ahead. */
  private carry: Buffer | null = null;
  private statementCount = 0;
  private line = 1;
  private statementLine = 1;

  constructor(delimiter = ';') {
    this.delimiter = Buffer.from(delimiter, 'utf8');
  }

  get currentDelimiter(): string {
    return this.delimiter.toString('utf8');
  }

  /** Feeds bytes; returns the statements completed by them. */
  push(chunk: Buffer): SqlStatement[] {
    const out: SqlStatement[] = [];
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    this.scan(buf, false, out);
    return out;
  }

  /** Ends the input; returns the last statement when it had no delimiter. */
  end(): SqlStatement[] {
    const out: SqlStatement[] = [];
    const buf = this.carry ?? Buffer.alloc(0);
    this.carry = null;
    this.scan(buf, true, out);
    if (this.hasContent) this.emit(out, []);
    this.pieces = [];
    this.hasContent = false;
    return out;
  }

  private emit(out: SqlStatement[], tail: Buffer[]): void {
    const all = this.pieces.length === 0 ? tail : [...this.pieces, ...tail];
    const sql = all.length === 1 ? all[0] : Buffer.concat(all);
    this.statementCount += 1;
    out.push({ sql, index: this.statementCount, line: this.statementLine });
  }

  private startNextStatement(): void {
    this.pieces = [];
    this.hasContent = false;
  }

  private markContent(): void {
    if (!this.hasContent) {
      this.hasContent = true;
      this.statementLine = this.line;
    }
  }

  private scan(buf: Buffer, final: boolean, out: SqlStatement[]): void {
    const len = buf.length;
    let start = 0; // first byte of the current statement inside buf
    let pos = 0;
    let state = this.state;
    let escapeNext = this.escapeNext;
    let delimiter = this.delimiter;
    let delimFirst = delimiter[0];
    let hold = -1; // position from which bytes are carried to the next chunk

    while (pos < len) {
      const byte = buf[pos];
      switch (state) {
        case State.SingleQuote:
        case State.DoubleQuote:
        case State.Backtick: {
          // Fast inner loop: strings are most of a data file.
          const quote = state === State.SingleQuote ? SINGLE : state === State.DoubleQuote ? DOUBLE : BACKTICK;
          const escapes = state !== State.Backtick;
          let p = pos;
          let closed = false;
          if (escapeNext) {
            // the escaped byte arrived in this chunk
            escapeNext = false;
            if (buf[p] === NEWLINE) this.line += 1;
            p += 1;
          }
          while (p < len) {
            const b = buf[p];
            if (b === quote) {
              closed = true;
              p += 1;
              break;
            }
            if (b === NEWLINE) {
              this.line += 1;
            } else if (b === BACKSLASH && escapes) {
              if (p + 1 >= len) {
                escapeNext = true;
              } else {
                if (buf[p + 1] === NEWLINE) this.line += 1;
                p += 1;
              }
            }
            p += 1;
          }
          // A doubled quote closes and reopens: the same states as '' inside a string.
          if (closed) state = State.Normal;
          pos = p;
          continue;
        }
        case State.LineComment: {
          const nl = buf.indexOf(NEWLINE, pos);
          if (nl < 0) {
            pos = len;
          } else {
            this.line += 1;
            this.lineBlank = true;
            state = State.Normal;
            pos = nl + 1;
          }
          continue;
        }
        case State.BlockComment: {
          let p = pos;
          let closed = false;
          while (p < len) {
            const b = buf[p];
            if (b === NEWLINE) this.line += 1;
            else if (b === STAR) {
              if (p + 1 >= len) {
                if (!final) break;
              } else if (buf[p + 1] === SLASH) {
                closed = true;
                p += 2;
                break;
              }
            }
            p += 1;
          }
          if (closed) {
            state = State.Normal;
            pos = p;
            continue;
          }
          if (p < len) {
            hold = p; // a lone '*' at the chunk end: decide with the next chunk
            break;
          }
          pos = p;
          continue;
        }
        case State.Normal:
          break;
      }
      if (hold >= 0) break;

      // Normal state. Inside a statement's text only a few bytes can change anything:
      // skip the rest (digits, commas, parentheses of a VALUES list) in a tight loop.
      if (this.hasContent && !this.lineBlank && !INTERESTING[byte] && byte !== delimFirst) {
        let p = pos + 1;
        while (p < len) {
          const b = buf[p];
          if (INTERESTING[b] || b === delimFirst) break;
          p += 1;
        }
        pos = p;
        continue;
      }
      if (byte === delimFirst) {
        if (pos + delimiter.length > len && !final) {
          hold = pos;
          break;
        }
        if (delimiter.length === 1 || buf.compare(delimiter, 0, delimiter.length, pos, pos + delimiter.length) === 0) {
          if (this.hasContent) this.emit(out, [buf.subarray(start, pos)]);
          pos += delimiter.length;
          start = pos;
          this.startNextStatement();
          continue;
        }
      }
      if (byte === NEWLINE) {
        this.line += 1;
        this.lineBlank = true;
        pos += 1;
        continue;
      }
      if (isBlank(byte)) {
        pos += 1;
        continue;
      }
      if (this.lineBlank && !this.hasContent && (byte === 0x64 || byte === 0x44)) {
        // Possibly a DELIMITER command. Look at its first word before asking for the whole
        // line, so a long one-line statement starting with "d" is never held back.
        if (pos + DELIMITER_WORD.length + 1 > len && !final) {
          hold = pos;
          break;
        }
        const word = buf.toString('latin1', pos, Math.min(len, pos + DELIMITER_WORD.length + 1));
        const nl = DELIMITER_WORD_RE.test(word) ? buf.indexOf(NEWLINE, pos) : -2;
        if (nl === -1 && !final) {
          hold = pos;
          break;
        }
        const lineEnd = nl < 0 ? len : nl;
        const match = nl === -2 ? null : DELIMITER_COMMAND.exec(buf.toString('latin1', pos, lineEnd));
        if (match) {
          delimiter = Buffer.from(match[1], 'latin1');
          delimFirst = delimiter[0];
          this.delimiter = delimiter;
          // Whatever blank or comment text preceded the command belongs to no statement.
          pos = lineEnd;
          start = pos;
          this.pieces = [];
          continue;
        }
      }
      this.lineBlank = false;
      if (byte === DASH) {
        if (pos + 2 >= len && !final) {
          hold = pos;
          break;
        }
        if (pos + 1 < len && buf[pos + 1] === DASH && (pos + 2 >= len || isCommentDashFollower(buf[pos + 2]))) {
          state = State.LineComment;
          pos += 2;
          continue;
        }
        this.markContent();
        pos += 1;
        continue;
      }
      if (byte === HASH) {
        state = State.LineComment;
        pos += 1;
        continue;
      }
      if (byte === SLASH) {
        if (pos + 3 >= len && !final) {
          hold = pos;
          break;
        }
        if (pos + 1 < len && buf[pos + 1] === STAR) {
          const executable = buf[pos + 2] === BANG || (buf[pos + 2] === LETTER_M && buf[pos + 3] === BANG);
          if (executable) {
            // Its content is SQL: scanned as normal text, the closing "*/" is plain bytes.
            this.markContent();
            pos += 2;
            continue;
          }
          state = State.BlockComment;
          pos += 2;
          continue;
        }
        this.markContent();
        pos += 1;
        continue;
      }
      this.markContent();
      if (byte === SINGLE) state = State.SingleQuote;
      else if (byte === DOUBLE) state = State.DoubleQuote;
      else if (byte === BACKTICK) state = State.Backtick;
      pos += 1;
    }

    this.state = state;
    this.escapeNext = escapeNext;
    const keepEnd = hold >= 0 ? hold : len;
    if (keepEnd > start) this.pieces.push(buf.subarray(start, keepEnd));
    if (hold >= 0) this.carry = Buffer.from(buf.subarray(hold));
  }
}

/** Splits a whole text at once (tests, small files). */
export function splitSql(text: string | Buffer, delimiter = ';'): SqlStatement[] {
  const splitter = new SqlSplitter(delimiter);
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return [...splitter.push(buf), ...splitter.end()];
}
