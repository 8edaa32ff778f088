/**
 * The job file: what the CiviCRM extension asks the helper to do (`civibackup backup --job FILE`).
 * PHP writes it (mode 0600, in CiviCRM's private files area). It holds no secret: every
 * secret travels in an environment variable whose NAME the job gives, so the file, the
 * process list and the logs stay free of passwords.
 */
import { SOURCE_ID_PATTERN, type Compression } from './manifest.js';

export const JOB_VERSION = 1 as const;

/** Environment variables the helper reads secrets from (defaults; a job may name others). */
export const ENV = {
  DSN: 'CIVIBACKUP_DSN',
  LOGGING_DSN: 'CIVIBACKUP_LOGGING_DSN',
  SCRATCH_DSN: 'CIVIBACKUP_SCRATCH_DSN',
  PASSPHRASE: 'CIVIBACKUP_PASSPHRASE',
  IDENTITY: 'CIVIBACKUP_IDENTITY',
} as const;

export interface DirectorySpec {
  /** Folder-safe label: [a-z0-9_-]+, becomes files/<label>.tar.gz. */
  label: string;
  path: string;
  /** When true a missing directory is a warning, not an error. */
  optional?: boolean;
}

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface S3DestinationSpec {
  type: 's3';
  name: string;
  endpoint?: string;
  region: string;
  bucket: string;
  prefix?: string;
  forcePathStyle?: boolean;
  accessKeyId: string;
  /** Name of the environment variable holding the secret access key. */
  secretEnv: string;
}

export interface SftpDestinationSpec {
  type: 'sftp';
  name: string;
  host: string;
  port?: number;
  username: string;
  path: string;
  /** Name of the environment variable holding the private key (PEM/OpenSSH text). */
  privateKeyEnv: string;
  /** Optional SHA-256 host key fingerprint ("SHA256:...") to pin. */
  hostKey?: string;
}

export interface LocalDestinationSpec {
  type: 'local';
  name: string;
  path: string;
}

export type DestinationSpec = S3DestinationSpec | SftpDestinationSpec | LocalDestinationSpec;

export interface BackupJob {
  version: typeof JOB_VERSION;
  command: 'backup';
  /** Local destination directory; the set is written here first. */
  to: string;
  database?: { dsnEnv?: string; excludeData?: string[]; skipCacheData?: boolean };
  loggingDatabase?: { dsnEnv?: string };
  files?: DirectorySpec[];
  exclude?: string[];
  /** Keep CiviCRM's ConfigAndLog/ logs in directory archives (left out by default). */
  includeLogs?: boolean;
  /** Leave out `upload/` at the root of each directory (CiviCRM's temporary uploads). */
  excludeUploadDir?: boolean;
  compression?: { algorithm: Compression; level?: number };
  encryption?: { recipients?: string[]; passphraseEnv?: string };
  offsite?: DestinationSpec[];
  retention?: RetentionPolicy;
  /** Deep-verify the new set into this scratch database (DSN from the named env var). */
  verify?: { scratchDsnEnv?: string };
  /** Recorded in the manifest: who started the run. */
  trigger?: string;
  civicrmVersion?: string;
  site?: string;
  /**
   * Names this site's sets (manifest source.id) for retention at a shared destination; without
   * it the source is told by host name and main database (manifest.ts sourceIdentity). The
   * extension sends its civibackup_source_id setting (CRM_Civibackup_JobBuilder mirrors
   * SOURCE_ID_PATTERN).
   */
  sourceId?: string;
  /**
   * Where the helper keeps state between runs of a v2 (deduplicated) backup: the repository's
   * id key cache and the tree caches that spare reading unchanged files. The extension passes
   * `[civicrm.private]/civibackup/state`.
   */
  stateDir?: string;
  /** Set format: 2 (deduplicated, default) or 1 (a set directory of parts, as 0.1.0 wrote). */
  format?: 1 | 2;
}

/** A label becomes a file name, so it is restricted to a safe alphabet. */
export const LABEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Returns problems with a job (empty = valid). Pure: PHP-side checks mirror it. */
export function validateJob(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null) return ['job is not a JSON object'];
  const job = value as Partial<BackupJob>;
  if (job.version !== JOB_VERSION) problems.push(`job version must be ${JOB_VERSION}`);
  if (job.command !== 'backup') problems.push('job command must be "backup"');
  if (typeof job.to !== 'string' || job.to === '') problems.push('job "to" (destination directory) is required');
  const labels = new Set<string>();
  for (const dir of job.files ?? []) {
    if (!LABEL_PATTERN.test(dir.label)) problems.push(`directory label "${dir.label}" must match ${LABEL_PATTERN}`);
    if (labels.has(dir.label)) problems.push(`directory label "${dir.label}" is used twice`);
    labels.add(dir.label);
    if (typeof dir.path !== 'string' || !dir.path.startsWith('/')) problems.push(`directory "${dir.label}" needs an absolute path`);
  }
  if (job.sourceId !== undefined && (typeof job.sourceId !== 'string' || !SOURCE_ID_PATTERN.test(job.sourceId))) {
    problems.push(`sourceId "${String(job.sourceId)}" must match ${SOURCE_ID_PATTERN}`);
  }
  if (job.stateDir !== undefined && (typeof job.stateDir !== 'string' || !job.stateDir.startsWith('/'))) problems.push('job "stateDir" must be an absolute path');
  if (job.format !== undefined && job.format !== 1 && job.format !== 2) problems.push('job "format" must be 1 or 2');
  for (const r of job.encryption?.recipients ?? []) {
    if (!/^age1[0-9a-z]{58}$/.test(r)) problems.push(`"${r}" is not an age X25519 recipient (age1...)`);
  }
  return problems;
}
