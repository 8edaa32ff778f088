/**
 * mysql2's `ssl` option from CiviCRM's TLS options of a DSN (dsn.ts):
 *
 *   ca=FILE      trusted CA certificates (PEM) instead of the default store
 *   capath=DIR   every PEM certificate in that directory, trusted as a CA (with ca= too)
 *   cert=FILE    client certificate (PEM), with key=FILE its private key
 *   cipher=LIST  OpenSSL cipher list -> ciphers
 *   ssl=1        TLS with the default store when no ca/capath is given
 *   verify_server_cert=0  encrypted, server certificate not checked (warned in dsn.ts)
 *
 * Verification (on unless verify_server_cert=0) checks the chain, and the host name when the
 * DSN's host is a name (see verifyIdentity).
 *
 * Files are read synchronously once per Dsn (they are small, and connections are few). A
 * file that cannot be read, or material OpenSSL refuses, is a CONFIG error naming the option
 * and the path; no message ever carries a file's content.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { BackupError } from '../core/errors.js';
import type { Dsn, DsnTls } from './dsn.js';

/** The part of mysql2's SslOptions we set. */
export interface TlsConnectionOptions {
  ca?: string[];
  cert?: string;
  key?: string;
  ciphers?: string;
  rejectUnauthorized: boolean;
  /**
   * Also check that the certificate names the host. Only for a host name: for an IP address
   * mysql2 sets no TLS server name and Node then checks the certificate against "localhost",
   * so there (and over a unix socket) the chain is verified, not the name.
   */
  verifyIdentity: boolean;
}

const cache = new WeakMap<Dsn, TlsConnectionOptions>();
const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const HAS_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;

function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file or directory';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied (the helper runs as the user of the web server or cron)';
  if (e.code === 'EISDIR') return 'it is a directory, not a file';
  if (e.code === 'ENOTDIR') return 'it is not a directory';
  return e.code ?? 'unreadable';
}

function readOption(option: 'ca' | 'cert' | 'key', path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new BackupError('CONFIG', `The DSN option ${option}= names ${path}, which cannot be read: ${reason(error)}.`, { cause: error });
  }
}

/** The PEM certificates in a CA directory (OpenSSL's c_rehash links and plain .pem/.crt files alike). */
function readCaPath(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (error) {
    throw new BackupError('CONFIG', `The DSN option capath= names ${dir}, which cannot be read as a directory: ${reason(error)}.`, { cause: error });
  }
  const seen = new Set<string>();
  const certificates: string[] = [];
  for (const name of names) {
    const file = join(dir, name);
    let text: string;
    try {
      if (!statSync(file).isFile()) continue;
      text = readFileSync(file, 'utf8');
    } catch {
      // A dangling hash link or an unreadable extra file: the CAs that are readable count.
      continue;
    }
    for (const pem of text.match(CERTIFICATE) ?? []) {
      if (!seen.has(pem)) {
        seen.add(pem);
        certificates.push(`${pem}\n`);
      }
    }
  }
  if (certificates.length === 0) {
    throw new BackupError('CONFIG', `The DSN option capath= names ${dir}, which holds no readable PEM certificate.`);
  }
  return certificates;
}

/** Node's default trust store, plus the operating system's where Node can read it (22.15+). */
function defaultCas(): string[] | undefined {
  const get = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (typeof get !== 'function') return undefined;
  try {
    return [...new Set([...get('default'), ...get('system')])];
  } catch {
    return undefined;
  }
}

/** True when the certificate's names can be checked against the DSN's host: a host name over TCP. */
export function checksHostName(dsn: Dsn): boolean {
  return !dsn.socketPath && isIP(dsn.host ?? 'localhost') === 0;
}

function options(t: DsnTls, checkName: boolean): TlsConnectionOptions {
  if (t.key && !t.cert) throw new BackupError('CONFIG', `The DSN option key= (${t.key}) needs cert= too: the client certificate that goes with the key.`);
  if (t.cert && !t.key) throw new BackupError('CONFIG', `The DSN option cert= (${t.cert}) needs key= too: the private key of the client certificate.`);
  const ca = [...(t.ca ? [readOption('ca', t.ca)] : []), ...(t.capath ? readCaPath(t.capath) : [])];
  if (t.ca && !HAS_CERTIFICATE.test(ca[0])) throw new BackupError('CONFIG', `The DSN option ca= names ${t.ca}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
  const cert = t.cert ? readOption('cert', t.cert) : undefined;
  const key = t.key ? readOption('key', t.key) : undefined;
  const result: TlsConnectionOptions = {
    rejectUnauthorized: t.verifyServerCert,
    verifyIdentity: t.verifyServerCert && checkName,
  };
  if (ca.length > 0) result.ca = ca;
  else if (t.verifyServerCert) {
    const defaults = defaultCas();
    if (defaults) result.ca = defaults;
  }
  if (cert !== undefined) result.cert = cert;
  if (key !== undefined) result.key = key;
  if (t.cipher) result.ciphers = t.cipher;
  // Let OpenSSL judge the material now, so a bad file is a CONFIG error before the backup
  // starts rather than a handshake failure. Its messages name no content.
  try {
    tls.createSecureContext({ ca: result.ca, cert: result.cert, key: result.key, ciphers: result.ciphers });
  } catch (error) {
    const what = [t.ca && `ca=${t.ca}`, t.capath && `capath=${t.capath}`, t.cert && `cert=${t.cert}`, t.key && `key=${t.key}`, t.cipher && `cipher=${t.cipher}`].filter(Boolean).join(', ');
    const message = String((error as Error).message ?? error).replace(/-----BEGIN[\s\S]*$/, '');
    throw new BackupError('CONFIG', `The TLS options of the DSN (${what}) are not usable: ${message}. Check that each file is PEM and that key= is the key of cert=; cipher= takes an OpenSSL cipher list.`, { cause: error });
  }
  return result;
}

/**
 * mysql2's `ssl` option for a DSN, or undefined when the DSN asks for no TLS. Throws CONFIG
 * when a file is unreadable or unusable. Cached per DSN: every connection shares one object,
 * so mysql2 builds its secure context once.
 */
export function loadTlsOptions(dsn: Dsn): TlsConnectionOptions | undefined {
  if (!dsn.tls) return undefined;
  let result = cache.get(dsn);
  if (!result) {
    result = options(dsn.tls, checksHostName(dsn));
    cache.set(dsn, result);
  }
  return result;
}

/** What a message may say about a DSN's TLS settings: the options, never file contents. */
export function describeTls(dsn: Dsn): string {
  if (!dsn.tls) return 'without TLS';
  const t = dsn.tls;
  const parts = [t.ca && `ca=${t.ca}`, t.capath && `capath=${t.capath}`, t.cert && `cert=${t.cert}`].filter(Boolean);
  const trust = parts.length > 0 ? parts.join(', ') : 'the default CA store';
  if (!t.verifyServerCert) return 'with TLS (server certificate not verified)';
  return `with TLS (server certificate verified against ${trust}${checksHostName(dsn) ? `, for the name ${dsn.host ?? 'localhost'}` : ''})`;
}
