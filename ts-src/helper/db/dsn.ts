/**
 * Database DSNs as CiviCRM writes them (PEAR DB syntax) and where the helper finds them.
 *
 *   mysql://user:pass@host:port/db?new_link=true
 *   mysqli://user:pass@host/db
 *   mysql://user:pass@unix(/run/mysqld/mysqld.sock)/db
 *
 * User and password are URL-encoded (CiviCRM's installer encodes them). Query options are
 * ignored (new_link is a PHP concern) except CiviCRM's TLS options (CRM_Utils_SQL::isSSLDSN,
 * PEAR DB's mysqli driver): `ssl`, `ca`, `capath`, `cert`, `key`, `cipher` turn TLS on, and
 * `verify_server_cert=0` turns the server certificate check off:
 *
 *   mysql://user:pass@db.example.org/civicrm?new_link=true&ca=%2Fetc%2Fssl%2Fdb-ca.pem
 *
 * tls.ts turns them into mysql2's `ssl` option (reading the files); dsn-sources.ts finds the
 * DSN (--db, the environment, a settings file). This module depends on neither.
 */
import { BackupError } from '../core/errors.js';

export interface Dsn {
  user: string;
  password: string;
  /** TCP host; absent when a unix socket is used. */
  host?: string;
  port?: number;
  socketPath?: string;
  database: string;
  /** Query options we do not act on (reported once as a warning when they matter). */
  ignoredOptions: string[];
  /** TLS as CiviCRM's own connection uses it; absent: no TLS. */
  tls?: DsnTls;
  /** verify_server_cert given without any option that turns TLS on (CiviCRM ignores it too). */
  verifyWithoutTls?: boolean;
}

/** CiviCRM's TLS options of a DSN: file paths, never file contents. */
export interface DsnTls {
  /** The options that turned TLS on, in DSN order (for messages). */
  enabledBy: string[];
  ca?: string;
  capath?: string;
  cert?: string;
  key?: string;
  cipher?: string;
  /** False only when verify_server_cert=0 (or false, no, off) was given. */
  verifyServerCert: boolean;
  /** The value of ssl= when it says "off" (0, false, ...): CiviCRM uses TLS anyway. */
  sslOff?: string;
}

/** Any of these present (even empty) means TLS, as CRM_Utils_SQL::isSSLDSN decides. */
const TLS_SWITCHES = ['ssl', 'ca', 'capath', 'cert', 'key', 'cipher'] as const;
const TLS_OPTIONS = new Set<string>([...TLS_SWITCHES, 'verify_server_cert']);
/** Option names that look like TLS settings but are not CiviCRM's (ssl_ca, sslmode, useSSL, tls...). */
const TLS_LOOKALIKE = /ssl|tls/i;
const FALSE_WORDS = /^(0|false|no|off)$/i;
const TRUE_WORDS = /^(1|true|yes|on)$/i;

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch (error) {
    throw new BackupError('CONFIG', `The DSN's ${what} has a malformed %-escape; URL-encode it (e.g. %40 for @).`, { cause: error });
  }
}

/** Parses a PEAR-style DSN. Throws CONFIG with a message that never contains the password. */
export function parseDsn(text: string): Dsn {
  const trimmed = text.trim();
  const scheme = /^(mysqli?|mariadb):\/\//i.exec(trimmed);
  if (!scheme) throw new BackupError('CONFIG', 'The DSN must start with mysql:// or mysqli:// (as CIVICRM_DSN does).');
  let rest = trimmed.slice(scheme[0].length);
  // As PEAR DB does (strrpos): the last '@' ends the user info, so an unencoded '@' in a
  // password still parses.
  const queryAt = rest.indexOf('?');
  const at = (queryAt >= 0 ? rest.slice(0, queryAt) : rest).lastIndexOf('@');
  let userInfo = '';
  if (at >= 0) {
    userInfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  const colon = userInfo.indexOf(':');
  const user = decode(colon >= 0 ? userInfo.slice(0, colon) : userInfo, 'user');
  const password = colon >= 0 ? decode(userInfo.slice(colon + 1), 'password') : '';

  let host: string | undefined;
  let port: number | undefined;
  let socketPath: string | undefined;
  const unix = /^unix\(([^)]*)\)/i.exec(rest);
  if (unix) {
    socketPath = unix[1];
    if (!socketPath) throw new BackupError('CONFIG', 'The DSN names a unix socket with an empty path: unix(/path/to/mysqld.sock).');
    rest = rest.slice(unix[0].length);
  } else {
    const hostEnd = rest.search(/[/?]/);
    const hostPart = hostEnd >= 0 ? rest.slice(0, hostEnd) : rest;
    rest = hostEnd >= 0 ? rest.slice(hostEnd) : '';
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPart);
    const plain = /^([^:]*)(?::(\d*))?$/.exec(hostPart);
    const m = bracketed ?? plain;
    if (!m) throw new BackupError('CONFIG', `The DSN host "${hostPart}" is not host or host:port.`);
    host = m[1] || 'localhost';
    if (m[2]) {
      port = Number(m[2]);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BackupError('CONFIG', `The DSN port "${m[2]}" is not a port number.`);
    }
  }
  if (!rest.startsWith('/')) throw new BackupError('CONFIG', 'The DSN has no database name: it must end in /DATABASE.');
  rest = rest.slice(1);
  const q = rest.indexOf('?');
  const database = decode(q >= 0 ? rest.slice(0, q) : rest, 'database name');
  if (!database) throw new BackupError('CONFIG', 'The DSN has no database name: it must end in /DATABASE.');
  if (!user) throw new BackupError('CONFIG', 'The DSN has no user name: mysql://USER:PASSWORD@host/database.');
  const { ignoredOptions, tls, verifyWithoutTls } = parseOptions(q >= 0 ? rest.slice(q + 1) : '');
  return { user, password, host, port, socketPath, database, ignoredOptions, ...(tls ? { tls } : {}), ...(verifyWithoutTls ? { verifyWithoutTls } : {}) };
}

/** The query options: CiviCRM's TLS options, and the names of the rest. As PEAR DB, the first of a repeated option counts. */
function parseOptions(text: string): { ignoredOptions: string[]; tls?: DsnTls; verifyWithoutTls?: boolean } {
  const ignoredOptions: string[] = [];
  const values = new Map<string, string>();
  const enabledBy: string[] = [];
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decode(eq >= 0 ? pair.slice(0, eq) : pair, 'option name');
    if (!TLS_OPTIONS.has(name)) {
      ignoredOptions.push(name);
      continue;
    }
    if (values.has(name)) continue;
    values.set(name, decode(eq >= 0 ? pair.slice(eq + 1) : '', `option ${name}`));
    if (eq >= 0 && (TLS_SWITCHES as readonly string[]).includes(name)) enabledBy.push(name);
  }
  const verifyText = values.get('verify_server_cert');
  let verifyServerCert = true;
  if (verifyText !== undefined) {
    if (FALSE_WORDS.test(verifyText)) verifyServerCert = false;
    else if (!TRUE_WORDS.test(verifyText)) {
      throw new BackupError('CONFIG', `The DSN option verify_server_cert must be 1 or 0 (true or false), not "${verifyText}".`);
    }
  }
  if (enabledBy.length === 0) return { ignoredOptions, ...(verifyText !== undefined ? { verifyWithoutTls: true } : {}) };
  const path = (name: 'ca' | 'capath' | 'cert' | 'key' | 'cipher'): { [k: string]: string } => {
    const value = values.get(name);
    return value ? { [name]: value } : {};
  };
  const ssl = values.get('ssl');
  const tls: DsnTls = {
    enabledBy,
    ...path('ca'),
    ...path('capath'),
    ...path('cert'),
    ...path('key'),
    ...path('cipher'),
    verifyServerCert,
    ...(ssl !== undefined && FALSE_WORDS.test(ssl) ? { sslOff: ssl } : {}),
  };
  return { ignoredOptions, tls };
}

/** Options that look like TLS settings but that neither CiviCRM nor the helper act on (ssl_ca, sslmode...). */
export function unsupportedOptions(dsn: Dsn): string[] {
  return dsn.ignoredOptions.filter((o) => TLS_LOOKALIKE.test(o));
}

/**
 * Warnings about a DSN's TLS options: what is not honoured, and a connection whose server
 * certificate is not verified. `source` says where the DSN came from.
 */
export function tlsWarnings(dsn: Dsn, source: string): string[] {
  const warnings: string[] = [];
  const who = describeDsn(dsn);
  const lookalikes = unsupportedOptions(dsn);
  if (lookalikes.length > 0) {
    warnings.push(
      `DSN options ${lookalikes.join(', ')} (from ${source}) are not CiviCRM's TLS options and are ignored; CiviCRM and the helper read ssl=1, ca=, capath=, cert=, key=, cipher= and verify_server_cert=.`,
    );
  }
  if (dsn.verifyWithoutTls) {
    warnings.push(`DSN option verify_server_cert (from ${source}) is ignored: no ssl=1, ca=, capath=, cert=, key= or cipher= turns TLS on, so ${who} is reached without TLS (as CiviCRM does).`);
  }
  if (dsn.tls?.sslOff !== undefined) {
    warnings.push(`DSN option ssl=${dsn.tls.sslOff} (from ${source}) does not turn TLS off: CiviCRM uses TLS whenever ssl= is present, and so does the helper. Remove ssl= to connect without TLS.`);
  }
  if (dsn.tls && !dsn.tls.verifyServerCert) {
    warnings.push(`The server certificate of ${who} is not verified (verify_server_cert=0 in ${source}): the connection is encrypted, but a machine in between could pose as the server. Give ca= (the server's CA file) and remove verify_server_cert=0.`);
  }
  return warnings;
}

/** user@host/db for messages and the manifest: never the password. */
export function describeDsn(dsn: Dsn): string {
  const where = dsn.socketPath ? `unix(${dsn.socketPath})` : `${dsn.host ?? 'localhost'}${dsn.port ? `:${dsn.port}` : ''}`;
  return `${dsn.user}@${where}/${dsn.database}`;
}

export function dsnHostLabel(dsn: Dsn): string {
  return dsn.socketPath ? `unix(${dsn.socketPath})` : `${dsn.host ?? 'localhost'}${dsn.port ? `:${dsn.port}` : ''}`;
}
