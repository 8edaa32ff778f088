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
  /**
   * Format 1 (0.1.0): the set's own stored bytes. Format 2 (deduplicated): the bytes of every
   * stored piece the set needs, as referencedBytes (pieces are shared with other sets).
   */
  bytes: number;
  parts: number;
  /** Set format: 1 (a directory of parts, 0.1.0) or 2 (deduplicated pieces); absent: 1. */
  format?: 1 | 2;
  /** Format 2: bytes the set added to the destination when it was written (pieces no earlier set had). Format 1: bytes. */
  addedBytes?: number;
  /** Format 2: bytes of every stored piece the set needs, what a restore of it reads. Format 1: bytes. */
  referencedBytes?: number;
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

/** What `civibackup list --json` reports for a destination. */
export interface SetListing {
  sets: SetSummary[];
  /** The listing site's source identity, when known. */
  source?: string;
  /**
   * What the destination really holds, in bytes: every stored piece once (packs, indexes) plus
   * every format-1 set. Summing the sets' sizes would count shared pieces many times.
   */
  destinationBytes?: number;
}
