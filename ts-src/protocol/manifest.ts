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

/** Set ids are `<UTC yyyymmddThhmmssZ>-<random>`; the time sorts lexically. */
export const SET_ID_PATTERN = /^(\d{8}T\d{6}Z)-([a-z0-9]{4,16})$/;

export function setIdTime(setId: string): Date | null {
  const m = SET_ID_PATTERN.exec(setId);
  if (!m) return null;
  const t = m[1];
  const iso = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
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
export function sourceIdentity(manifest: { source?: Partial<Manifest['source']> | null; databases?: unknown }): string | undefined {
  const source = manifest.source && typeof manifest.source === 'object' ? manifest.source : {};
  if (typeof source.id === 'string' && source.id !== '') return source.id;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const main = Array.isArray(manifest.databases)
    ? (manifest.databases as Array<Partial<DatabaseRecord> | null>).find((d) => d?.role === 'main')
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
