/**
 * Stable error codes shared by the helper, the PHP glue and the UI.
 *
 * A code never changes meaning once released: PHP status checks, alert e-mails and the
 * page's "what to do" text key off it. Each code carries the process exit code the CLI
 * uses and whether trying again can help (a dropped connection can; a wrong key cannot).
 */
export type ExitCode = 0 | 1 | 2 | 3;

export interface ErrorCodeInfo {
  /** CLI exit code: 1 operation failed, 2 bad usage or configuration, 3 damage found. */
  readonly exit: ExitCode;
  /** True when the same call may succeed later without any change by a person. */
  readonly retryable: boolean;
  /** One sentence a person can act on; the message adds the specifics. */
  readonly hint: string;
}

export const ERROR_CODES = {
  USAGE: { exit: 2, retryable: false, hint: 'Check the command line; run `civibackup --help` for the options.' },
  CONFIG: { exit: 2, retryable: false, hint: 'Fix the configuration named in the message and run again.' },
  DB_CONNECT: { exit: 2, retryable: true, hint: 'Check host, port, user and password of the database DSN, and that the server is running.' },
  DB_PRIVILEGE: { exit: 2, retryable: false, hint: 'Grant the database user the privileges named in the message (SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES; for restore also CREATE, DROP, ALTER, INSERT, CREATE ROUTINE).' },
  DB_LOST: { exit: 1, retryable: true, hint: 'The database connection was lost during the run; check the server log, then run again. No complete set was written.' },
  DB_QUERY: { exit: 1, retryable: false, hint: 'The database rejected a statement; the message names it. No complete set was written.' },
  DISK_FULL: { exit: 1, retryable: false, hint: 'The destination has no space left; free space or choose another destination. Earlier sets are untouched.' },
  IO: { exit: 1, retryable: false, hint: 'A file could not be read or written; check the path and its permissions.' },
  DIR_MISSING: { exit: 2, retryable: false, hint: 'A directory to back up does not exist or cannot be read; fix the path (Administer » System Settings » Directories) or mark it optional.' },
  SET_INCOMPLETE: { exit: 3, retryable: false, hint: 'This set has no manifest: it was never finished. Use another set.' },
  SET_DAMAGED: { exit: 3, retryable: false, hint: 'The set is damaged (a part is missing, truncated or altered). Use another set or an offsite copy.' },
  WRONG_KEY: { exit: 2, retryable: false, hint: 'The identity or passphrase does not open this set; use the secret key that matches one of the recipients listed in its manifest.' },
  TARGET_NOT_EMPTY: { exit: 2, retryable: false, hint: 'The restore target is not empty; restore into an empty database or directory, or pass --force to replace it.' },
  HOSTILE_ARCHIVE: { exit: 3, retryable: false, hint: 'The archive holds a path that would escape the target directory; it was refused and nothing was written outside the target.' },
  VERIFY_MISMATCH: { exit: 3, retryable: false, hint: 'The test restore differs from what was backed up; the message names the table. Do not rely on this set.' },
  LOCKED: { exit: 1, retryable: true, hint: 'Another CiviBackup run is using this destination; wait for it to finish.' },
  CANCELLED: { exit: 1, retryable: true, hint: 'The run was cancelled; no complete set was written and earlier sets are untouched.' },
  DESTINATION: { exit: 1, retryable: true, hint: 'The offsite destination could not be reached or refused the request; check its address and credentials.' },
  NODE_VERSION: { exit: 2, retryable: false, hint: 'CiviBackup needs Node.js 20 or newer; install it and set its path in the Backups settings.' },
  INTERNAL: { exit: 1, retryable: false, hint: 'An unexpected error; please report it with the log.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

export function exitCodeFor(code: ErrorCode): ExitCode {
  return ERROR_CODES[code].exit;
}
