/**
 * The canonical digest of a table's rows, computed by the dump while it writes and by the
 * deep verify from a restored table, with this same code.
 *
 * Definition (docs/format.md, "row digest", version 1):
 * - The columns are the table's non-generated columns in ordinal order (INVISIBLE ones
 *   included), each read with selectExpression() (sql-literal.ts) over a utf8mb4,
 *   time_zone '+00:00' connection with the text protocol; a value is the server's bytes.
 * - A row is serialized as, per column: 0x00 for NULL, or 0x01, the value's length as a
 *   4-byte big-endian unsigned integer, and the value's bytes.
 * - row hash = SHA-256 of that serialization; the table digest is the sum of all row hashes,
 *   read as 256-bit big-endian unsigned integers, modulo 2^256, as 64 lower-case hex digits.
 *   A sum does not depend on row order, so tables without a primary key, parallel chunks
 *   and any restore order give the same digest; duplicate rows still count (2x).
 * - An empty table's digest is 64 zeros; `rows` is recorded next to it.
 */
import { createHash } from 'node:crypto';

export const ROW_DIGEST_VERSION = 1;

const NULL_MARK = Buffer.from([0x00]);

export class TableDigest {
  /** 8 limbs of 32 bits, least significant first. */
  private readonly limbs = new Uint32Array(8);
  rows = 0;

  /** Adds one row (values as read with selectExpression; null is SQL NULL). */
  addRow(values: readonly (Buffer | null)[]): void {
    const hash = createHash('sha256');
    const header = Buffer.allocUnsafe(5);
    for (const value of values) {
      if (value === null) {
        hash.update(NULL_MARK);
      } else {
        header[0] = 0x01;
        header.writeUInt32BE(value.length, 1);
        hash.update(header);
        hash.update(value);
      }
    }
    this.addHash(hash.digest());
  }

  /** Adds a 32-byte row hash to the running sum. */
  addHash(rowHash: Buffer): void {
    let carry = 0;
    for (let limb = 0; limb < 8; limb += 1) {
      const word = rowHash.readUInt32BE(28 - limb * 4);
      const sum = this.limbs[limb] + word + carry;
      this.limbs[limb] = sum >>> 0;
      carry = sum > 0xffffffff ? 1 : 0;
    }
    this.rows += 1;
  }

  /** Combines another partial digest (e.g. of a parallel chunk) into this one. */
  merge(other: TableDigest): void {
    let carry = 0;
    for (let limb = 0; limb < 8; limb += 1) {
      const sum = this.limbs[limb] + other.limbs[limb] + carry;
      this.limbs[limb] = sum >>> 0;
      carry = sum > 0xffffffff ? 1 : 0;
    }
    this.rows += other.rows;
  }

  hex(): string {
    let out = '';
    for (let limb = 7; limb >= 0; limb -= 1) out += this.limbs[limb].toString(16).padStart(8, '0');
    return out;
  }
}

export function createTableDigest(): TableDigest {
  return new TableDigest();
}

/** The digest of a list of rows, for tests and small tables. */
export function digestRows(rows: Iterable<readonly (Buffer | null)[]>): string {
  const digest = new TableDigest();
  for (const row of rows) digest.addRow(row);
  return digest.hex();
}
