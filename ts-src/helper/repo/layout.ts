/**
 * Where things live in a repository (docs/format.md, "Repository (format v2)") and the two
 * small JSON documents it holds besides manifests: repository.json and the per-pack index
 * files. Parsing is strict: a file that does not match is damage, never guessed around.
 */
import { join } from 'node:path';
import { isBlobEncoding, isBlobId, type BlobEncoding } from './index-table.js';

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
  return { format: REPOSITORY_FORMAT, version: v.version, id: v.id, encrypted: v.encrypted, createdAt: String(v.createdAt ?? '') };
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
