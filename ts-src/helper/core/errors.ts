/**
 * The one error type the helper throws on purpose. Anything else reaching the top is mapped
 * here to a stable code, so every failure ends as an `error` event with a hint and the
 * right exit code.
 */
import { ERROR_CODES, type ErrorCode } from '../../protocol/errors.js';

export class BackupError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackupError';
    this.code = code;
  }
  get hint(): string {
    return ERROR_CODES[this.code].hint;
  }
  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

interface NodeLikeError {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  path?: unknown;
  sqlMessage?: unknown;
  fatal?: unknown;
}

/** MySQL/MariaDB client error codes that mean "who you are or what you may do". */
const ACCESS_ERRORS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_NOT_SUPPORTED_AUTH_MODE',
]);
const PRIVILEGE_ERRORS = new Set([
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_PROCACCESS_DENIED_ERROR',
]);
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ER_HOST_NOT_PRIVILEGED']);
const LOST_ERRORS = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

/** Maps any thrown value to a BackupError, keeping the original as `cause`. */
export function toBackupError(error: unknown): BackupError {
  if (error instanceof BackupError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as NodeLikeError;
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (error instanceof Error && error.name === 'AbortError') return new BackupError('CANCELLED', 'The run was cancelled.', { cause: error });
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BackupError('DISK_FULL', `No space left on the destination${typeof e.path === 'string' ? ` (${e.path})` : ''}.`, { cause: error });
  }
  if (ACCESS_ERRORS.has(code)) return new BackupError('DB_CONNECT', `The database refused the login: ${message}`, { cause: error });
  if (PRIVILEGE_ERRORS.has(code)) return new BackupError('DB_PRIVILEGE', `Missing database privilege: ${message}`, { cause: error });
  if (CONNECT_ERRORS.has(code)) return new BackupError('DB_CONNECT', `Cannot reach the database server: ${message}`, { cause: error });
  if (LOST_ERRORS.has(code) || e.fatal === true) {
    return new BackupError('DB_LOST', `The database connection was lost: ${message}`, { cause: error });
  }
  if (code.startsWith('ER_')) return new BackupError('DB_QUERY', `Database error ${code}: ${message}`, { cause: error });
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EROFS') {
    return new BackupError('IO', message, { cause: error });
  }
  return new BackupError('INTERNAL', message, { cause: error });
}
