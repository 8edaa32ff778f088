/**
 * What `civibackup list --json` reports per set, and the verification record a deep verify
 * leaves beside the manifest (verification.json; not hashed, because it is written later).
 */
export const VERIFICATION_FILE = 'verification.json';

export type VerificationState = 'unverified' | 'hashes-ok' | 'restorable' | 'damaged';

export interface VerificationRecord {
  state: VerificationState;
  /** ISO time of the check. */
  at: string;
  /** Deep verify: seconds the test restore took. */
  restoreSeconds?: number;
  detail?: string;
}

export interface SetSummary {
  setId: string;
  /** Where it is: a local path or a destination URL. */
  location: string;
  createdAt: string;
  finishedAt: string;
  bytes: number;
  parts: number;
  encrypted: boolean;
  databases: Array<{
    role: string;
    name: string;
    tables: number;
    rows: number;
    /**
     * Tables that are not CiviCRM's (civicrm-tables.ts), e.g. a CMS's sharing the database:
     * only then does a restore's scope (CiviCRM's tables only, or every table) matter.
     * Absent in lists of helpers older than this field.
     */
    otherTables?: number;
  }>;
  directories: Array<{ label: string; files: number; bytes: number }>;
  verification: VerificationRecord;
  /**
   * The set's source identity (manifest.ts sourceIdentity): retention only counts and removes
   * sets of its own source. Absent when the manifest records none.
   */
  source?: string;
  /**
   * True when the set's source is the source of the site that listed it (`list` given the
   * site's DSN in the environment, and its --source-id when set); absent when unknown.
   */
  thisSite?: boolean;
  /** Who started the run that wrote it: cron, page, api, cli, or safety-before-restore (the backup a restore takes first). */
  trigger?: string;
}
