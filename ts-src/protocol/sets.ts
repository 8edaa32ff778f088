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
  databases: Array<{ role: string; name: string; tables: number; rows: number }>;
  directories: Array<{ label: string; files: number; bytes: number }>;
  verification: VerificationRecord;
  /**
   * The set's source identity (manifest.ts sourceIdentity): retention only counts and removes
   * sets of its own source. Absent when the manifest records none.
   */
  source?: string;
}
