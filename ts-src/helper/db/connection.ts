/**
 * mysql2 connections for dumping: exact values (no type casting in the data path), utf8mb4,
 * UTC, one statement per query. Connection failures become DB_CONNECT errors that name
 * user@host and say what to do; the password never appears.
 */
import type { Connection, ConnectionOptions } from 'mysql2';
import { BackupError } from '../core/errors.js';
import { describeDsn, type Dsn } from './dsn.js';
import { describeTls, loadTlsOptions } from './tls.js';

export type DbConnection = Connection;

/**
 * mysql2, loaded on the first connection: the bundle keeps it in a chunk of its own, so a
 * command that opens no database (a files-only backup, list, keygen) never parses it.
 */
export async function loadMysql(): Promise<typeof import('mysql2')> {
  return (await import('mysql2')).default;
}

export function connectionOptions(dsn: Dsn): ConnectionOptions {
  const where = dsn.socketPath ? { socketPath: dsn.socketPath } : { host: dsn.host ?? 'localhost', port: dsn.port ?? 3306 };
  // CiviCRM's TLS options (ssl=1, ca=, cert=, key=, capath=, cipher=, verify_server_cert=).
  // The object is shared by every connection of this DSN (mysql2 reuses its secure context).
  const ssl = loadTlsOptions(dsn);
  return {
    ...where,
    ...(ssl ? { ssl } : {}),
    user: dsn.user,
    password: dsn.password,
    database: dsn.database,
    charset: 'UTF8MB4_GENERAL_CI',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    timezone: '+00:00',
    multipleStatements: false,
    connectTimeout: 20_000,
    // Metadata queries use mysql2's casting (strings); data queries pass typeCast: false
    // per query and get the server's bytes untouched.
  };
}

/** Runs one statement and returns its rows (objects, strings for numbers and dates). */
export function query<T = Record<string, unknown>>(connection: Connection, sql: string, values?: unknown[]): Promise<T[]> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, values }, (error, rows) => {
      if (error) reject(error);
      else resolve(rows as T[]);
    });
  });
}

/** Runs one statement and returns rows as arrays (for SHOW statements whose column names vary). */
export function queryArrays(connection: Connection, sql: string, values?: unknown[]): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, values, rowsAsArray: true }, (error, rows) => {
      if (error) reject(error);
      else resolve(rows as unknown[][]);
    });
  });
}

interface MysqlError {
  code?: string;
  errno?: number;
  message?: string;
}

/** Turns a failed connect into a message a person can act on. */
export function connectError(dsn: Dsn, error: unknown): BackupError {
  const e = (error ?? {}) as MysqlError;
  const who = describeDsn(dsn);
  const code = e.code ?? '';
  const account = `'${dsn.user}'@'${dsn.socketPath ? 'localhost' : (dsn.host ?? 'localhost')}'`;
  const message = e.message ?? String(error);
  // A TLS-only server or account refuses a login without TLS (or without a client
  // certificate) with the same "access denied" as a wrong password.
  const tlsReason = !dsn.tls
    ? ', or the account or server requires TLS (REQUIRE SSL, require_secure_transport=ON, most managed databases) and this connection has none'
    : !dsn.tls.cert
      ? ', or the account requires a client certificate (REQUIRE X509, ISSUER or SUBJECT)'
      : '';
  const tlsFix = !dsn.tls
    ? ' For TLS add ssl=1 (or ca=/path/to/ca.pem) to the DSN options, as in CiviCRM.'
    : !dsn.tls.cert
      ? ' For a client certificate add cert= and key= (PEM files) to the DSN options.'
      : '';
  switch (code) {
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      return new BackupError(
        'DB_CONNECT',
        `The database refused the login of ${who}: wrong user or password${tlsReason}. Use the DSN of CIVICRM_DSN (civicrm.settings.php), or check the account ${account} with an administrator.${tlsFix}`,
        { cause: error },
      );
    case 'ER_SECURE_TRANSPORT_REQUIRED':
      return new BackupError(
        'DB_CONNECT',
        `${who}: the server requires TLS (require_secure_transport=ON) and this connection has none. Add ssl=1 (or ca=/path/to/ca.pem) to the DSN options, as in CiviCRM.`,
        { cause: error },
      );
    case 'HANDSHAKE_NO_SSL_SUPPORT':
      return new BackupError(
        'DB_CONNECT',
        `${who}: the DSN asks for TLS (${dsn.tls?.enabledBy.map((o) => `${o}=`).join(', ') ?? 'ssl='}) but the server does not offer it. Enable TLS on the server, or remove the TLS options from the DSN when the server is on this machine or a trusted network.`,
        { cause: error },
      );
    case 'HANDSHAKE_SSL_ERROR': {
      if (/certificate|self[- ]signed|issuer|verify|Hostname\/IP|altnames/i.test(message)) {
        return new BackupError(
          'DB_CONNECT',
          `${who}: the server's TLS certificate failed verification (${message}); the helper connects ${describeTls(dsn)}. Give the CA that signed the server's certificate with ca= (or capath=), and use the host name the certificate names. verify_server_cert=0 skips the check, but then a machine in between could pose as the server.`,
          { cause: error },
        );
      }
      return new BackupError('DB_CONNECT', `${who}: the TLS handshake failed (${message}); the helper connects ${describeTls(dsn)}. Check cipher= and the server's TLS settings.`, { cause: error });
    }
    case 'ER_DBACCESS_DENIED_ERROR':
      return new BackupError('DB_PRIVILEGE', `${who}: the user may not use database "${dsn.database}". Run as an administrator: GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${dsn.database.replace(/`/g, '``')}\`.* TO ${account};`, { cause: error });
    case 'ER_BAD_DB_ERROR':
      return new BackupError('DB_CONNECT', `${who}: the database "${dsn.database}" does not exist on that server; check the database name in the DSN.`, { cause: error });
    case 'ECONNREFUSED':
      return new BackupError('DB_CONNECT', `${who}: connection refused. Is the database server running and listening ${dsn.socketPath ? `on the socket ${dsn.socketPath}` : `on port ${dsn.port ?? 3306}`}?`, { cause: error });
    case 'ENOENT':
      return new BackupError('DB_CONNECT', `${who}: the socket ${dsn.socketPath ?? ''} does not exist. Is the database server running? Check the socket path in the DSN.`, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BackupError('DB_CONNECT', `${who}: the host name "${dsn.host ?? ''}" cannot be resolved; check the host in the DSN.`, { cause: error });
    case 'ETIMEDOUT':
      return new BackupError('DB_CONNECT', `${who}: the connection timed out; check the host, port and any firewall.`, { cause: error });
    default:
      if (/insecure transport|secure transport/i.test(message)) {
        return new BackupError('DB_CONNECT', `${who}: the server requires TLS and this connection has none (${message}). Add ssl=1 (or ca=/path/to/ca.pem) to the DSN options, as in CiviCRM.`, { cause: error });
      }
      return new BackupError('DB_CONNECT', `Cannot connect as ${who}: ${message}`, { cause: error });
  }
}

/**
 * Opens a connection and sets the session up for exact reads: utf8mb4, UTC, long network
 * timeouts (a slow compressor pauses the reader; the server must wait, not abort).
 */
export async function openConnection(dsn: Dsn): Promise<Connection> {
  const mysql = await loadMysql();
  const connection = mysql.createConnection(connectionOptions(dsn));
  await new Promise<void>((resolve, reject) => {
    connection.connect((error) => (error ? reject(connectError(dsn, error)) : resolve()));
  });
  // A lost connection emits 'error' on the connection too; the failing query reports it.
  connection.on('error', () => undefined);
  await query(connection, 'SET NAMES utf8mb4');
  await query(connection, "SET SESSION time_zone = '+00:00'");
  await query(connection, 'SET SESSION net_write_timeout = 3600, net_read_timeout = 3600, wait_timeout = 86400');
  // No NO_BACKSLASH_ESCAPES or ANSI_QUOTES surprises in the metadata we read.
  await query(connection, "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'");
  return connection;
}

export function closeConnection(connection: Connection | undefined): Promise<void> {
  if (!connection) return Promise.resolve();
  return new Promise((resolve) => {
    connection.end(() => {
      connection.destroy();
      resolve();
    });
  });
}

export function connectionId(connection: Connection): number {
  return (connection as unknown as { threadId: number }).threadId;
}
