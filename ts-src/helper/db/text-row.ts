/**
 * The MySQL text protocol's row encoding, read where it lies: a row packet's payload is, per
 * column, 0xFB for NULL or a length-encoded integer followed by that many bytes of the value
 * as text. The dump and deep verify work on these bytes directly (row-packets.ts) instead of
 * letting the client library allocate a Buffer per value: on a CiviCRM database that is
 * tens of millions of allocations per backup.
 */

export const NULL_MARKER = 0xfb;

/**
 * Where each column's value lies in the row [start, end) of `encoded`: starts[i]..ends[i],
 * or starts[i] = -1 for NULL. Throws when the bytes are not `columnCount` well-formed values.
 */
export function columnBounds(encoded: Uint8Array, start: number, end: number, columnCount: number, starts: Int32Array, ends: Int32Array): void {
  let p = start;
  for (let i = 0; i < columnCount; i += 1) {
    if (p >= end) throw malformed(i, columnCount);
    const first = encoded[p];
    let length: number;
    if (first < 0xfb) {
      length = first;
      p += 1;
    } else if (first === NULL_MARKER) {
      starts[i] = -1;
      ends[i] = -1;
      p += 1;
      continue;
    } else if (first === 0xfc) {
      length = encoded[p + 1] | (encoded[p + 2] << 8);
      p += 3;
    } else if (first === 0xfd) {
      length = encoded[p + 1] | (encoded[p + 2] << 8) | (encoded[p + 3] << 16);
      p += 4;
    } else if (first === 0xfe) {
      // 8 bytes; a value cannot exceed max_allowed_packet (1 GiB), so the low 4 bytes hold it.
      length = (encoded[p + 1] | (encoded[p + 2] << 8) | (encoded[p + 3] << 16)) + encoded[p + 4] * 0x1000000;
      if (encoded[p + 5] | encoded[p + 6] | encoded[p + 7] | encoded[p + 8]) throw malformed(i, columnCount);
      p += 9;
    } else {
      throw malformed(i, columnCount);
    }
    starts[i] = p;
    p += length;
    ends[i] = p;
  }
  if (p !== end) throw malformed(columnCount, columnCount);
}

function malformed(column: number, columnCount: number): Error {
  return new Error(`A row from the server does not hold the ${columnCount} expected values (at value ${column + 1}); the table changed shape during the read or the client library delivered something unexpected.`);
}

/** The row's values as Buffers sharing `encoded`'s memory (null for NULL): the rare and test paths. */
export function decodeTextRow(encoded: Uint8Array, start: number, end: number, columnCount: number): (Buffer | null)[] {
  const starts = new Int32Array(columnCount);
  const ends = new Int32Array(columnCount);
  columnBounds(encoded, start, end, columnCount, starts, ends);
  const bytes = Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < columnCount; i += 1) values.push(starts[i] < 0 ? null : bytes.subarray(starts[i], ends[i]));
  return values;
}

/** Writes `n` as a length-encoded integer at `offset`; returns the new offset. */
export function writeLengthEncoded(n: number, out: Uint8Array, offset: number): number {
  if (n < 0xfb) {
    out[offset] = n;
    return offset + 1;
  }
  if (n < 0x10000) {
    out[offset] = 0xfc;
    out[offset + 1] = n & 0xff;
    out[offset + 2] = n >>> 8;
    return offset + 3;
  }
  if (n < 0x1000000) {
    out[offset] = 0xfd;
    out[offset + 1] = n & 0xff;
    out[offset + 2] = (n >>> 8) & 0xff;
    out[offset + 3] = n >>> 16;
    return offset + 4;
  }
  out[offset] = 0xfe;
  out[offset + 1] = n & 0xff;
  out[offset + 2] = (n >>> 8) & 0xff;
  out[offset + 3] = (n >>> 16) & 0xff;
  out[offset + 4] = Math.floor(n / 0x1000000) & 0xff;
  out[offset + 5] = 0;
  out[offset + 6] = 0;
  out[offset + 7] = 0;
  out[offset + 8] = 0;
  return offset + 9;
}

/** The encoding of a row of values (tests, and the reference digest). */
export function encodeTextRow(values: readonly (Uint8Array | null)[]): Buffer {
  let size = 0;
  for (const value of values) size += value === null ? 1 : 9 + value.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const value of values) {
    if (value === null) out[o++] = NULL_MARKER;
    else {
      o = writeLengthEncoded(value.length, out, o);
      out.set(value, o);
      o += value.length;
    }
  }
  return out.subarray(0, o);
}
