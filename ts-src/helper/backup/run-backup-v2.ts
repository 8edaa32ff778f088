/**
 * One backup run in format v2 (deduplicated sets, docs/format.md): open or create the
 * repository at the destination, take a SHARED lock (prune takes the exclusive one), store the
 * database(s) and the directory trees as blobs, the catalog as blobs, flush the last pack, and
 * only then write `sets/<setId>/manifest.json` (atomically, fsynced): the commit point. A run
 * that fails or is killed before it leaves no manifest; its packs are garbage that no set
 * references and that the next prune removes.
 */
import { runWarnings } from './run-warnings.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION_V2,
  SETS_DIR,
  newSetId,
  isManifestV2,
  manifestV2Path,
  sourceIdentity,
  validateCatalog,
  validateManifestV2,
  type Catalog,
  type DatabaseRecordV2,
  type FilesRecordV2,
  type ManifestV2,
  type TreeEntry,
} from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import { dumpDatabaseToBlobsDetailed } from '../db/dump-to-blobs.js';
import { backupTrees, TreeFileCursor, type SetRef, type TreeBackupResult } from '../files/tree-backup.js';
import { CODE_LABEL } from '../../protocol/tree-changes.js';
import { readTree } from '../files/tree-reader.js';
import { openRepository, type BlobReader, type BlobWriter, type Repository } from '../repo/repository.js';
import type { SetReferences } from '../repo/set-references.js';
import { fsyncDirectory, writeFileAtomic } from '../set/durable.js';
import { TOOL_VERSION } from '../version.js';
import type { BackupOptions, BackupSummary } from './run-backup.js';
import { copyOffsiteAndPrune, type AfterBackupSummary } from '../destinations/after-backup.js';
import { acquireLock } from '../set/set-store.js';

/** The catalog is cut into blobs of this size (a blob holds at most 1 MiB). */
const CATALOG_BLOB_BYTES = 1024 * 1024;

/** Stores a JSON document as blobs; returns their ids in order. */
export async function putDocument(writer: BlobWriter, text: string): Promise<string[]> {
  const bytes = Buffer.from(text, 'utf8');
  const ids: string[] = [];
  for (let offset = 0; offset < bytes.length || offset === 0; offset += CATALOG_BLOB_BYTES) {
    ids.push(await writer.put(bytes.subarray(offset, offset + CATALOG_BLOB_BYTES), { compressible: true }));
    if (bytes.length === 0) break;
  }
  return ids;
}

/** Reads a set's catalog back (the reader's job in general; here for the previous tree). */
export async function readCatalog(manifest: ManifestV2, reader: BlobReader): Promise<Catalog> {
  const pieces: Buffer[] = [];
  for (const id of manifest.catalog) pieces.push(await reader.get(id));
  let catalog: unknown;
  try {
    catalog = JSON.parse(Buffer.concat(pieces).toString('utf8'));
  } catch (error) {
    throw new BackupError('SET_DAMAGED', `The catalog of set ${manifest.id} is not JSON.`, { cause: error });
  }
  const problems = validateCatalog(catalog);
  if (problems.length > 0) throw new BackupError('SET_DAMAGED', `The catalog of set ${manifest.id} is not valid: ${problems.join('; ')}.`);
  return catalog as Catalog;
}

/** The complete v2 manifests at a repository, newest first (unreadable ones are skipped). */
export async function listManifestsV2(root: string): Promise<ManifestV2[]> {
  const names = await readdir(join(root, SETS_DIR)).catch(() => [] as string[]);
  const manifests: ManifestV2[] = [];
  for (const name of names.sort().reverse()) {
    const text = await readFile(join(root, manifestV2Path(name)), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    try {
      const value: unknown = JSON.parse(text);
      if (isManifestV2(value) && validateManifestV2(value).length === 0 && value.id === name) manifests.push(value);
    } catch {
      // Not a manifest this helper can read: not a previous set.
    }
  }
  return manifests;
}

/**
 * The newest earlier set of the same source, and its trees, to find unchanged files when the
 * state dir has no cache of them. The trees only for a repository this run can read
 * (unencrypted): a backup holds recipients, not the key.
 */
async function previousTrees(
  repo: Repository,
  identity: string | undefined,
): Promise<{ set?: SetRef; trees?: (label: string) => AsyncIterable<TreeEntry> | undefined }> {
  const previous = (await listManifestsV2(repo.root)).find((m) => m.repository === repo.id && sourceIdentity(m) === identity);
  if (!previous) return {};
  const civicrmVersion = previous.source.civicrmVersion ?? previous.civicrmVersion;
  const set: SetRef = { setId: previous.id, ...(civicrmVersion !== undefined ? { civicrmVersion } : {}) };
  if (repo.encrypted) return { set };
  const reader = repo.reader();
  let catalog: Catalog;
  try {
    catalog = await readCatalog(previous, reader);
  } catch {
    return { set }; // costs only reading every file again
  }
  return {
    set,
    trees: (label) => {
      const record = catalog.files.find((f) => f.label === label);
      return record ? readTree(record, reader) : undefined;
    },
  };
}

/** Ids of new blobs kept until the writer's finish() indexes them; beyond this many, the staged trees are read again instead. */
const DEFERRED_IDS_MAX = 16_384;

/** File blob ids for the set's accounting: counted at once when indexed, else kept (bounded) for later. */
class DeferredIds {
  readonly deferred: string[] = [];
  overflowed = false;

  constructor(private readonly accounting: SetReferences) {}

  add(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.accounting.add(id) || this.overflowed) continue;
      if (this.deferred.length < DEFERRED_IDS_MAX) this.deferred.push(id);
      else {
        this.overflowed = true;
        this.deferred.length = 0;
      }
    }
  }
}

export async function runBackupV2(options: BackupOptions): Promise<BackupSummary> {
  const started = Date.now();
  const { reporter } = options;
  const { warnings, warn } = runWarnings(reporter, options.warnings);
  reporter.emit({ type: 'phase', phase: 'prepare' });
  const codec = options.codec;
  const repo = await openRepository(options.to, {
    create: true,
    compression: codec.compression,
    level: codec.level,
    ...(codec.encryption ? { encryption: codec.encryption } : {}),
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    onWarning: warn,
  });
  const lock = await repo.lockShared(reporter.runId);
  let writer: BlobWriter | undefined;
  let trees: TreeBackupResult | undefined;
  let committed = false;
  try {
    writer = await repo.writer();
    const createdAt = new Date();
    const setId = newSetId(createdAt, randomBytes(3).toString('hex'));
    const source: ManifestV2['source'] = {
      hostname: hostname(),
      ...(options.civicrmVersion ? { civicrmVersion: options.civicrmVersion } : {}),
      ...(options.site ? { site: options.site } : {}),
      ...(options.sourceId ? { id: options.sourceId } : {}),
    };

    const databases: DatabaseRecordV2[] = [];
    const dumpOne = async (dsn: NonNullable<BackupOptions['dsn']>, role: 'main' | 'logging'): Promise<void> => {
      const dumped = await dumpDatabaseToBlobsDetailed({
        dsn,
        role,
        writer: writer!,
        reporter,
        signal: options.signal,
        excludeData: options.excludeData ?? [],
        skipCacheData: options.skipCacheData ?? true,
      });
      databases.push(dumped.record);
      for (const w of dumped.warnings) warn('DB', w);
    };
    const dbStarted = Date.now();
    if (options.dsn) await dumpOne(options.dsn, 'main');
    const databaseMs = Date.now() - dbStarted;
    const logStarted = Date.now();
    if (options.loggingDsn) {
      reporter.emit({ type: 'phase', phase: 'logdb' });
      await dumpOne(options.loggingDsn, 'logging');
    }
    const loggingMs = Date.now() - logStarted;

    const summaryDatabases = databases.map((d) => ({ role: d.role, name: d.name, host: d.host }));
    const identity = sourceIdentity({ source, summary: { databases: summaryDatabases } });
    const filesStarted = Date.now();
    let files: FilesRecordV2[] = [];
    // What the set references, counted as its trees are walked (files reused from the previous
    // tree are indexed already); the rest once the last pack is indexed, below.
    const accounting = repo.references();
    const fileBlobs = new DeferredIds(accounting);
    if (options.files && options.files.length > 0) {
      const previous = await previousTrees(repo, identity);
      trees = await backupTrees({
        directories: options.files,
        writer,
        repositoryId: repo.id,
        ...(previous.trees ? { previous: previous.trees } : {}),
        // CiviCRM's code: the page lists the files that changed since the previous set.
        changesFor: [CODE_LABEL],
        set: { setId, ...(options.civicrmVersion ? { civicrmVersion: options.civicrmVersion } : {}) },
        ...(previous.set ? { previousSet: previous.set } : {}),
        ...(options.stateDir ? { stateDir: options.stateDir } : {}),
        reporter,
        signal: options.signal,
        destination: repo.root,
        exclude: options.filesExclude,
        includeLogs: options.filesIncludeLogs,
        excludeUploadDir: options.filesExcludeUploadDir,
        onFileBlobs: (ids) => fileBlobs.add(ids),
      });
      files = trees.files;
      warnings.push(...trees.warnings);
    }
    const filesMs = Date.now() - filesStarted;
    const codeChanges = trees?.changes.find((c) => c.label === CODE_LABEL);

    reporter.emit({ type: 'phase', phase: 'manifest' });
    const catalog: Catalog = { databases, files, warnings };
    const catalogIds = await putDocument(writer, JSON.stringify(catalog));
    await writer.finish();

    // Every blob the set names must be in a durable pack with an index before the manifest exists.
    let missing: string | undefined;
    const account = (id: string): void => {
      if (!accounting.add(id)) missing ??= id;
    };
    for (const id of catalogIds) account(id);
    for (const d of databases) {
      for (const id of d.schemaBlobs) account(id);
      for (const id of d.objectBlobs) account(id);
      for (const t of d.tables) for (const id of t.blobs) account(id);
    }
    for (const f of files) for (const id of f.tree) account(id);
    for (const id of fileBlobs.deferred) account(id);
    if (fileBlobs.overflowed) {
      // Too many new blobs to keep their ids: read the staged trees again for them.
      for (const path of trees?.staged.files.values() ?? []) {
        const cursor = TreeFileCursor.open(path);
        try {
          for (let entry = cursor.next(); entry !== undefined; entry = cursor.next()) for (const id of entry.b ?? []) account(id);
        } finally {
          cursor.close();
        }
      }
    }
    if (missing) {
      throw new BackupError('INTERNAL', `Blob ${missing} of the new set is in no pack of ${repo.root}; the set was not written.`);
    }

    const tables = databases.reduce((sum, d) => sum + d.tables.length, 0);
    const rows = databases.reduce((sum, d) => sum + d.tables.reduce((s, t) => s + t.rows, 0), 0);
    const manifest: ManifestV2 = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION_V2,
      id: setId,
      repository: repo.id,
      createdAt: createdAt.toISOString(),
      finishedAt: new Date().toISOString(),
      tool: { name: 'civibackup', version: TOOL_VERSION, node: process.versions.node },
      source,
      ...(options.trigger ? { trigger: options.trigger } : {}),
      ...(options.civicrmVersion ? { civicrmVersion: options.civicrmVersion } : {}),
      encryption: codec.encryption ? { recipients: codec.encryption.recipients, passphrase: codec.encryption.passphrase !== undefined } : null,
      compression: { algorithm: codec.compression, level: codec.level },
      catalog: catalogIds,
      packs: [...accounting.packs].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => (a.name < b.name ? -1 : 1)),
      stats: { addedBytes: writer.stats.addedBytes, referencedBytes: accounting.referencedBytes, blobs: accounting.blobs, newBlobs: writer.stats.newBlobs },
      summary: {
        tables,
        rows,
        directories: files.length,
        files: files.reduce((sum, f) => sum + f.files, 0),
        bytes: files.reduce((sum, f) => sum + f.bytes, 0),
        databases: summaryDatabases,
      },
      // Warnings may name tables or files: an encrypted set keeps their text in the catalog.
      warnings: codec.encryption && warnings.length > 0 ? [`${warnings.length} warning(s); their text is in the set's encrypted catalog.`] : [...warnings],
    };
    const problems = validateManifestV2(manifest);
    if (problems.length > 0) throw new BackupError('INTERNAL', `Refusing to write an invalid manifest: ${problems.join('; ')}`);
    const setDir = join(repo.root, SETS_DIR, setId);
    await mkdir(setDir, { recursive: true, mode: 0o755 });
    await fsyncDirectory(join(repo.root, SETS_DIR));
    await writeFileAtomic(join(repo.root, manifestV2Path(setId)), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
    committed = true;
    // The new trees become the state dir's caches only now that their set exists.
    await trees?.staged.commit().catch((error: unknown) => warn('TREE_CACHE', `The tree cache in ${options.stateDir ?? '?'} was not updated (${(error as Error).message}); the next backup reads every file again.`));

    // Offsite copies (only the packs each destination lacks), then retention locally and
    // offsite. The set is complete, so the shared lock goes first: retention's prune takes the
    // repository's exclusive lock, and the destination lock keeps one retention at a time.
    let after: AfterBackupSummary | undefined;
    if ((options.offsite?.length ?? 0) > 0 || options.retention) {
      await lock.release();
      const destinationLock = await acquireLock(repo.root, reporter.runId);
      try {
        after = await copyOffsiteAndPrune({ destination: repo.root, setDir, manifest, offsite: options.offsite, retention: options.retention, reporter, env: options.env ?? process.env, signal: options.signal });
      } finally {
        await destinationLock.release();
      }
    }
    return {
      set: setDir,
      setId,
      bytes: accounting.referencedBytes,
      rawBytes: 0,
      parts: 0,
      tables,
      rows,
      directories: files.length,
      durations: { databaseMs, loggingMs, filesMs, totalMs: Date.now() - started },
      warnings,
      ...(after ? { offsite: after.offsite, retention: after.retention && { removed: after.retention.removed, kept: after.retention.kept, source: after.retention.source, otherSources: after.retention.leftAlone.length } } : {}),
      format: 2,
      dedup: {
        addedBytes: writer.stats.addedBytes,
        referencedBytes: accounting.referencedBytes,
        newBlobs: writer.stats.newBlobs,
        blobs: accounting.blobs,
        packs: accounting.packs.size,
        unchangedFiles: trees?.unchangedFiles ?? 0,
        readBytes: trees?.readBytes ?? 0,
      },
      // Names files: in the result for the site's private state, never in the manifest.
      ...(codeChanges ? { codeChanges } : {}),
    };
  } finally {
    if (!committed) {
      await writer?.abort().catch(() => undefined);
      await trees?.staged.discard().catch(() => undefined);
    }
    await lock.release();
  }
}
