/**
 * POSIX pax tar (IEEE 1003.1-2001 "pax interchange format"): 512-byte ustar headers, with a
 * pax extended header (type 'x') in front of any entry whose name, link target, size, ids or
 * mtime do not fit ustar. Pure encoding and decoding; no I/O. GNU tar, bsdtar and busybox
 * read what this writes.
 */

export const BLOCK = 512;
/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntryHeader {
  /** '/'-separated path relative to the archive root; directories without the trailing '/'. "." is the root. */
  path: string;
  type: EntryType;
  /** Permission bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Content size; 0 for anything but a regular file. */
  size: number;
  /** Seconds since the epoch, possibly fractional. */
  mtime: number;
  /** Link target for symlinks (as stored, not resolved) and hard links (an archive path). */
  linkTarget?: string;
  /** The raw type flag, for 'other' entries (devices, fifos) a reader skips. */
  typeFlag?: string;
}

const TYPE_FLAGS: Record<Exclude<EntryType, 'other'>, string> = { file: '0', hardlink: '1', symlink: '2', directory: '5' };

/** Largest value an 11-digit octal field holds (8 GiB - 1 for sizes). */
const MAX_OCTAL_11 = 0o77777777777;
const MAX_OCTAL_7 = 0o7777777;

function isPlainAscii(text: string): boolean {
  // Printable ASCII only: anything else (UTF-8, control characters) goes into a pax record,
  // which is UTF-8 by definition, so every reader agrees on the bytes.
  return /^[\x20-\x7e]*$/.test(text);
}

function writeString(block: Buffer, offset: number, length: number, text: string): void {
  block.write(text, offset, length, 'utf8');
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  // length-1 digits, zero padded, then NUL: the form every tar accepts.
  block.write(`${Math.floor(value).toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** One pax record: "<len> <key>=<value>\n" where <len> counts the whole record, itself included. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = Buffer.byteLength(body, 'utf8');
  const digits = String(bodyBytes).length;
  let length = bodyBytes + digits;
  if (String(length).length > digits) length += 1; // e.g. 98 bytes of body need "101"

  return `${length}${body}`;
}

/** Decimal seconds with up to 9 fraction digits, trailing zeros trimmed (pax "mtime"). */
export function formatPaxTime(seconds: bigint, nanoseconds: bigint): string {
  if (nanoseconds === 0n) return seconds.toString();
  return `${seconds}.${nanoseconds.toString().padStart(9, '0').replace(/0+$/, '')}`;
}

function headerChecksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

function ustarBlock(fields: RawHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, fields.name);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.write(fields.typeFlag, 156, 1, 'ascii');
  writeString(block, 157, 100, fields.linkName);
  block.write('ustar\x0000', 257, 8, 'ascii');
  writeString(block, 265, 32, fields.uname);
  writeString(block, 297, 32, fields.gname);
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  block.write(`${headerChecksum(block).toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

function paddingFor(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

export function padding(size: number): Buffer {
  return Buffer.alloc(paddingFor(size));
}

/** Truncates to at most `max` bytes of plain ASCII, for the ustar fields a pax record overrides. */
function asciiFallback(text: string, max: number): string {
  return text.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}

export interface EncodeOptions {
  /** Exact mtime as whole seconds and nanoseconds (from a bigint stat), for the pax "mtime" record. */
  mtimeExact?: { seconds: bigint; nanoseconds: bigint };
}

/**
 * Header blocks for one entry: a pax extended header when needed, then the ustar header.
 * Content (for files) and its padding follow, written by the caller.
 */
export function encodeHeader(entry: TarEntryHeader, options: EncodeOptions = {}): Buffer {
  if (entry.type === 'other') throw new Error('special files are not archived');
  const isDir = entry.type === 'directory';
  const name = entry.path === '.' ? './' : isDir ? `${entry.path}/` : entry.path;
  const linkName = entry.linkTarget ?? '';
  const records: string[] = [];

  let ustarName = name;
  if (!isPlainAscii(name) || Buffer.byteLength(name) > 100) {
    records.push(paxRecord('path', name));
    ustarName = asciiFallback(name, 100);
  }
  let ustarLink = linkName;
  if (!isPlainAscii(linkName) || Buffer.byteLength(linkName) > 100) {
    records.push(paxRecord('linkpath', linkName));
    ustarLink = asciiFallback(linkName, 100);
  }
  let ustarSize = entry.size;
  if (entry.size > MAX_OCTAL_11) {
    records.push(paxRecord('size', String(entry.size)));
    ustarSize = 0;
  }
  let ustarUid = entry.uid;
  if (entry.uid > MAX_OCTAL_7 || entry.uid < 0) {
    records.push(paxRecord('uid', String(entry.uid)));
    ustarUid = 0;
  }
  let ustarGid = entry.gid;
  if (entry.gid > MAX_OCTAL_7 || entry.gid < 0) {
    records.push(paxRecord('gid', String(entry.gid)));
    ustarGid = 0;
  }
  const wholeSeconds = Math.floor(entry.mtime);
  let ustarMtime = wholeSeconds;
  const exact = options.mtimeExact;
  if (exact && exact.nanoseconds !== 0n) records.push(paxRecord('mtime', formatPaxTime(exact.seconds, exact.nanoseconds)));
  else if (!exact && entry.mtime !== wholeSeconds) records.push(paxRecord('mtime', String(entry.mtime)));
  if (wholeSeconds < 0 || wholeSeconds > MAX_OCTAL_11) {
    if (!records.some((r) => r.includes(' mtime='))) records.push(paxRecord('mtime', String(entry.mtime)));
    ustarMtime = wholeSeconds < 0 ? 0 : MAX_OCTAL_11;
  }
  const uname = entry.uname ?? '';
  const gname = entry.gname ?? '';
  let ustarUname = uname;
  if (!isPlainAscii(uname) || uname.length > 31) {
    records.push(paxRecord('uname', uname));
    ustarUname = asciiFallback(uname, 31);
  }
  let ustarGname = gname;
  if (!isPlainAscii(gname) || gname.length > 31) {
    records.push(paxRecord('gname', gname));
    ustarGname = asciiFallback(gname, 31);
  }

  const main = ustarBlock({
    name: ustarName,
    mode: entry.mode & 0o7777,
    uid: ustarUid,
    gid: ustarGid,
    size: entry.type === 'file' ? ustarSize : 0,
    mtime: ustarMtime,
    typeFlag: TYPE_FLAGS[entry.type],
    linkName: ustarLink,
    uname: ustarUname,
    gname: ustarGname,
  });
  if (records.length === 0) return main;

  const paxData = Buffer.from(records.join(''), 'utf8');
  const base = name.replace(/\/$/, '').split('/').pop() ?? '';
  const paxHeader = ustarBlock({
    name: `PaxHeaders/${asciiFallback(base, 88)}`,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: paxData.length,
    mtime: Math.max(0, Math.min(ustarMtime, MAX_OCTAL_11)),
    typeFlag: 'x',
    linkName: '',
    uname: '',
    gname: '',
  });
  return Buffer.concat([paxHeader, paxData, padding(paxData.length), main]);
}

// ---------------------------------------------------------------------------------------
// Decoding

export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

function readString(block: Buffer, offset: number, length: number): string {
  const slice = block.subarray(offset, offset + length);
  const nul = slice.indexOf(0);
  return (nul === -1 ? slice : slice.subarray(0, nul)).toString('utf8');
}

/** Octal (NUL/space terminated) or GNU base-256 (high bit of the first byte set). */
function readNumber(block: Buffer, offset: number, length: number, field: string): number {
  const slice = block.subarray(offset, offset + length);
  if (slice[0] & 0x80) {
    if (slice[0] === 0xff) throw new TarFormatError(`negative ${field} in a tar header`);
    let value = BigInt(slice[0] & 0x7f);
    for (let i = 1; i < length; i += 1) value = (value << 8n) | BigInt(slice[i]);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarFormatError(`${field} too large in a tar header`);
    return Number(value);
  }
  const text = slice.toString('ascii').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`${field} field "${text}" is not octal`);
  return parseInt(text, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i += 1) if (block[i] !== 0) return false;
  return true;
}

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeFlag: string;
  linkName: string;
  uname: string;
  gname: string;
}

/** Parses and checks one 512-byte header block (checksum, magic, numeric fields). */
export function decodeRawHeader(block: Buffer): RawHeader {
  if (block.length !== BLOCK) throw new TarFormatError('short tar header');
  const stored = readNumber(block, 148, 8, 'checksum');
  const computed = headerChecksum(block);
  if (stored !== computed) throw new TarFormatError(`tar header checksum mismatch (stored ${stored}, computed ${computed})`);
  const magic = block.subarray(257, 263).toString('latin1');
  let name = readString(block, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = readString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const typeFlag = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
  return {
    name,
    mode: readNumber(block, 100, 8, 'mode'),
    uid: readNumber(block, 108, 8, 'uid'),
    gid: readNumber(block, 116, 8, 'gid'),
    size: readNumber(block, 124, 12, 'size'),
    mtime: readNumber(block, 136, 12, 'mtime'),
    typeFlag,
    linkName: readString(block, 157, 100),
    uname: readString(block, 265, 32),
    gname: readString(block, 297, 32),
  };
}

/** Parses the records of a pax extended header into key/value pairs. */
export function decodePaxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    if (data[offset] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, offset);
    if (space === -1) throw new TarFormatError('malformed pax record (no length)');
    const lengthText = data.subarray(offset, space).toString('ascii');
    if (!/^[0-9]+$/.test(lengthText)) throw new TarFormatError(`malformed pax record length "${lengthText}"`);
    const length = parseInt(lengthText, 10);
    const end = offset + length;
    if (length <= space - offset + 1 || end > data.length || data[end - 1] !== 0x0a) throw new TarFormatError('malformed pax record');
    const body = data.subarray(space + 1, end - 1).toString('utf8');
    const eq = body.indexOf('=');
    if (eq === -1) throw new TarFormatError('malformed pax record (no "=")');
    records.set(body.slice(0, eq), body.slice(eq + 1));
    offset = end;
  }
  return records;
}

export function paddedSize(size: number): number {
  return size + paddingFor(size);
}
