/**
 * manifest.json: the self-description of a backup set (docs/format.md is the prose spec).
 * A set directory without a valid manifest is incomplete and is never listed or counted.
 */
export const MANIFEST_FORMAT = 'civibackup-set' as const;
export const MANIFEST_VERSION = 1 as const;
export const MANIFEST_FILE = 'manifest.json';

export type Compression = 'gzip' | 'zstd' | 'none';

export interface PartRecord {
  /** Path relative to the set directory, '/' separated, e.g. "db/200-data-civicrm_contact.0001.sql.gz". */
  path: string;
  /** Size in bytes as stored (after compression and encryption). */
  bytes: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
  /** Uncompressed size of the content, for progress estimates on restore. */
  rawBytes: number;
}

export interface TableRecord {
  name: string;
  engine: string;
  /** Rows written (0 when data was skipped). */
  rows: number;
  /** True when the read was inside the consistent snapshot (transactional engines). */
  snapshot: boolean;
  /** How a table outside the snapshot was read, e.g. "LOCK TABLES ... READ". */
  readMode?: string;
  /** Data parts of this table in restore order (empty when data was skipped). */
  parts: string[];
  /** Hex digest of the rows in canonical form (see docs/format.md), absent when data was skipped. */
  digest?: string;
  /** Why the data is not in the set, when it is not. */
  dataSkipped?: string;
  /** Columns not inserted because the server computes them. */
  generatedColumns?: string[];
}

export interface DatabaseRecord {
  /** 'main' is CIVICRM_DSN, 'logging' a separate CIVICRM_LOGGING_DSN database. */
  role: 'main' | 'logging';
  /** Folder of the parts inside the set: "db" or "logdb". */
  folder: string;
  /** Source database name and host (never user or password). */
  name: string;
  host: string;
  server: { version: string; flavor: 'mariadb' | 'mysql' };
  charset: string;
  /** The source database's default collation (restore creates a missing target with it). */
  collation?: string;
  /** Isolation used and whether non-transactional tables were locked. */
  snapshot: { isolation: string; consistentSnapshot: boolean; nonTransactionalTables: string[] };
  tables: TableRecord[];
  /** Version of the row digest definition the tables' `digest` follows (docs/format.md); absent: 1. */
  rowDigestVersion?: 1 | 2;
  counts: { tables: number; views: number; functions: number; procedures: number; triggers: number; events: number; sequences: number };
  /** Names of objects by kind, for comparison after a test restore. */
  objects?: { views: string[]; functions: string[]; procedures: string[]; triggers: string[]; events: string[] };
}

export interface ExclusionRecord {
  /** Path relative to the archived directory. */
  path: string;
  reason: string;
}

export interface FilesRecord {
  label: string;
  /** Absolute source path at backup time. */
  source: string;
  /** Part path, e.g. "files/custom.tar.gz". */
  archive: string;
  files: number;
  directories: number;
  symlinks: number;
  /** Bytes of regular file content archived. */
  bytes: number;
  excluded: ExclusionRecord[];
  warnings: string[];
  /** Exclusions and warnings beyond the lists' cap (1000 each), counted only. */
  excludedOmitted?: number;
  warningsOmitted?: number;
  /**
   * Symlinks whose target lies outside the archived directory, as archived. Restore recreates
   * these (nothing is ever written through a link) and refuses any other link that escapes.
   */
  outsideLinks?: Array<{ path: string; target: string }>;
  /** Outside links beyond the list's cap; when > 0 restore accepts every outside link. */
  outsideLinksOmitted?: number;
}

export interface EncryptionRecord {
  /** age X25519 recipients (public keys only). */
  recipients: string[];
  passphrase: boolean;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  formatVersion: typeof MANIFEST_VERSION;
  setId: string;
  tool: { name: 'civibackup'; version: string; node: string };
  createdAt: string;
  finishedAt: string;
  /**
   * Where the set came from. `id` (optional; absent in sets made before it existed) is a name
   * the administrator gave the source; see sourceIdentity() for how retention tells sources apart.
   */
  source: { hostname: string; civicrmVersion?: string; site?: string; id?: string };
  compression: { algorithm: Compression; level: number };
  encryption: EncryptionRecord | null;
  parts: PartRecord[];
  databases: DatabaseRecord[];
  files: FilesRecord[];
  warnings: string[];
  /** Free-form, e.g. who started the run (cron, page, CLI). */
  trigger?: string;
}

/**
 * Set ids are `<UTC yyyymmddThhmmssZ>-<random>`; the time sorts lexically. New ids start the
 * random part with the milliseconds (see newSetId), so two sets of the same second still sort
 * in the order they were made: "the newest set" must not depend on a coin toss.
 */
export const SET_ID_PATTERN = /^(\d{8}T\d{6}Z)-([a-z0-9]{4,16})$/;

export function setIdTime(setId: string): Date | null {
  const m = SET_ID_PATTERN.exec(setId);
  if (!m) return null;
  const t = m[1];
  const iso = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A new set's id: the time, then its milliseconds and `random` (lowercase hex). */
export function newSetId(when: Date, random: string): string {
  return formatSetId(when, `${String(when.getUTCMilliseconds()).padStart(3, '0')}${random}`);
}

export function formatSetId(when: Date, random: string): string {
  const iso = when.toISOString(); // 2026-11-26T06:31:41.123Z
  const stamp = iso.slice(0, 19).replace(/[-:]/g, '') + 'Z';
  return `${stamp}-${random}`;
}

/**
 * Structural validation of a parsed manifest. Returns the problems found (empty = valid).
 * Pure, so the UI and the helper judge a manifest the same way.
 */
export function validateManifest(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null) return ['manifest is not a JSON object'];
  const m = value as Partial<Manifest>;
  if (m.format !== MANIFEST_FORMAT) problems.push(`format is not "${MANIFEST_FORMAT}"`);
  if (m.formatVersion !== MANIFEST_VERSION) problems.push(`unsupported formatVersion ${String(m.formatVersion)}`);
  if (typeof m.setId !== 'string' || !SET_ID_PATTERN.test(m.setId)) problems.push('setId missing or malformed');
  if (!Array.isArray(m.parts)) problems.push('parts missing');
  else {
    m.parts.forEach((p, i) => {
      if (typeof p?.path !== 'string' || !isSafeRelativePath(p.path)) problems.push(`parts[${i}].path unsafe or missing`);
      if (typeof p?.bytes !== 'number' || p.bytes < 0) problems.push(`parts[${i}].bytes invalid`);
      if (typeof p?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) problems.push(`parts[${i}].sha256 invalid`);
    });
  }
  if (!Array.isArray(m.databases)) problems.push('databases missing');
  else {
    m.databases.forEach((d, i) => {
      const version = (d as Partial<DatabaseRecord> | null)?.rowDigestVersion;
      // A newer helper's digest cannot be checked by this one: say so instead of a false mismatch.
      if (version !== undefined && version !== 1 && version !== 2) problems.push(`databases[${i}].rowDigestVersion ${String(version)} is newer than this helper understands`);
    });
  }
  if (!Array.isArray(m.files)) problems.push('files missing');
  return problems;
}

/** An explicit source id (`--source-id`, job `sourceId`): a short name without '|', '=' or spaces. */
export const SOURCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The source identity of a set: which site a set belongs to, so retention at a destination
 * that several sites (or a production and a staging copy) share only counts and removes the
 * run's own sets. Pure and defensive: manifests of older helpers may lack any field.
 *
 *  - `source.id` when present: the administrator named the source explicitly.
 *  - Otherwise `host=<machine host name>|db=<main database host>/<name>`, from fields every
 *    set has carried since the first release, so sets made before this rule get the same
 *    identity as new sets of the same site and retention carries on after an upgrade.
 *    The database alone is not enough: it is `localhost/civicrm` on very many servers, a
 *    staging copy included. `source.site` is left out on purpose: it is CiviCRM's domain
 *    name, which a staging copy shares with production (so it tells nothing apart), which a
 *    run from the command line does not record, and which an administrator may rename: each
 *    of these would split one site's sets into two sources. A false split only leaves sets
 *    alone (they pile up, reported); a false merge deletes another site's backups.
 *  - undefined when the set records neither: such a set is never removed by a
 *    source-filtered retention unless the person opts in (`--include-unidentified`).
 */
export function sourceIdentity(manifest: { source?: Partial<Manifest['source']> | null; databases?: unknown; summary?: unknown }): string | undefined {
  const source = manifest.source && typeof manifest.source === 'object' ? manifest.source : {};
  if (typeof source.id === 'string' && source.id !== '') return source.id;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  // v1 manifests list databases at the top; v2 manifests in summary.databases (same name/host).
  const summary = manifest.summary && typeof manifest.summary === 'object' ? (manifest.summary as { databases?: unknown }) : {};
  const databases = Array.isArray(manifest.databases) ? manifest.databases : summary.databases;
  const main = Array.isArray(databases)
    ? (databases as Array<Partial<Pick<DatabaseRecord, 'role' | 'name' | 'host'>> | null>).find((d) => d?.role === 'main')
    : undefined;
  const fields: string[] = [];
  const host = text(source.hostname);
  if (host) fields.push(`host=${host}`);
  if (main && text(main.name)) fields.push(`db=${text(main.host) ?? ''}/${main.name}`);
  return fields.length > 0 ? fields.join('|') : undefined;
}

/** A manifest path may only point inside the set: relative, no '..', no backslash, no NUL. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** Total stored size of a set. */
export function manifestBytes(m: Pick<Manifest, 'parts'>): number {
  return m.parts.reduce((sum, p) => sum + p.bytes, 0);
}

// ---------------------------------------------------------------------------------------------
// Format v2: deduplicated sets (docs/format.md "Format v2"). A v2 set is
// `sets/<setId>/manifest.json` in a repository (repository.json, data/, index/); its content
// lives in content-addressed blobs inside packs. The manifest is plaintext and holds only what
// listing needs: no file, directory or table name. Everything else is in the CATALOG, a JSON
// document stored as blobs (encrypted with the data when the repository is).
// v1 sets (a set directory of parts + manifest.json) live beside v2 sets at the same destination.
// ---------------------------------------------------------------------------------------------

export const MANIFEST_VERSION_V2 = 2 as const;
/** Folder of v2 set manifests inside a repository: `sets/<setId>/manifest.json`. */
export const SETS_DIR = 'sets';

/** Repository-relative path of a v2 set's manifest. */
export function manifestV2Path(setId: string): string {
  return `${SETS_DIR}/${setId}/${MANIFEST_FILE}`;
}

/** A blob id: hex SHA-256 (plain repository) or hex HMAC-SHA256 (encrypted repository). */
export const BLOB_ID_PATTERN = /^[0-9a-f]{64}$/;

export interface PackRecord {
  /** Pack name: hex SHA-256 of the pack's bytes (stored as data/<first 2 hex>/<name>). */
  name: string;
  /** Stored size of the pack. */
  bytes: number;
}

export interface ManifestV2Stats {
  /** Stored bytes of the blobs this run added (what this set cost). */
  addedBytes: number;
  /** Stored bytes of every distinct blob the set references (what it needs kept). */
  referencedBytes: number;
  /** Distinct blobs the set references. */
  blobs: number;
  /** Blobs this run stored (the rest were already in the repository). */
  newBlobs: number;
}

export interface ManifestV2Summary {
  tables: number;
  rows: number;
  directories: number;
  files: number;
  /** Bytes of regular file content in the set's trees. */
  bytes: number;
  /**
   * One entry per database. `name` and `host` (never user or password) are there for the same
   * reason v1 manifests carry them: retention tells sites apart by them (sourceIdentity).
   */
  databases: Array<{ role: DatabaseRecord['role']; name?: string; host?: string }>;
}

export interface ManifestV2 {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION_V2;
  /** The set id (SET_ID_PATTERN), also the folder name under sets/. */
  id: string;
  /** Id of the repository (repository.json) the set's blobs are in. */
  repository: string;
  createdAt: string;
  finishedAt: string;
  tool: Manifest['tool'];
  source: Manifest['source'];
  trigger?: string;
  civicrmVersion?: string;
  /** age recipients the data is encrypted to (public keys only); null = not encrypted. */
  encryption: EncryptionRecord | null;
  compression: Manifest['compression'];
  /** Blob ids whose plaintexts, concatenated in this order, are the catalog's JSON (Catalog). */
  catalog: string[];
  /** Every pack the set needs (each referenced blob's pack, once). */
  packs: PackRecord[];
  stats: ManifestV2Stats;
  summary: ManifestV2Summary;
  warnings: string[];
}

/** A table in a v2 set: its data statements are blobs instead of parts. */
export interface TableRecordV2 extends Omit<TableRecord, 'parts'> {
  /** Blob ids of the table's data (SQL), in restore order; empty when data was skipped. */
  blobs: string[];
}

export interface DatabaseRecordV2 extends Omit<DatabaseRecord, 'tables' | 'folder'> {
  tables: TableRecordV2[];
  /** Schema DDL (CREATE TABLE ...), post-data objects (views, routines, triggers, events) as blobs, in restore order. */
  schemaBlobs: string[];
  objectBlobs: string[];
}

/** A directory in a v2 set: its tree (NDJSON of TreeEntry, sorted by path) is stored as blobs. */
export interface FilesRecordV2 extends Omit<FilesRecord, 'archive'> {
  /** Blob ids whose plaintexts, concatenated, are the tree's NDJSON. */
  tree: string[];
}

/** The catalog of a v2 set (stored as blobs; ManifestV2.catalog). */
export interface Catalog {
  databases: DatabaseRecordV2[];
  files: FilesRecordV2[];
  /** The run's warnings in full (an encrypted set's manifest only counts them: they may name tables or files). */
  warnings?: string[];
}

export type TreeEntryType = 'f' | 'd' | 'l';

/**
 * One line of a tree's NDJSON. Lines are in walk order (compareTreePaths): depth first, a
 * directory right before what it contains, names compared as JS strings (UTF-16 code units).
 * Short keys because a tree can hold millions of lines. The root directory itself is `p: "."`.
 */
export interface TreeEntry {
  /** Path relative to the directory's root, '/' separated, no '', '.' or '..' segment; "." is the root. */
  p: string;
  t: TreeEntryType;
  /** Permission bits (mode & 0o7777). */
  m: number;
  /** Modification time in ms since the epoch (fractional: sub-ms precision as stat gives it). */
  mt: number;
  /** Regular files: size in bytes. */
  s?: number;
  /** Regular files: blob ids of the content, cut in fixed 1 MiB blocks, in order. */
  b?: string[];
  /** Regular files: hex SHA-256 of the whole content (check with sha256sum after a plain-tool restore). */
  h?: string;
  /** Symlinks: the link target as stored in the file system. */
  l?: string;
  /** Owner and group ids (restored when the restore runs as root, as from v1 tar archives). */
  u?: number;
  g?: number;
  /** Change detection only (not needed to restore): inode number and ctime in ms at backup time. */
  i?: number;
  c?: number;
}

/** Fixed size of a file content block (one blob each; the last block of a file may be shorter). */
export const FILE_BLOCK_SIZE = 1024 * 1024;

/** Structural validation of a parsed v2 manifest. Returns the problems found (empty = valid). */
export function validateManifestV2(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null) return ['manifest is not a JSON object'];
  const m = value as Partial<ManifestV2>;
  if (m.format !== MANIFEST_FORMAT) problems.push(`format is not "${MANIFEST_FORMAT}"`);
  if (m.version !== MANIFEST_VERSION_V2) problems.push(`unsupported version ${String(m.version)}`);
  if (typeof m.id !== 'string' || !SET_ID_PATTERN.test(m.id)) problems.push('id missing or malformed');
  if (typeof m.repository !== 'string' || !/^[0-9a-f]{16}$/.test(m.repository)) problems.push('repository id missing or malformed');
  if (typeof m.createdAt !== 'string') problems.push('createdAt missing');
  if (!Array.isArray(m.catalog) || m.catalog.length === 0) problems.push('catalog missing');
  else m.catalog.forEach((id, i) => {
    if (typeof id !== 'string' || !BLOB_ID_PATTERN.test(id)) problems.push(`catalog[${i}] is not a blob id`);
  });
  if (!Array.isArray(m.packs)) problems.push('packs missing');
  else m.packs.forEach((p, i) => {
    if (typeof p?.name !== 'string' || !BLOB_ID_PATTERN.test(p.name)) problems.push(`packs[${i}].name invalid`);
    if (typeof p?.bytes !== 'number' || p.bytes < 0) problems.push(`packs[${i}].bytes invalid`);
  });
  const stats = m.stats as Partial<ManifestV2Stats> | undefined;
  if (typeof stats !== 'object' || stats === null) problems.push('stats missing');
  else for (const key of ['addedBytes', 'referencedBytes', 'blobs', 'newBlobs'] as const) {
    if (typeof stats[key] !== 'number' || (stats[key] as number) < 0) problems.push(`stats.${key} invalid`);
  }
  const summary = m.summary as Partial<ManifestV2Summary> | undefined;
  if (typeof summary !== 'object' || summary === null) problems.push('summary missing');
  else if (!Array.isArray(summary.databases)) problems.push('summary.databases missing');
  if (m.warnings !== undefined && !Array.isArray(m.warnings)) problems.push('warnings is not a list');
  return problems;
}

/** True when a parsed manifest claims format v2 (validate it with validateManifestV2). */
export function isManifestV2(value: unknown): value is ManifestV2 {
  return typeof value === 'object' && value !== null && (value as { version?: unknown }).version === MANIFEST_VERSION_V2;
}

/** Structural validation of a parsed catalog (the reader checks it before using it). */
export function validateCatalog(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null) return ['catalog is not a JSON object'];
  const c = value as Partial<Catalog>;
  if (!Array.isArray(c.databases)) problems.push('catalog databases missing');
  if (!Array.isArray(c.files)) problems.push('catalog files missing');
  else c.files.forEach((f, i) => {
    if (typeof f?.label !== 'string') problems.push(`catalog files[${i}].label missing`);
    if (!Array.isArray(f?.tree) || !f.tree.every((id) => typeof id === 'string' && BLOB_ID_PATTERN.test(id))) problems.push(`catalog files[${i}].tree invalid`);
  });
  return problems;
}

/**
 * The order of tree entries: segment by segment, so "a" < "a/x" < "a-b" (the walker's order:
 * a directory is followed by its whole contents). Returns <0, 0 or >0.
 */
export function compareTreePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '.') return -1;
  if (b === '.') return 1;
  // Code unit by code unit, '/' below every other unit: the first difference inside two
  // segments orders them as string comparison would, and a segment that ends first ('/' or
  // the end of the path) is the smaller. No split(): this runs once per file of a backup.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const SLASH = 0x2f;
