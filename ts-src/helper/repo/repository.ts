/**
 * A deduplicating blob repository at a destination directory (format v2, issue #14, after
 * restic's): content-addressed blobs in packs, one index file per pack, locks. The layout is
 * in layout.ts and docs/format.md; writing in pack-writer.ts, reading in blob-reader.ts.
 *
 * The index of every pack is loaded into a compact table (index-table.ts) when the
 * repository is opened: writers dedup against it, readers find blobs in it.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, unlink, writeFile, open as openFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Compression } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import { BlobOpener, BlobSealer, prepareBlobKeys } from '../crypto/age-blob.js';
import { AgeError } from '../crypto/age-format.js';
import { mapDecryptError, type AgeDecryptionKeys, type DecryptionKeys, type EncryptionKeys } from '../crypto/age-stream.js';
import { fsyncDirectory } from '../set/durable.js';
import { PackBlobReader, type PackOpener } from './blob-reader.js';
import { BlobIndexTable } from './index-table.js';
import { readIdKeys, resolveIdKey } from './id-key.js';
import { addPackIndex, INDEX_DIR, isPackName, packPath, parseRepositoryConfig, REPOSITORY_FILE, REPOSITORY_FORMAT, REPOSITORY_VERSION, type RepositoryConfig } from './layout.js';
import { acquireLock, type LockOptions, type RepositoryLock } from './lock.js';
import { PackWriter, type PackSealer } from './pack-writer.js';
import { SetReferences } from './set-references.js';

export interface BlobWriteOptions {
  /** false: already-compressed content, stored with encoding 'none' without trying. */
  compressible?: boolean;
  /**
   * The caller never reads nor reuses `content` once put() is called: the writer may move
   * its memory to the pack worker thread instead of copying it (the buffer is then empty).
   */
  handOver?: boolean;
  /**
   * The SHA-256 of `content`, when the caller computed it anyway (a file read in one block):
   * the id is derived from it without another pass over the content.
   */
  contentSha256?: Buffer;
}

/** One per backup run. */
export interface BlobWriter {
  /** Stores `content` unless a blob with its id is known; returns the id. */
  put(content: Buffer, options?: BlobWriteOptions): Promise<string>;
  /** The id `content` has in this repository, without storing it. */
  idOf(content: Buffer): string;
  /** In the index, or added by this run. */
  has(id: string): boolean;
  readonly stats: { newBlobs: number; addedBytes: number /* stored bytes of new blobs */ };
  /** Flushes the open pack; the names of every pack this writer wrote. */
  finish(): Promise<string[]>;
  /** Deletes the open temp pack (packs already closed stay: a later prune removes them). */
  abort(): Promise<void>;
}

export interface BlobReader {
  /** The content; BackupError SET_DAMAGED naming the pack on damage or absence. */
  get(id: string): Promise<Buffer>;
  packOf(id: string): string | undefined;
  storedLength(id: string): number | undefined;
  rawLength(id: string): number | undefined;
}

export interface Repository {
  readonly root: string;
  readonly id: string;
  readonly encrypted: boolean;
  writer(): Promise<BlobWriter>;
  /** Needs decryption keys if encrypted (a get() then fails with WRONG_KEY). */
  reader(): BlobReader;
  /** Every pack that has an index file (a shared map: do not modify it). */
  packs(): Map<string, { bytes: number }>;
  /** Counts what a set references (after its writer's finish(), when every blob is indexed). */
  references(): SetReferences;
  /** A backup's lock, for the whole run; take it BEFORE writer() (it reloads the index). LOCKED while a prune runs. */
  lockShared(runId: string): Promise<{ release(): Promise<void> }>;
  /** Prune's lock; take it BEFORE reading the manifests. LOCKED while any other run holds a lock. */
  lockExclusive(runId: string): Promise<{ release(): Promise<void> }>;
}

export interface OpenRepositoryOptions {
  /** Create the repository when the destination has none (backups); otherwise NOT found is an error. */
  create?: boolean;
  /** Writing to an encrypted repository. */
  encryption?: EncryptionKeys;
  /** Reading an encrypted repository. */
  decryption?: DecryptionKeys;
  /** Where the idKey of an encrypted repository is cached (`<repoId>.idkey`). */
  stateDir?: string;
  compression: Compression;
  level: number;
  /** Tests only: close packs at this size instead of 16 MiB. */
  packTargetBytes?: number;
  /** Tests only: lock timings. */
  lockOptions?: LockOptions;
  /** Non-fatal conditions (e.g. a new idKey: dedup restarts); the caller turns them into warning events. */
  onWarning?: (code: string, message: string) => void;
}

/** Loading index files: this many read at once (each worker keeps a buffer of the largest file it read). */
const INDEX_READ_CONCURRENCY = 4;

export async function isRepository(destination: string): Promise<boolean> {
  try {
    await readFile(join(destination, REPOSITORY_FILE), 'utf8');
    return true;
  } catch {
    return false;
  }
}

async function readConfig(root: string): Promise<RepositoryConfig | undefined> {
  const path = join(root, REPOSITORY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return parseRepositoryConfig(text, path);
  } catch (error) {
    throw new BackupError('SET_DAMAGED', `${(error as Error).message}; this folder's repository cannot be used.`, { cause: error });
  }
}

/** Writes repository.json once: temp file, fsync, then link() so an existing one is never replaced. */
async function createConfig(root: string, encrypted: boolean): Promise<RepositoryConfig> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const config: RepositoryConfig = {
    format: REPOSITORY_FORMAT,
    version: REPOSITORY_VERSION,
    id: randomBytes(8).toString('hex'),
    encrypted,
    ...(encrypted ? { idScheme: 'hmac-of-sha256' as const } : {}),
    createdAt: new Date().toISOString(),
  };
  const tmp = join(root, `.${REPOSITORY_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  const handle = await openFile(tmp, 'r');
  await handle.sync();
  await handle.close();
  try {
    await link(tmp, join(root, REPOSITORY_FILE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another run created it at the same moment: use theirs.
    await unlink(tmp);
    return (await readConfig(root)) as RepositoryConfig;
  }
  await unlink(tmp);
  await fsyncDirectory(root);
  return config;
}

/**
 * Reads every index file not yet in `table` into it, and drops packs from `table` whose index
 * file is gone (pruned). Unreadable files are listed, not fatal (their blobs are then unknown,
 * so a backup stores them again and a reader reports them damaged).
 */
async function loadIndex(root: string, table: BlobIndexTable): Promise<string[]> {
  const problems: string[] = [];
  const files: { pack: string; path: string }[] = [];
  let prefixes: string[];
  try {
    prefixes = await readdir(join(root, INDEX_DIR));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return problems;
    throw error;
  }
  for (const prefix of prefixes.sort()) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    for (const name of (await readdir(join(root, INDEX_DIR, prefix))).sort()) {
      const pack = name.slice(0, -'.json'.length);
      if (name.endsWith('.json') && isPackName(pack) && pack.startsWith(prefix)) files.push({ pack, path: join(root, INDEX_DIR, prefix, name) });
    }
  }
  const listed = new Set(files.map((f) => f.pack));
  for (const pack of table.packs().keys()) if (!listed.has(pack)) table.dropPack(pack);
  const unread = files.filter((f) => !table.hasPack(f.pack));
  let next = 0;
  const worker = async (): Promise<void> => {
    // One buffer per worker, reused for every file: a buffer per file (readFile) left ~15 MB
    // of freed blocks in the allocator's arenas after a million blobs' index was read.
    let buffer: Buffer = Buffer.alloc(0);
    while (next < unread.length) {
      const { pack, path } = unread[next++];
      let length: number;
      try {
        ({ buffer, length } = await readWhole(path, buffer));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned meanwhile
        throw error;
      }
      try {
        addPackIndex(table, buffer.subarray(0, length), pack);
      } catch (error) {
        problems.push(`${path}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: INDEX_READ_CONCURRENCY }, worker));
  return problems;
}

/** Reads a whole file into `buffer` (a bigger one if it does not fit); the buffer and the file's length. */
async function readWhole(path: string, buffer: Buffer): Promise<{ buffer: Buffer; length: number }> {
  const handle = await openFile(path, 'r');
  try {
    const { size } = await handle.stat();
    let into = buffer;
    // Room for the size stat() saw plus a byte, to notice a file that grew meanwhile.
    if (into.length < size + 1) into = Buffer.allocUnsafe(Math.max(size + 1, into.length * 2, 64 * 1024));
    let length = 0;
    for (;;) {
      if (length === into.length) {
        const grown = Buffer.allocUnsafe(into.length * 2);
        into.copy(grown, 0, 0, length);
        into = grown;
      }
      const { bytesRead } = await handle.read(into, length, into.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { buffer: into, length };
  } finally {
    await handle.close();
  }
}

/** Keeps track of who holds which lock, so prune can insist on the exclusive one. */
const exclusiveHolders = new WeakSet<Repository>();

export function holdsExclusiveLock(repo: Repository): boolean {
  return exclusiveHolders.has(repo);
}

/**
 * The blob ids of an encrypted repository. 'hmac-of-sha256' (every repository created since
 * this change): HMAC-SHA-256 under the id key of the content's SHA-256, so a file read in one
 * block is hashed once for both its file hash and its id. Without `idScheme` in repository.json
 * (repositories of earlier development builds): HMAC-SHA-256 of the content itself.
 */
function blobIdFunctions(scheme: RepositoryConfig['idScheme'], idKey: Buffer): { idOf: (content: Buffer) => string; idOfDigest?: (contentSha256: Buffer) => string } {
  if (scheme === 'hmac-of-sha256') {
    const idOfDigest = (contentSha256: Buffer): string => createHmac('sha256', idKey).update(contentSha256).digest('hex');
    return { idOf: (content) => idOfDigest(createHash('sha256').update(content).digest()), idOfDigest };
  }
  return { idOf: (content) => createHmac('sha256', idKey).update(content).digest('hex') };
}

export class LocalRepository implements Repository {
  readonly root: string;
  readonly id: string;
  readonly encrypted: boolean;
  /** How an encrypted repository's blob ids are made (repository.json `idScheme`). */
  private readonly idScheme: RepositoryConfig['idScheme'];
  /** Index files that could not be read (when the repository was opened, or the index reloaded). */
  readonly indexProblems: string[];

  constructor(
    config: RepositoryConfig,
    root: string,
    readonly table: BlobIndexTable,
    indexProblems: string[],
    private readonly options: OpenRepositoryOptions,
  ) {
    this.root = root;
    this.id = config.id;
    this.encrypted = config.encrypted;
    this.idScheme = config.idScheme;
    this.indexProblems = indexProblems;
  }

  async writer(): Promise<BlobWriter> {
    const encryption = this.options.encryption;
    if (this.encrypted && !encryption) {
      throw new BackupError('CONFIG', `The repository at ${this.root} is encrypted; a backup to it needs the recipients (--recipient) or the passphrase (--passphrase-file) it was made with.`);
    }
    if (!this.encrypted && encryption) {
      throw new BackupError(
        'CONFIG',
        `The repository at ${this.root} is not encrypted, but this backup asks for encryption. Back up to another folder (a new, encrypted repository is created there), or turn encryption off for this destination.`,
      );
    }
    let idOf = (content: Buffer): string => createHash('sha256').update(content).digest('hex');
    let idOfDigest: ((contentSha256: Buffer) => string) | undefined = (contentSha256) => contentSha256.toString('hex');
    let newSealer: (() => Promise<PackSealer>) | undefined;
    if (encryption) {
      const idKey = await resolveIdKey({
        root: this.root,
        repoId: this.id,
        stateDir: this.options.stateDir,
        encryption,
        decryption: this.options.decryption,
        onWarning: this.options.onWarning,
      });
      const keyed = blobIdFunctions(this.idScheme, idKey);
      idOf = keyed.idOf;
      idOfDigest = keyed.idOfDigest;
      if (encryption.passphrase !== undefined) {
        // A passphrase header costs an scrypt run (~1 s, 256 MiB): one header for all packs of
        // this run; each blob still has its own nonce and so its own payload key.
        const shared = BlobSealer.create(encryption);
        newSealer = () => shared;
      } else {
        newSealer = () => BlobSealer.create(encryption);
      }
    }
    return new PackWriter({
      root: this.root,
      table: this.table,
      idOf,
      idOfDigest,
      compression: this.options.compression,
      level: this.options.level,
      packTargetBytes: this.options.packTargetBytes,
      newSealer,
    });
  }

  reader(): BlobReader {
    let openerFor: ((pack: string, header: Buffer) => Promise<PackOpener>) | undefined;
    let idCheck: (() => Promise<((content: Buffer, id: string) => boolean) | undefined>) | undefined;
    if (this.encrypted) {
      const decryption = this.options.decryption ?? (this.options.encryption?.passphrase !== undefined ? { identities: [], passphrases: [this.options.encryption.passphrase] } : undefined);
      let keys: AgeDecryptionKeys | undefined;
      /** Packs of one passphrase run share their header: unwrap it once. */
      const byHeader = new Map<string, Promise<BlobOpener>>();
      openerFor = async (pack, header) => {
        if (!decryption) {
          throw new BackupError('WRONG_KEY', `The repository at ${this.root} is encrypted; pass --identity FILE or --passphrase-file FILE to read it.`);
        }
        keys ??= prepareBlobKeys(decryption, this.root);
        const headerKey = createHash('sha256').update(header).digest('hex');
        let opener = byHeader.get(headerKey);
        if (!opener) {
          opener = BlobOpener.create(keys, header).catch((error: unknown) => {
            byHeader.delete(headerKey);
            throw error instanceof AgeError ? mapDecryptError(error, `Pack ${pack} (${packPath(this.root, pack)})`) : error;
          });
          if (byHeader.size >= 256) byHeader.delete(byHeader.keys().next().value as string);
          byHeader.set(headerKey, opener);
        }
        const blobs = await opener;
        return {
          open(sealed: Buffer): Buffer {
            return blobs.open(sealed);
          },
        };
      };
      idCheck = async () => {
        const idKeys = decryption ? await readIdKeys(this.root, decryption).catch(() => undefined) : undefined;
        if (!idKeys) return undefined;
        const schemes = idKeys.map((idKey) => blobIdFunctions(this.idScheme, idKey).idOf);
        return (content, id) => schemes.some((idOf) => idOf(content) === id);
      };
    }
    return new PackBlobReader({ root: this.root, table: this.table, openerFor, idCheck });
  }

  references(): SetReferences {
    return new SetReferences(this.table, (pack) => this.packs().get(pack)?.bytes ?? 0);
  }

  private packsCache: { generation: number; packs: Map<string, { bytes: number }> } | undefined;

  /** Built once per change of the index (callers look packs up per blob); treat it as read-only. */
  packs(): Map<string, { bytes: number }> {
    const generation = this.table.generation;
    if (this.packsCache?.generation !== generation) {
      const packs = new Map<string, { bytes: number }>();
      for (const [name, info] of this.table.packs()) packs.set(name, { bytes: info.bytes });
      this.packsCache = { generation, packs };
    }
    return this.packsCache.packs;
  }

  /**
   * Take it BEFORE writer(): a prune that ran since the repository was opened may have
   * deleted packs the loaded index still lists, so the index is brought up to date once the
   * lock keeps prunes out (a backup must not dedup against a deleted blob).
   */
  async lockShared(runId: string): Promise<RepositoryLock> {
    const lock = await acquireLock(this.root, runId, 'shared', this.options.lockOptions);
    try {
      this.indexProblems.push(...(await loadIndex(this.root, this.table)));
    } catch (error) {
      await lock.release();
      throw error;
    }
    return lock;
  }

  async lockExclusive(runId: string): Promise<RepositoryLock> {
    const lock = await acquireLock(this.root, runId, 'exclusive', this.options.lockOptions);
    try {
      this.indexProblems.push(...(await loadIndex(this.root, this.table)));
    } catch (error) {
      await lock.release();
      throw error;
    }
    exclusiveHolders.add(this);
    return {
      type: lock.type,
      file: lock.file,
      release: async () => {
        exclusiveHolders.delete(this);
        await lock.release();
      },
    };
  }
}

/**
 * Opens (or with `create`, creates) the repository at `destination`. Throws CONFIG when there
 * is none and `create` is not set, SET_DAMAGED when repository.json is not valid.
 */
export async function openRepository(destination: string, options: OpenRepositoryOptions): Promise<Repository> {
  const root = resolve(destination);
  let config = await readConfig(root);
  if (!config) {
    if (!options.create) {
      throw new BackupError('CONFIG', `There is no deduplicated repository at ${root} (no ${REPOSITORY_FILE}). Check the destination path; version 1 sets there are read without one.`);
    }
    config = await createConfig(root, options.encryption !== undefined);
  }
  const table = new BlobIndexTable();
  const problems = await loadIndex(root, table);
  return new LocalRepository(config, root, table, problems, options);
}
