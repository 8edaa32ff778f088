/**
 * The tree of a directory in a v2 set: NDJSON, one TreeEntry per line in walk order
 * (protocol/manifest.ts compareTreePaths), stored as blobs cut at content-defined line
 * boundaries, so the unchanged stretches of a tree give the same blobs run after run and are
 * stored once. The blobs' plaintexts concatenated are the NDJSON (a line may span two blobs
 * only when it is longer than a blob may be).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import * as crypto from 'node:crypto';
import type { TreeEntry } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { BlobWriter } from '../repo/repository.js';

const BLOB_ID_LENGTH = 64;

/** A tree blob is cut after a line whose hash says so once it holds this much... */
export const TREE_BLOB_MIN_BYTES = 64 * 1024;
/** ...and never holds more than this. */
export const TREE_BLOB_MAX_BYTES = 1024 * 1024;
/** On average one line in this many ends a blob (after the minimum). */
export const TREE_TARGET_LINES = 1024;
const BOUNDARY_BELOW = Math.floor(2 ** 32 / TREE_TARGET_LINES);

/**
 * One NDJSON line (with its '\n'). Keys in a fixed order so equal entries give equal bytes.
 * Built by concatenation, not JSON.stringify of a fresh object: it runs once per file of every
 * backup. Numbers print as JSON.stringify prints them (both use Number::toString); strings go
 * through JSON.stringify for escaping.
 */
export function treeLine(entry: TreeEntry): string {
  let line = `{"p":${JSON.stringify(entry.p)},"t":"${entry.t}","m":${jsonNumber(entry.m)},"mt":${jsonNumber(entry.mt)}`;
  if (entry.s !== undefined) line += `,"s":${jsonNumber(entry.s)}`;
  if (entry.b !== undefined) line += `,"b":${JSON.stringify(entry.b)}`;
  if (entry.h !== undefined) line += `,"h":${JSON.stringify(entry.h)}`;
  if (entry.l !== undefined) line += `,"l":${JSON.stringify(entry.l)}`;
  if (entry.u !== undefined) line += `,"u":${jsonNumber(entry.u)}`;
  if (entry.g !== undefined) line += `,"g":${jsonNumber(entry.g)}`;
  if (entry.i !== undefined) line += `,"i":${jsonNumber(entry.i)}`;
  if (entry.c !== undefined) line += `,"c":${jsonNumber(entry.c)}`;
  return `${line}}\n`;
}

/** A number as JSON writes it (non-finite numbers become null, as in JSON.stringify). */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

/** Parses and checks one line; `where` names the tree in the error. */
export function parseTreeLine(line: string, where: string): TreeEntry {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new BackupError('SET_DAMAGED', `${where}: a tree line is not JSON (${line.slice(0, 80)})`);
  }
  const e = value as Partial<TreeEntry> | null;
  const ok =
    typeof e === 'object' && e !== null && typeof e.p === 'string' && (e.t === 'f' || e.t === 'd' || e.t === 'l') &&
    typeof e.m === 'number' && typeof e.mt === 'number' &&
    // Ids are only checked for shape here (a regular expression per id costs seconds on a big
    // tree); an id that is not in the index fails its lookup, which names the set as damaged.
    (e.t !== 'f' || (typeof e.s === 'number' && Array.isArray(e.b) && e.b.every((id) => typeof id === 'string' && id.length === BLOB_ID_LENGTH))) &&
    (e.t !== 'l' || typeof e.l === 'string');
  if (!ok) throw new BackupError('SET_DAMAGED', `${where}: a tree line is not a valid entry (${line.slice(0, 80)})`);
  return e as TreeEntry;
}

/**
 * Splits bytes into lines (without '\n'), a chunk at a time: push() returns the complete lines
 * of what was pushed so far, end() what is left. '\n' never occurs inside a UTF-8 sequence, so
 * the bytes up to the last '\n' of a chunk are whole characters: they are checked (a TypeError,
 * as TextDecoder's fatal mode throws, for bytes that are not UTF-8) and decoded in one call,
 * and split in one call. Memory is one chunk plus one line.
 */
export class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    const last = chunk.lastIndexOf(0x0a);
    if (last < 0) {
      this.rest = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
      return [];
    }
    const whole = this.rest.length === 0 ? chunk.subarray(0, last) : Buffer.concat([this.rest, chunk.subarray(0, last)]);
    this.rest = chunk.subarray(last + 1);
    return this.lines(whole);
  }

  end(): string[] {
    const whole = this.rest;
    this.rest = Buffer.alloc(0);
    return whole.length === 0 ? [] : this.lines(whole);
  }

  private lines(bytes: Buffer): string[] {
    // ASCII (most trees) decodes as one-byte text without a UTF-8 decoder's work.
    let text: string;
    if (isAscii(bytes)) text = bytes.toString('latin1');
    else if (isUtf8(bytes)) text = bytes.toString('utf8');
    else throw new TypeError('The encoded data was not valid for encoding utf-8');
    return text.split('\n').filter((line) => line !== '');
  }
}

/** Splits a stream of byte chunks into lines (without '\n'); memory is one line plus one chunk. */
export async function* splitLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const splitter = new LineSplitter();
  for await (const chunk of chunks) yield* splitter.push(chunk);
  yield* splitter.end();
}

/** SHA-256 (of a string's UTF-8 bytes): one call where the runtime has it (Node 20.12+). */
const sha256 =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data: string | Buffer): Buffer => crypto.hash('sha256', data, 'buffer')
    : (data: string | Buffer): Buffer => crypto.createHash('sha256').update(data).digest();

/**
 * Collects tree lines and stores them as blobs, cut where a line's SHA-256 starts below
 * 2^32/TREE_TARGET_LINES once the blob holds TREE_BLOB_MIN_BYTES, or at TREE_BLOB_MAX_BYTES.
 * Lines are copied into one reused buffer as they come: no line string outlives its add(), so
 * a tree of a million lines leaves no garbage behind for the collector to find in old space.
 * add() returns a promise only when it stored a blob (once per ~1,000 lines): the next add()
 * must wait for it.
 */
export class TreeBlobCutter {
  readonly ids: string[] = [];
  private readonly buffer = Buffer.allocUnsafe(TREE_BLOB_MAX_BYTES);
  private bytes = 0;

  constructor(private readonly writer: BlobWriter) {}

  add(line: string): Promise<void> | undefined {
    const length = Buffer.byteLength(line, 'utf8');
    if (this.bytes + length > TREE_BLOB_MAX_BYTES) return this.addLong(Buffer.from(line, 'utf8'));
    this.bytes += this.buffer.write(line, this.bytes, length, 'utf8');
    if (this.bytes >= TREE_BLOB_MIN_BYTES && sha256(line).readUInt32BE(0) < BOUNDARY_BELOW) return this.cut();
    return undefined;
  }

  /** A line longer than what is left of a blob is split: the reader concatenates blobs. */
  private async addLong(line: Buffer): Promise<void> {
    let bytes = line;
    while (this.bytes + bytes.length > TREE_BLOB_MAX_BYTES) {
      const room = TREE_BLOB_MAX_BYTES - this.bytes;
      this.bytes += bytes.copy(this.buffer, this.bytes, 0, room);
      bytes = bytes.subarray(room);
      await this.cut();
    }
    this.bytes += bytes.copy(this.buffer, this.bytes);
    if (this.bytes >= TREE_BLOB_MIN_BYTES && sha256(bytes).readUInt32BE(0) < BOUNDARY_BELOW) await this.cut();
  }

  /** Stores what is left; returns the tree's blob ids. */
  async finish(): Promise<string[]> {
    if (this.bytes > 0) await this.cut();
    return this.ids;
  }

  private async cut(): Promise<void> {
    // A copy: the writer keeps the blob while it compresses it, and the buffer is reused at once.
    const blob = Buffer.from(this.buffer.subarray(0, this.bytes));
    this.bytes = 0;
    // The id's place is taken now: ids stay in tree order even if a caller adds lines meanwhile.
    const at = this.ids.push('') - 1;
    this.ids[at] = await this.writer.put(blob, { compressible: true });
  }
}
