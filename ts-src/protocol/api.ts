/**
 * The contract between the page (ts-src/ui) and the extension's API4 entity `Backup`
 * (Civi/Api4/Backup.php, one class per action under Civi/Api4/Action/Backup/). Every
 * action requires `administer backups` (or `administer CiviCRM system`).
 * Calls go through CRM.api4('Backup', action, params) and resolve to an array of records.
 */
import type { HelperEvent } from './events.js';
import type { RetentionPolicy } from './job.js';
import type { SetSummary } from './sets.js';
import type { TreeChanges } from './tree-changes.js';

/** Backup.run: {async: true} from the page returns at once; cron and CLI run synchronously. */
export interface RunParams {
  async?: boolean;
}
export interface RunRecord {
  runId: string;
  /** Synchronous runs only: the final event. */
  result?: HelperEvent;
}

/** Backup.status: events of a run after a sequence number (the page polls every second). */
export interface StatusParams {
  runId: string;
  since?: number;
}
export interface StatusRecord {
  runId: string;
  events: HelperEvent[];
  /** True once a result or error event was seen, or the helper process is gone. */
  done: boolean;
  /** Present while running: the helper's process id, for cancel. */
  running: boolean;
  /** A restore over the live site, once its safety backup is written: that set's id (restoring it undoes the restore). */
  safetySetId?: string;
}

/** Backup.cancel: stops a running run (SIGTERM to the helper); the set stays incomplete. */
export interface CancelParams {
  runId: string;
}

/** Backup.get: complete sets at the local destination (via `civibackup list --json`). */
export type GetRecord = SetSummary;

/** Backup.verify: hashes, or {deep: true} for a test restore into the scratch database. */
export interface VerifyParams {
  setId: string;
  deep?: boolean;
  async?: boolean;
  /** Encrypted sets: the age identity, for this call only (never stored). */
  identity?: string;
}

/** Backup.codeChanges: what changed in CiviCRM's code between a set and the previous set of its source. */
export interface CodeChangesParams {
  setId: string;
}
export interface CodeChangesRecord {
  setId: string;
  /**
   * False when the run that wrote the set did not record them: sets of versions before this
   * field, command-line runs, format-1 sets, backups without CiviCRM's code.
   */
  recorded: boolean;
  changes: TreeChanges | null;
}

/** Backup.delete: removes one set; the newest complete set cannot be deleted. */
export interface DeleteParams {
  setId: string;
}

/** Which tables of the live database a database restore replaces (Backup.restore `scope`). */
export type RestoreScope = 'civicrm' | 'all';

/**
 * Backup.restore: restores one set's database and/or directories over the live site, or its
 * database into a new database for inspection (`newDatabase`, nothing live is touched).
 * `confirm` must equal the set id typed by the administrator. Over the live site a safety
 * backup runs first; Backup.status then names it (`safetySetId`): restoring it is the undo.
 */
export interface RestoreParams {
  setId: string;
  /** Restore the database over the live site. */
  database?: boolean;
  /** With `database`: CiviCRM's tables only (default; a CMS sharing the database keeps its own), or every table the set holds. */
  scope?: RestoreScope;
  /** Labels of the set's directories to restore into place. */
  directories?: string[];
  /** Instead of the live site: a new (or empty) database on the same server; leave database and directories out. */
  newDatabase?: string;
  confirm: string;
  async?: boolean;
  /**
   * A new run id (yyyymmdd-hhmmss-8 hex, RUN_ID_PATTERN) chosen by the page, so it can follow
   * the run with Backup.status while the call itself still runs (an encrypted set is
   * restored attached).
   */
  runId?: string;
  /** Encrypted sets: the age identity, for this call only (never stored); a restore over the live site then runs attached. */
  identity?: string;
}

/** Run ids as PHP makes them (CRM_Civibackup_RunStore::RUN_ID_PATTERN). */
export const RUN_ID_PATTERN = /^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$/;

/** Backup.overview: what the page's first screen shows, in one call. */
export interface OverviewRecord {
  lastBackup: SetSummary | null;
  lastRestorable: SetSummary | null;
  /** null with jobActive: the job runs at the next cron run (never ran yet, or its time has passed). */
  nextScheduledRun: string | null;
  jobActive: boolean;
  jobFrequency: string;
  runningRunId: string | null;
  /** Status-check messages of this extension (level: info|notice|warning|error|critical). */
  warnings: Array<{ name: string; level: string; title: string; message: string }>;
  /** Figures of the sets found per destination; null while setList is unknown (nothing could be counted). */
  storage: Array<{ destination: string; bytes: number | null; sets: number | null }>;
  nodeVersion: string | null;
  /**
   * Whether the sets at the destination are known. 'unknown' when Node.js is missing or
   * unusable (the helper was not started) or the helper could not list them: lastBackup and
   * lastRestorable are then null and the storage figures 0 because nothing could be listed,
   * NOT because no backup exists, so the page must say "unknown", never "none yet".
   * Absent (an extension older than this field) means 'known'; read it with setListOf().
   */
  setList?: SetListState;
}

/** OverviewRecord.setList. */
export type SetListState =
  | { state: 'known' }
  | {
      state: 'unknown';
      /** The stable error code (errors.ts), e.g. NODE_VERSION, IO; '' when there was none. */
      code: string;
      /** What went wrong, from PHP or the helper (not translated), e.g. "No node binary was found on the PATH (...)." */
      reason: string;
      /** What the administrator should do (not translated); '' when there is nothing to add. */
      hint: string;
    };

/** OverviewRecord.setList with the default filled in: a missing field means the sets are known. */
export function setListOf(overview: Pick<OverviewRecord, 'setList'>): SetListState {
  return overview.setList ?? { state: 'known' };
}

/** Directory choices with the paths CiviCRM's Directories settings resolve to. */
export interface DirectoryChoice {
  key: 'custom' | 'images' | 'templates' | 'php' | 'extensions' | 'code';
  label: string;
  path: string | null;
  included: boolean;
}

/**
 * Backup.getConfig / Backup.saveConfig: the settings the page edits, in one record.
 * Secrets are write-only: the page sends them, getConfig returns only `hasSecret` flags.
 */
export interface BackupConfig {
  includeDatabase: boolean;
  includeLoggingDatabase: boolean;
  loggingDatabaseSeparate: boolean;
  directories: DirectoryChoice[];
  destination: string;
  retention: RetentionPolicy;
  /**
   * The setting civibackup_source_id: '' or a name matching SOURCE_ID_PATTERN (manifest.ts),
   * sent as the job's sourceId so retention tells this site's sets from those of other sites
   * or copies sharing the destination. '' = host name and main database tell the source.
   */
  sourceId: string;
  recipients: string[];
  skipCacheData: boolean;
  alertEmails: string[];
  maxAgeHours: number;
  nodePath: string;
  offsite: OffsiteConfig[];
  schedule: { frequency: 'Hourly' | 'Daily' | 'Weekly' | 'Monthly'; active: boolean };
}

export interface OffsiteConfig {
  name: string;
  type: 's3' | 'sftp';
  /** s3: endpoint, region, bucket, prefix, accessKeyId, forcePathStyle ("1"/"0"); sftp: host, port, username, path, hostKey. */
  options: Record<string, string>;
  /** Write-only: set to replace the stored secret; never returned. */
  secret?: string;
  hasSecret?: boolean;
}

/**
 * Backup.saveConfig params: the fields to change (others stay as they are). Resolves to the
 * stored BackupConfig. When a field is invalid nothing is saved and the call rejects with
 * error_code "CONFIG" and an error_message naming each field path and problem, e.g.
 * "Not saved. destination: ...; recipients.0: ...; offsite.1.options.bucket: Required.".
 */
export interface SaveConfigParams {
  config: Partial<BackupConfig>;
}

/** Backup.testDestination params: a destination as edited (secret optional if one is stored under its name). */
export interface TestDestinationParams {
  destination: OffsiteConfig;
}

/** Backup.testDestination: tries to list/write/remove a probe object at an offsite destination. */
export interface TestDestinationRecord {
  ok: boolean;
  message: string;
}
