/**
 * The tree of a directory in a v2 set: NDJSON, one TreeEntry per line in walk order
 * (protocol/manifest.ts compareTreePaths), stored as blobs cut at content-defined line
 * boundaries, so the unchanged stretches of a tree give the same blobs run after run and are
 * stored once. The blobs' plaintexts concatenated are the NDJSON (a line may span two blobs
 * only when it is longer than a blob may be).
 */
import { createHash } from 'node:crypto';
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

/** One NDJSON line (with its '\n'). Keys in a fixed order so equal entries give equal bytes. */
export function treeLine(entry: TreeEntry): string {
  const out: Record<string, unknown> = { p: entry.p, t: entry.t, m: entry.m, mt: entry.mt };
  if (entry.s !== undefined) out.s = entry.s;
  if (entry.b !== undefined) out.b = entry.b;
  if (entry.h !== undefined) out.h = entry.h;
  if (entry.l !== undefined) out.l = entry.l;
  if (entry.u !== undefined) out.u = entry.u;
  if (entry.g !== undefined) out.g = entry.g;
  if (entry.i !== undefined) out.i = entry.i;
  if (entry.c !== undefined) out.c = entry.c;
  return `${JSON.stringify(out)}\n`;
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

/** Splits a stream of text chunks into lines (without '\n'); memory is one line plus one chunk. */
export async function* splitLines(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let rest = '';
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for await (const chunk of chunks) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      if (nl > start) yield text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.decode();
  if (rest !== '') yield rest;
}

/**
 * Collects tree lines and stores them as blobs, cut where a line's SHA-256 starts below
 * 2^32/TREE_TARGET_LINES once the blob holds TREE_BLOB_MIN_BYTES, or at TREE_BLOB_MAX_BYTES.
 * Each line is also handed to `onLine` (the state-dir copy of the tree).
 */
export class TreeBlobCutter {
  readonly ids: string[] = [];
  private lines: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly writer: BlobWriter) {}

  async add(line: string): Promise<void> {
    let bytes = Buffer.from(line, 'utf8');
    // A line longer than what is left of a blob is split: the reader concatenates blobs.
    while (this.bytes + bytes.length > TREE_BLOB_MAX_BYTES) {
      const room = TREE_BLOB_MAX_BYTES - this.bytes;
      this.lines.push(bytes.subarray(0, room));
      this.bytes += room;
      bytes = bytes.subarray(room);
      await this.cut();
    }
    this.lines.push(bytes);
    this.bytes += bytes.length;
    if (this.bytes >= TREE_BLOB_MIN_BYTES && createHash('sha256').update(bytes).digest().readUInt32BE(0) < BOUNDARY_BELOW) await this.cut();
  }

  /** Stores what is left; returns the tree's blob ids. */
  async finish(): Promise<string[]> {
    if (this.bytes > 0) await this.cut();
    return this.ids;
  }

  private async cut(): Promise<void> {
    const blob = Buffer.concat(this.lines, this.bytes);
    this.lines = [];
    this.bytes = 0;
    this.ids.push(await this.writer.put(blob, { compressible: true }));
  }
}
