/**
 * One reader for both set formats, so list, verify, restore and prune never branch on the
 * format themselves (docs/format.md "Telling v1 from v2"):
 *
 *  - format v1 (CiviBackup 0.1.0): a set directory `<destination>/<setId>/` of parts and a
 *    manifest with `formatVersion: 1`.
 *  - format v2 (deduplicated): `<destination>/sets/<setId>/manifest.json` with `version: 2`;
 *    its content is blobs in the repository two levels up (repository.json, data/, index/).
 *
 * The reader offers a v2 set in the shapes of v1, so the restore and deep-verify code that
 * reads v1 parts reads v2 sets unchanged: the LOGICAL manifest resolves the catalog into v1
 * records with virtual parts (`db/000-prelude.sql`, `db/100-schema.sql`,
 * `db/200-data-<table>.sql`, `db/800-objects.sql`, `db/999-postlude.sql`, one per group of
 * blobs), and openPart() streams a virtual part's blobs. Directories differ by nature (a tar
 * archive against a tree of blobs), so the reader restores and lists them itself.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  isManifestV2,
  MANIFEST_FILE,
  SETS_DIR,
  sourceIdentity,
  validateManifestV2,
  type Catalog,
  type DatabaseRecord,
  type DatabaseRecordV2,
  type FilesRecord,
  type FilesRecordV2,
  type Manifest,
  type ManifestV2,
  type PartRecord,
  type TableRecord,
} from '../../protocol/manifest.js';
import type { SetSummary, VerificationRecord } from '../../protocol/sets.js';
import { countOtherTables } from '../../protocol/civicrm-tables.js';
import { BackupError } from '../core/errors.js';
import type { DecryptionKeys } from '../crypto/age-stream.js';
import { openRepository, type BlobReader, type Repository } from '../repo/repository.js';
import { blobsSql } from '../db/blob-sql.js';
import type { RestoreSource } from '../db/restore.js';
import { planRestore } from '../db/restore-plan.js';
import { openPart as openV1Part } from './part-reader.js';
import { listSets, readManifest, readVerification, summarizeSet } from './set-store.js';
import { checkBlobsOfStreamed, checkSetPieces, listV2SetIds, setsNeeding, type AffectedSet, type PieceProblem, type V2CheckResult } from './piece-check.js';
import { readTree, restoreTree, type RestoreTreeOptions } from '../files/tree-reader.js';
import type { RestoreDirectoryResult } from '../files/restore.js';

export interface OpenSetOptions {
  /** Keys of an encrypted set: a v2 set's catalog (names of tables and files) is encrypted too. */
  decryption?: DecryptionKeys;
}

interface SetReaderBase {
  readonly setId: string;
  /** The set's own folder: where manifest.json, verification.json and `pinned` are. */
  readonly path: string;
  /** The destination holding it (for v2 also the repository root). */
  readonly destination: string;
  readonly encrypted: boolean;
  /**
   * The logical manifest (see the top of this file). A v2 set that is encrypted and was opened
   * without keys has none: reading it throws WRONG_KEY.
   */
  readonly manifest: Manifest;
  /** Whether `manifest` can be read (false only for an encrypted v2 set opened without keys). */
  readonly readable: boolean;
  /** Content of a part named in the logical manifest (decrypted and decompressed). */
  openPart(path: string): Promise<Readable>;
  /** A database's SQL as restoreDatabase and deep verify take it: the plan of its parts and how to open each. */
  restoreSource(database: DatabaseRecord): RestoreSource;
  summary(verification: VerificationRecord): SetSummary;
}

export interface SetReaderV1 extends SetReaderBase {
  readonly format: 1;
  readonly stored: Manifest;
}

export interface SetReaderV2 extends SetReaderBase {
  readonly format: 2;
  readonly stored: ManifestV2;
  readonly repository: Repository;
  readonly blobs: BlobReader;
  /** The catalog, when readable. */
  readonly catalog: Catalog | undefined;
  /** Blob ids of a logical part (virtual parts only). */
  blobsOfPart(path: string): string[];
  /** A directory's catalog record. */
  filesRecord(label: string): FilesRecordV2;
  /**
   * Quick verify: every piece the set needs is there with its stored size and SHA-256. On
   * damage `affected` names every v2 set at the destination that needs a damaged piece.
   */
  checkPieces(): Promise<V2CheckResult & { affected: AffectedSet[] }>;
  /**
   * Before a restore writes anything: the pieces of these logical parts and directories are
   * intact; throws SET_DAMAGED naming the pieces and every set that needs them.
   */
  checkNeeded(parts: readonly string[], labels: readonly string[]): Promise<void>;
}

export type SetReader = SetReaderV1 | SetReaderV2;

/** Reads and validates a v2 manifest file; SET_DAMAGED when it is not one. */
export async function readManifestV2(setPath: string): Promise<ManifestV2> {
  const file = join(setPath, MANIFEST_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupError('SET_INCOMPLETE', `${setPath} has no manifest.json: the backup never finished.`);
    throw new BackupError('SET_DAMAGED', `${file} is not valid JSON.`, { cause: error });
  }
  const problems = validateManifestV2(parsed);
  if (problems.length > 0) throw new BackupError('SET_DAMAGED', `${file} is invalid: ${problems.join('; ')}`);
  return parsed as ManifestV2;
}

/** Which format a set folder holds, from its manifest's version field (never from the path alone). */
async function manifestVersion(setPath: string): Promise<1 | 2 | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(setPath, MANIFEST_FILE), 'utf8'));
  } catch {
    return undefined; // missing or unreadable: readManifest says which
  }
  return isManifestV2(parsed) ? 2 : 1;
}

/**
 * Opens a set: a v1 set directory, or a v2 set folder `<destination>/sets/<setId>`. For
 * convenience `<destination>/<setId>` also finds a v2 set of that id when no v1 directory
 * has it.
 */
export async function openSet(setPath: string, options: OpenSetOptions = {}): Promise<SetReader> {
  let path = resolve(setPath);
  const exists = await stat(path).then(() => true, () => false);
  if (!exists && basename(dirname(path)) !== SETS_DIR) {
    const v2Path = join(dirname(path), SETS_DIR, basename(path));
    if (await stat(join(v2Path, MANIFEST_FILE)).then(() => true, () => false)) path = v2Path;
  }
  const version = await manifestVersion(path);
  if (version === 2) return openV2(path, options);
  return openV1(path, options);
}

async function openV1(path: string, options: OpenSetOptions): Promise<SetReaderV1> {
  const manifest = await readManifest(path);
  return {
    format: 1,
    setId: manifest.setId,
    path,
    destination: dirname(path),
    encrypted: manifest.encryption !== null,
    manifest,
    stored: manifest,
    readable: true,
    openPart: (part) => openV1Part(path, part, { decryption: options.decryption }),
    restoreSource: (database) => ({ plan: planRestore(manifest, database), open: (part) => openV1Part(path, part.path, { decryption: options.decryption }) }),
    summary: (verification) => summarizeSet(manifest, path, verification),
  };
}

/** The folder of a database's virtual parts, as v1 names it. */
function folderOf(role: DatabaseRecord['role']): string {
  return role === 'main' ? 'db' : 'logdb';
}

/** Concatenated plaintext of some blobs, one blob in memory at a time (and the next one read ahead). */
export function blobStream(reader: BlobReader, ids: readonly string[]): Readable {
  return Readable.from(blobsSql(ids, reader), { objectMode: false });
}

async function readAll(reader: BlobReader, ids: readonly string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (const id of ids) chunks.push(await reader.get(id));
  return Buffer.concat(chunks);
}

/** A v2 set's catalog (its blobs' plaintexts, concatenated, are JSON). */
export async function readCatalog(stored: ManifestV2, blobs: BlobReader): Promise<Catalog> {
  const text = await readAll(blobs, stored.catalog);
  let catalog: Catalog;
  try {
    catalog = JSON.parse(text.toString('utf8')) as Catalog;
  } catch (error) {
    throw new BackupError('SET_DAMAGED', `The catalog of set ${stored.id} is not valid JSON.`, { cause: error });
  }
  if (!Array.isArray(catalog?.databases) || !Array.isArray(catalog?.files)) throw new BackupError('SET_DAMAGED', `The catalog of set ${stored.id} lists no databases or directories.`);
  return catalog;
}

interface LogicalV2 {
  manifest: Manifest;
  parts: Map<string, string[]>;
}

/**
 * The catalog resolved into a v1-shaped manifest. The db engineer's layout (db/dump-to-blobs.ts):
 * schemaBlobs = the prelude (exactly one blob, first) then the schema; objectBlobs = routines,
 * views, triggers and events, then the postlude (exactly one blob, last).
 */
function logicalManifest(stored: ManifestV2, catalog: Catalog, reader: BlobReader): LogicalV2 {
  const parts = new Map<string, string[]>();
  const partRecords: PartRecord[] = [];
  const addPart = (path: string, ids: string[]): void => {
    if (ids.length === 0) return;
    parts.set(path, ids);
    partRecords.push({
      path,
      bytes: ids.reduce((sum, id) => sum + (reader.storedLength(id) ?? 0), 0),
      sha256: '',
      rawBytes: ids.reduce((sum, id) => sum + (reader.rawLength(id) ?? 0), 0),
    });
  };
  const databases: DatabaseRecord[] = catalog.databases.map((db: DatabaseRecordV2) => {
    const folder = folderOf(db.role);
    addPart(`${folder}/000-prelude.sql`, db.schemaBlobs.slice(0, 1));
    addPart(`${folder}/100-schema.sql`, db.schemaBlobs.slice(1));
    const tables: TableRecord[] = db.tables.map((table) => {
      const { blobs, ...rest } = table;
      const path = `${folder}/200-data-${encodeURIComponent(table.name)}.sql`;
      addPart(path, blobs);
      return { ...rest, parts: blobs.length > 0 ? [path] : [] };
    });
    addPart(`${folder}/800-objects.sql`, db.objectBlobs.slice(0, -1));
    addPart(`${folder}/999-postlude.sql`, db.objectBlobs.slice(-1));
    const { schemaBlobs: _schema, objectBlobs: _objects, tables: _tables, ...record } = db;
    return { ...record, folder, tables };
  });
  const files: FilesRecord[] = catalog.files.map((record) => {
    const { tree, ...rest } = record;
    const path = `files/${encodeURIComponent(record.label)}.tree`;
    addPart(path, tree);
    return { ...rest, archive: path };
  });
  const manifest: Manifest = {
    format: stored.format,
    formatVersion: 1,
    setId: stored.id,
    tool: stored.tool,
    createdAt: stored.createdAt,
    finishedAt: stored.finishedAt,
    source: stored.source,
    compression: stored.compression,
    encryption: stored.encryption,
    parts: partRecords,
    databases,
    files,
    warnings: stored.warnings,
    ...(stored.trigger !== undefined ? { trigger: stored.trigger } : {}),
  };
  return { manifest, parts };
}

/** `repository`: an already open one (several sets of one destination share its loaded index). */
async function openV2(path: string, options: OpenSetOptions, shared?: Repository): Promise<SetReaderV2> {
  const stored = await readManifestV2(path);
  const destination = dirname(dirname(path));
  const repository = shared ?? (await openRepository(destination, { decryption: options.decryption, compression: stored.compression.algorithm, level: stored.compression.level }));
  if (repository.id !== stored.repository) {
    throw new BackupError('SET_DAMAGED', `${join(path, MANIFEST_FILE)} belongs to repository ${stored.repository}, but ${destination} holds repository ${repository.id}.`);
  }
  const blobs = repository.reader();
  const encrypted = stored.encryption !== null;
  let logical: LogicalV2 | undefined;
  let catalog: Catalog | undefined;
  if (!encrypted || options.decryption) {
    catalog = await readCatalog(stored, blobs);
    logical = logicalManifest(stored, catalog, blobs);
  }
  const needLogical = (): LogicalV2 => {
    if (!logical) throw new BackupError('WRONG_KEY', `Set ${stored.id} is encrypted, and so are the names of its tables and files; pass --identity FILE or --passphrase-file FILE.`);
    return logical;
  };
  const reader: SetReaderV2 = {
    format: 2,
    setId: stored.id,
    path,
    destination,
    encrypted,
    stored,
    repository,
    blobs,
    catalog,
    readable: logical !== undefined,
    get manifest() {
      return needLogical().manifest;
    },
    blobsOfPart(part: string): string[] {
      const ids = needLogical().parts.get(part);
      if (!ids) throw new BackupError('INTERNAL', `Set ${stored.id} has no part ${part}.`);
      return ids;
    },
    filesRecord(label: string): FilesRecordV2 {
      const record = needLogical() && catalog?.files.find((f) => f.label === label);
      if (!record) {
        const known = catalog?.files.map((f) => f.label).join(', ') || 'none';
        throw new BackupError('USAGE', `Set ${stored.id} has no directory "${label}" (it has: ${known}).`);
      }
      return record;
    },
    async openPart(part: string): Promise<Readable> {
      return blobStream(blobs, reader.blobsOfPart(part));
    },
    restoreSource: (database) => ({ plan: planRestore(needLogical().manifest, database), open: (part) => reader.openPart(part.path) }),
    summary: (verification) => summarizeV2(stored, path, verification, catalog),
    async checkPieces() {
      const result = await checkSetPieces(repository, stored, catalog, blobs);
      const affected = result.problems.length > 0 ? await affectedSets(destination, result.problems, options, repository) : [];
      return { ...result, affected };
    },
    async checkNeeded(parts, labels) {
      // Streamed: a directory of a million files names a million blobs (checkBlobsStreamed).
      const problems = await checkBlobsOfStreamed(repository, async (need) => {
        for (const id of stored.catalog) need(id);
        for (const part of parts) for (const id of reader.blobsOfPart(part)) need(id);
        for (const label of labels) {
          const record = reader.filesRecord(label);
          for (const id of record.tree) need(id);
          for await (const entry of readTree(record, blobs)) for (const id of entry.b ?? []) need(id);
        }
      });
      if (problems.length === 0) return;
      const affected = await affectedSets(destination, problems, options, repository);
      throw damageError(stored.id, problems, affected, 'nothing was restored');
    },
  };
  return reader;
}

/** Every v2 set at the destination that needs a damaged piece (sharing the open repository). */
export async function affectedSets(destination: string, problems: readonly PieceProblem[], options: OpenSetOptions, repository: Repository): Promise<AffectedSet[]> {
  return setsNeeding(destination, problems, async (setId) => {
    const set = await openV2(join(destination, SETS_DIR, setId), options, repository);
    return { stored: set.stored, catalog: set.catalog, blobs: set.blobs };
  });
}

/** Restores a v2 set's directory (files/tree-reader.ts: staging, checks and swap as for v1). */
export function restoreTreeOf(reader: SetReaderV2, label: string, target: string, options: RestoreTreeOptions): Promise<RestoreDirectoryResult> {
  return restoreTree(reader.filesRecord(label), reader.blobs, target, options);
}

/** SET_DAMAGED naming the damaged pieces and every set they break. */
export function damageError(setId: string, problems: readonly PieceProblem[], affected: readonly AffectedSet[], consequence?: string): BackupError {
  const shown = problems.slice(0, 20).map((p) => p.problem);
  const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : '';
  const sets = affected.map((a) => (a.by === 'pack' ? `${a.setId} (by the packs it lists; encrypted)` : a.setId));
  const setList = sets.length > 0 ? sets : [setId];
  return new BackupError(
    'SET_DAMAGED',
    `Damaged set ${setId}: ${shown.join('; ')}${more}. ${setList.length === 1 ? 'The set' : `${setList.length} sets`} that need${setList.length === 1 ? 's' : ''} the damaged data: ${setList.join(', ')}${consequence ? `; ${consequence}` : ''}.`,
  );
}

/**
 * What `list` shows of a v2 set: exact per database and directory when the catalog is at hand
 * (unencrypted, or keys given); otherwise from the plaintext manifest alone, whose summary
 * counts tables and rows over all databases (the first database gets them) and lists no
 * directory (their labels are in the encrypted catalog).
 */
export function summarizeV2(stored: ManifestV2, location: string, verification: VerificationRecord, catalog?: Catalog): SetSummary {
  const source = sourceIdentity(stored);
  const { summary, stats } = stored;
  const databases: SetSummary['databases'] = catalog
    ? catalog.databases.map((db) => ({
        role: db.role,
        name: db.name,
        tables: db.tables.length,
        rows: db.tables.reduce((sum, t) => sum + t.rows, 0),
        otherTables: countOtherTables(db.tables.map((t) => t.name)),
      }))
    : summary.databases.map((db, index) => ({ role: db.role, name: db.name ?? '', tables: index === 0 ? summary.tables : 0, rows: index === 0 ? summary.rows : 0 }));
  const directories: SetSummary['directories'] = catalog
    ? catalog.files.map((f) => ({ label: f.label, files: f.files, bytes: f.bytes }))
    : [];
  return {
    setId: stored.id,
    location,
    createdAt: stored.createdAt,
    finishedAt: stored.finishedAt,
    bytes: stats.referencedBytes,
    parts: stats.blobs,
    encrypted: stored.encryption !== null,
    databases,
    directories,
    verification,
    format: 2,
    addedBytes: stats.addedBytes,
    referencedBytes: stats.referencedBytes,
    ...(source !== undefined ? { source } : {}),
    ...(stored.trigger ? { trigger: stored.trigger } : {}),
  };
}

export interface DestinationListing {
  /** Complete sets of both formats, newest first. */
  sets: SetSummary[];
  /** Stored bytes at the destination, each counted once: every pack file plus every complete v1 set's parts. */
  totalBytes: number;
  packBytes: number;
  packs: number;
  v1Bytes: number;
}

/** Sizes of the pack files under data/ (what the repository really occupies). */
async function packFileBytes(destination: string): Promise<{ bytes: number; count: number }> {
  let bytes = 0;
  let count = 0;
  const data = join(destination, 'data');
  for (const prefix of await readdir(data).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    for (const name of await readdir(join(data, prefix)).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const info = await stat(join(data, prefix, name)).catch(() => null);
      if (info?.isFile()) {
        bytes += info.size;
        count += 1;
      }
    }
  }
  return { bytes, count };
}

/**
 * Every complete set at a local destination, v1 and v2 side by side, and the destination's
 * real total. Unreadable manifests are skipped (not a backup). Unencrypted v2 sets are listed
 * from their catalogs (exact per database and directory), encrypted ones from their manifests.
 */
export async function listDestination(destination: string): Promise<DestinationListing> {
  const abs = resolve(destination);
  const v1 = await listSets(abs);
  const sets: SetSummary[] = [...v1];
  let repository: Repository | undefined;
  for (const setId of await listV2SetIds(abs)) {
    const path = join(abs, SETS_DIR, setId);
    try {
      const stored = await readManifestV2(path);
      let catalog: Catalog | undefined;
      if (stored.encryption === null) {
        repository ??= await openRepository(abs, { compression: stored.compression.algorithm, level: stored.compression.level });
        catalog = await readCatalog(stored, repository.reader()).catch(() => undefined);
      }
      sets.push(summarizeV2(stored, path, await readVerification(path), catalog));
    } catch {
      /* damaged manifest or repository: not listed as a backup */
    }
  }
  sets.sort((a, b) => (a.setId < b.setId ? 1 : a.setId > b.setId ? -1 : 0));
  const packs = await packFileBytes(abs);
  const v1Bytes = v1.reduce((sum, s) => sum + s.bytes, 0);
  return { sets, totalBytes: packs.bytes + v1Bytes, packBytes: packs.bytes, packs: packs.count, v1Bytes };
}
