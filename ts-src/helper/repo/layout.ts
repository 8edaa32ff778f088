/**
 * Where things live in a repository (docs/format.md, "Repository (format v2)") and the two
 * small JSON documents it holds besides manifests: repository.json and the per-pack index
 * files. Parsing is strict: a file that does not match is damage, never guessed around.
 */
import { join } from 'node:path';
import { encodingCode, isBlobEncoding, isBlobId, type BlobEncoding, type BlobIndexTable } from './index-table.js';

export const REPOSITORY_FILE = 'repository.json';
export const REPOSITORY_FORMAT = 'civibackup-repository';
export const REPOSITORY_VERSION = 1;
export const DATA_DIR = 'data';
export const INDEX_DIR = 'index';
export const KEYS_DIR = 'keys';
export const LOCKS_DIR = 'locks';
/** Packs being written; whatever is here after a run is garbage from a killed run (prune removes it). */
export const TEMP_DIR = 'tmp';
export const ID_KEY_FILE = 'idkey.age';

const PACK_NAME = /^[0-9a-f]{64}$/;

export function isPackName(value: unknown): value is string {
  return typeof value === 'string' && PACK_NAME.test(value);
}

export function packPath(root: string, pack: string): string {
  return join(root, DATA_DIR, pack.slice(0, 2), pack);
}

export function indexPath(root: string, pack: string): string {
  return join(root, INDEX_DIR, pack.slice(0, 2), `${pack}.json`);
}

export interface RepositoryConfig {
  format: typeof REPOSITORY_FORMAT;
  version: number;
  /** 16 hex digits; names the idKey cache in the state dir. */
  id: string;
  encrypted: boolean;
  /**
   * Encrypted repositories: blob id = HMAC-SHA-256(idKey, SHA-256(content)). Absent (and in
   * repositories of earlier development builds): HMAC-SHA-256(idKey, content).
   */
  idScheme?: 'hmac-of-sha256';
  createdAt: string;
}

export function parseRepositoryConfig(text: string, where: string): RepositoryConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not valid JSON`);
  }
  const v = value as Partial<RepositoryConfig>;
  if (typeof value !== 'object' || value === null || v.format !== REPOSITORY_FORMAT) throw new Error(`${where} is not a CiviBackup repository file`);
  if (v.version !== REPOSITORY_VERSION) throw new Error(`${where} has repository version ${String(v.version)}; this CiviBackup reads version ${REPOSITORY_VERSION} (a newer CiviBackup wrote it?)`);
  if (typeof v.id !== 'string' || !/^[0-9a-f]{16}$/.test(v.id)) throw new Error(`${where} has no valid id`);
  if (typeof v.encrypted !== 'boolean') throw new Error(`${where} does not say whether the repository is encrypted`);
  if (v.idScheme !== undefined && v.idScheme !== 'hmac-of-sha256') throw new Error(`${where} names blob ids "${String(v.idScheme)}" that this CiviBackup does not know (a newer CiviBackup wrote it?)`);
  return { format: REPOSITORY_FORMAT, version: v.version, id: v.id, encrypted: v.encrypted, ...(v.idScheme ? { idScheme: v.idScheme } : {}), createdAt: String(v.createdAt ?? '') };
}

/** One blob in an index file: id, offset in the pack, stored length, encoding, raw length, SHA-256 of the stored bytes. */
export type IndexEntry = [id: string, offset: number, length: number, encoding: BlobEncoding, rawLength: number, storedSha256: string];

export interface PackIndex {
  pack: string;
  /** Bytes of the shared age header at the start of the pack; 0 when unencrypted. */
  header: number;
  blobs: IndexEntry[];
}

const U32 = 0xffffffff;

function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= U32;
}

export function parsePackIndex(text: string, expectedPack: string): PackIndex {
  const fail = (why: string): never => {
    throw new Error(`the index file of pack ${expectedPack} ${why}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('is not valid JSON (truncated?)');
  }
  const v = value as Partial<PackIndex>;
  if (typeof value !== 'object' || value === null) fail('is not a JSON object');
  if (v.pack !== expectedPack) fail(`names pack ${String(v.pack).slice(0, 70)}`);
  if (!isU32(v.header)) fail('has no valid header length');
  if (!Array.isArray(v.blobs)) fail('has no blob list');
  for (const entry of v.blobs as unknown[]) {
    const e = entry as unknown[];
    if (
      !Array.isArray(e) ||
      e.length !== 6 ||
      !isBlobId(e[0]) ||
      !isU32(e[1]) ||
      !isU32(e[2]) ||
      !isBlobEncoding(e[3]) ||
      !isU32(e[4]) ||
      !isBlobId(e[5]) // the SHA-256 of the stored bytes: 64 hex digits, as an id
    ) {
      fail(`has a malformed blob entry ${JSON.stringify(entry).slice(0, 120)}`);
    }
  }
  return v as PackIndex;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const PACK_PREFIX = ascii('{"pack":"');
const HEADER_KEY = ascii('","header":');
const BLOBS_KEY = ascii(',"blobs":[');
const ENTRY_START = ascii('["');
const ENCODINGS: ReadonlyArray<{ code: number; bytes: Uint8Array }> = (['none', 'gzip', 'zstd'] as const).map((name) => ({ code: encodingCode(name), bytes: ascii(`,"${name}",`) }));

/**
 * Reads index files exactly as PackWriter writes them (JSON.stringify: no spaces, keys in
 * order, numbers as plain integers) straight from their bytes: a repository of a million
 * blobs has ~160 MB of index files, and JSON.parse made two strings and an array per blob of
 * them, read again on every run. Returns false at the first byte that is not in that shape.
 */
class CanonicalIndexScan {
  at = 0;
  /** `trusted`: the bytes passed a full scan already; hex digits are skipped, not checked again. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly trusted = false,
  ) {}

  literal(expected: Uint8Array): boolean {
    const { bytes } = this;
    if (this.at + expected.length > bytes.length) return false;
    for (let i = 0; i < expected.length; i += 1) if (bytes[this.at + i] !== expected[i]) return false;
    this.at += expected.length;
    return true;
  }

  byte(expected: number): boolean {
    if (this.bytes[this.at] !== expected) return false;
    this.at += 1;
    return true;
  }

  /** 64 lower-case hex digits; their start, or -1. */
  hex64(): number {
    const { bytes } = this;
    const start = this.at;
    if (start + 64 > bytes.length) return -1;
    if (this.trusted) {
      this.at += 64;
      return start;
    }
    for (let i = start; i < start + 64; i += 1) {
      const c = bytes[i];
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return -1;
    }
    this.at += 64;
    return start;
  }

  /** An unsigned 32-bit integer as JSON.stringify prints it (no sign, no leading zero); -1 if none. */
  u32(): number {
    const { bytes } = this;
    let value = 0;
    let digits = 0;
    while (this.at < bytes.length && bytes[this.at] >= 0x30 && bytes[this.at] <= 0x39) {
      if (digits === 1 && value === 0) return -1;
      value = value * 10 + (bytes[this.at] - 0x30);
      digits += 1;
      this.at += 1;
      if (value > U32) return -1;
    }
    return digits === 0 ? -1 : value;
  }

  /** `,"<encoding>",`: the encoding's code, or -1. */
  encoding(): number {
    for (const { code, bytes } of ENCODINGS) if (this.literal(bytes)) return code;
    return -1;
  }

  /** Only a final newline (or nothing) is left. */
  end(): boolean {
    return this.at === this.bytes.length || (this.at === this.bytes.length - 1 && this.bytes[this.at] === 0x0a);
  }
}

/**
 * Walks the blob entries of a canonical index file, calling `each` for each (id at `idStart`
 * of `bytes`); false (having stopped) as soon as the file is not canonical.
 */
function scanCanonicalIndex(
  bytes: Uint8Array,
  expectedPack: string,
  onHeader: (header: number) => void,
  each: (idStart: number, offset: number, length: number, encoding: number, rawLength: number) => void,
  trusted = false,
): boolean {
  const scan = new CanonicalIndexScan(bytes, trusted);
  if (!scan.literal(PACK_PREFIX)) return false;
  const packStart = scan.hex64();
  if (packStart < 0) return false;
  for (let i = 0; i < 64; i += 1) if (bytes[packStart + i] !== expectedPack.charCodeAt(i)) return false;
  if (!scan.literal(HEADER_KEY)) return false;
  const header = scan.u32();
  if (header < 0 || !scan.literal(BLOBS_KEY)) return false;
  onHeader(header);
  if (!scan.byte(CLOSE_BRACKET)) {
    for (;;) {
      if (!scan.literal(ENTRY_START)) return false;
      const idStart = scan.hex64();
      if (idStart < 0 || !scan.byte(QUOTE) || !scan.byte(COMMA)) return false;
      const offset = scan.u32();
      if (offset < 0 || !scan.byte(COMMA)) return false;
      const length = scan.u32();
      if (length < 0) return false;
      const encoding = scan.encoding();
      if (encoding < 0) return false;
      const rawLength = scan.u32();
      if (rawLength < 0 || !scan.byte(COMMA) || !scan.byte(QUOTE) || scan.hex64() < 0 || !scan.byte(QUOTE) || !scan.byte(CLOSE_BRACKET)) return false;
      each(idStart, offset, length, encoding, rawLength);
      if (scan.byte(COMMA)) continue;
      if (scan.byte(CLOSE_BRACKET)) break;
      return false;
    }
  }
  return scan.byte(0x7d) && scan.end();
}

/**
 * Adds the index file `bytes` of pack `pack` to `table`. A file in PackWriter's exact shape is
 * read from its bytes (checked whole before anything is added); any other file goes through
 * parsePackIndex, which accepts any valid JSON and names what is wrong. Throws on damage, with
 * nothing added.
 */
export function addPackIndex(table: BlobIndexTable, bytes: Buffer, pack: string): void {
  let header = 0;
  let end = 0;
  let blobs = 0;
  const canonical = scanCanonicalIndex(
    bytes,
    pack,
    (h) => {
      header = h;
      end = h;
    },
    (_id, offset, length) => {
      end = Math.max(end, offset + length);
      blobs += 1;
    },
  );
  if (canonical) {
    const slot = table.addPack(pack, { bytes: end, header });
    scanCanonicalIndex(bytes, pack, () => undefined, (idStart, offset, length, encoding, rawLength) => table.addHex(bytes, idStart, slot, offset, length, rawLength, encoding), true);
    return;
  }
  const index = parsePackIndex(bytes.toString('utf8'), pack);
  const packBytes = index.blobs.reduce((max, [, offset, length]) => Math.max(max, offset + length), index.header);
  const slot = table.addPack(pack, { bytes: packBytes, header: index.header });
  for (const [id, offset, length, encoding, rawLength] of index.blobs) table.add(id, slot, offset, length, rawLength, encoding);
}
