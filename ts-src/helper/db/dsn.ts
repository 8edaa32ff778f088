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
 * tls.ts turns them into mysql2's `ssl` option (reading the files).
 */
import { readFile } from 'node:fs/promises';
import { ENV } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';
import { loadTlsOptions } from './tls.js';

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

/**
 * Reads `define('CIVICRM_DSN', '...')` (and CIVICRM_LOGGING_DSN) from civicrm.settings.php
 * without running PHP. Only a literal string counts; a computed value is a CONFIG error
 * naming the constant, so the user passes the DSN another way.
 */
export function extractDefine(php: string, name: string): string | undefined {
  // Skip commented-out defines: drop // and # line comments and /* */ blocks first,
  // taking care not to touch comment markers inside quoted strings.
  const code = stripPhpComments(php);
  const start = new RegExp(`\\bdefine\\s*\\(\\s*(['"])${name}\\1\\s*,\\s*`, 'g');
  let found: string | undefined;
  let match: RegExpExecArray | null;
  while ((match = start.exec(code)) !== null) {
    const after = code.slice(match.index + match[0].length);
    const literal = /^(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\$]|\\.)*)")\s*\)/s.exec(after);
    if (!literal) {
      throw new BackupError(
        'CONFIG',
        `${name} in the settings file is not a plain quoted string (it is computed by PHP); pass the DSN with the ${ENV.DSN} environment variable instead.`,
      );
    }
    found = literal[1] !== undefined ? unescapeSingleQuoted(literal[1]) : unescapeDoubleQuoted(literal[2]);
  }
  return found;
}

function unescapeSingleQuoted(s: string): string {
  return s.replace(/\\([\\'])/g, '$1');
}

function unescapeDoubleQuoted(s: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f', e: '\x1b', '\\': '\\', $: '$', '"': '"' };
  return s.replace(/\\([ntrvfe\\$"])/g, (_m, c: string) => simple[c]);
}

function stripPhpComments(php: string): string {
  let out = '';
  let i = 0;
  while (i < php.length) {
    const c = php[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < php.length && php[j] !== c) j += php[j] === '\\' ? 2 : 1;
      out += php.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && php[i + 1] === '*') {
      const end = php.indexOf('*/', i + 2);
      i = end < 0 ? php.length : end + 2;
      out += ' ';
    } else if ((c === '/' && php[i + 1] === '/') || c === '#') {
      const end = php.indexOf('\n', i);
      i = end < 0 ? php.length : end;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

export async function readSettingsDsns(settingsFile: string): Promise<{ dsn?: string; loggingDsn?: string }> {
  let php: string;
  try {
    php = await readFile(settingsFile, 'utf8');
  } catch (error) {
    throw new BackupError('CONFIG', `Cannot read the settings file ${settingsFile}: ${(error as Error).message}`, { cause: error });
  }
  return { dsn: extractDefine(php, 'CIVICRM_DSN'), loggingDsn: extractDefine(php, 'CIVICRM_LOGGING_DSN') };
}

export interface DsnSources {
  /** --db (a password here is visible in the process list). */
  flag?: string;
  env: NodeJS.ProcessEnv;
  /** Name of the environment variable to read (job's dsnEnv, else CIVIBACKUP_DSN). */
  envName?: string;
  settingsFile?: string;
  /** Which constant of the settings file: main or logging DSN. */
  role: 'main' | 'logging';
}

export interface ResolvedDsn {
  dsn: Dsn;
  /** Where it came from, for messages: "--db", "env CIVIBACKUP_DSN", "settings file". */
  source: string;
  warnings: string[];
}

/**
 * Resolution order: --db, then the environment variable (the job's dsnEnv or
 * CIVIBACKUP_DSN), then the settings file. Returns undefined when none is given.
 */
export async function resolveDsn(sources: DsnSources): Promise<ResolvedDsn | undefined> {
  const warnings: string[] = [];
  const defaultEnv = sources.role === 'main' ? ENV.DSN : ENV.LOGGING_DSN;
  let text: string | undefined;
  let source = '';
  if (sources.flag) {
    text = sources.flag;
    source = sources.role === 'main' ? '--db' : '--logging-db';
    if (parseDsn(text).password !== '') {
      warnings.push(`A password given on the command line (${source}) is visible to other users of this server; set ${defaultEnv} in the environment instead.`);
    }
  } else if (sources.env[sources.envName ?? defaultEnv]) {
    source = `environment variable ${sources.envName ?? defaultEnv}`;
    text = sources.env[sources.envName ?? defaultEnv];
  } else if (sources.settingsFile) {
    const found = await readSettingsDsns(sources.settingsFile);
    text = sources.role === 'main' ? found.dsn : found.loggingDsn;
    source = `${sources.role === 'main' ? 'CIVICRM_DSN' : 'CIVICRM_LOGGING_DSN'} in ${sources.settingsFile}`;
    if (text === undefined && sources.role === 'main') {
      throw new BackupError('CONFIG', `${sources.settingsFile} does not define CIVICRM_DSN.`);
    }
  }
  if (text === undefined) return undefined;
  const dsn = parseDsn(text);
  warnings.push(...tlsWarnings(dsn, source));
  // Unreadable or unusable TLS files fail now (CONFIG), before anything is written.
  if (dsn.tls) loadTlsOptions(dsn);
  return { dsn, source, warnings };
}
