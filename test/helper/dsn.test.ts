import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectError, connectionOptions } from '../../ts-src/helper/db/connection.js';
import { describeDsn, parseDsn, tlsWarnings } from '../../ts-src/helper/db/dsn.js';
import { resolveDsn } from '../../ts-src/helper/db/dsn-sources.js';
import { extractDefine } from '../../ts-src/helper/db/settings-file.js';
import type { TlsConnectionOptions } from '../../ts-src/helper/db/tls.js';
import { BackupError } from '../../ts-src/helper/core/errors.js';

test('parses CiviCRM DSNs: host, port, query options ignored', () => {
  const dsn = parseDsn('mysql://civi:secret@db.example.org:3307/civicrm?new_link=true');
  assert.deepEqual(
    { user: dsn.user, password: dsn.password, host: dsn.host, port: dsn.port, database: dsn.database, socketPath: dsn.socketPath },
    { user: 'civi', password: 'secret', host: 'db.example.org', port: 3307, database: 'civicrm', socketPath: undefined },
  );
  assert.deepEqual(dsn.ignoredOptions, ['new_link']);
});

test('mysqli scheme and host without port', () => {
  const dsn = parseDsn('mysqli://u:p@localhost/db');
  assert.equal(dsn.host, 'localhost');
  assert.equal(dsn.port, undefined);
  assert.equal(dsn.database, 'db');
});

test('URL-encoded user and password, and an unencoded @ in the password (PEAR takes the last @)', () => {
  const dsn = parseDsn('mysql://us%40er:p%40ss%3Aw%2Fo%25rd@127.0.0.1/civi');
  assert.equal(dsn.user, 'us@er');
  assert.equal(dsn.password, 'p@ss:w/o%rd');
  assert.equal(parseDsn('mysql://u:a@b@h/d').password, 'a@b');
});

test('unix socket form', () => {
  const dsn = parseDsn('mysql://u:p@unix(/run/mysqld/mysqld.sock)/civicrm?new_link=true');
  assert.equal(dsn.socketPath, '/run/mysqld/mysqld.sock');
  assert.equal(dsn.host, undefined);
  assert.equal(dsn.database, 'civicrm');
  assert.equal(describeDsn(dsn), 'u@unix(/run/mysqld/mysqld.sock)/civicrm');
});

test('empty password and no password', () => {
  assert.equal(parseDsn('mysql://root@127.0.0.1/x').password, '');
  assert.equal(parseDsn('mysql://root:@127.0.0.1/x').password, '');
});

test('describeDsn never shows the password', () => {
  const text = describeDsn(parseDsn('mysql://civi:TopSecret@h:3306/db'));
  assert.equal(text, 'civi@h:3306/db');
  assert.ok(!text.includes('TopSecret'));
});

test('malformed DSNs are CONFIG errors that do not echo the password', () => {
  for (const bad of ['postgres://u:pw123@h/d', 'mysql://u:pw123@h', 'mysql://u:pw123@h/', 'mysql://:pw123@h/d', 'mysql://u:pw123@h:99999/d', 'mysql://u:%zz@h/d']) {
    assert.throws(
      () => parseDsn(bad),
      (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && !e.message.includes('pw123'),
      bad,
    );
  }
});

test('extracts CIVICRM_DSN from settings PHP without running it, both quote styles', () => {
  const php = `<?php
// define('CIVICRM_DSN', 'mysql://old:old@h/old');
/* define('CIVICRM_DSN', 'mysql://older:x@h/x'); */
# define( 'CIVICRM_DSN' , "mysql://hash:x@h/x" );
if (!defined('CIVICRM_DSN')) {
  define( 'CIVICRM_DSN' , 'mysql://civi:it\\'s@localhost:3306/civicrm?new_link=true' );
}
define("CIVICRM_LOGGING_DSN", "mysql://log:p\\$w@localhost/civilog?new_link=true");
`;
  assert.equal(extractDefine(php, 'CIVICRM_DSN'), "mysql://civi:it's@localhost:3306/civicrm?new_link=true");
  assert.equal(extractDefine(php, 'CIVICRM_LOGGING_DSN'), 'mysql://log:p$w@localhost/civilog?new_link=true');
  assert.equal(extractDefine(php, 'CIVICRM_UF_DSN'), undefined);
});

test('a computed CIVICRM_DSN is refused with a pointer to the environment variable', () => {
  const php = `<?php define('CIVICRM_DSN', 'mysql://' . getenv('DBUSER') . '@h/db');`;
  assert.throws(() => extractDefine(php, 'CIVICRM_DSN'), (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && /CIVIBACKUP_DSN/.test(e.message));
});

test('resolution order: --db, then environment, then settings file; argv password warns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cbt-dsn-'));
  try {
    const settings = join(dir, 'civicrm.settings.php');
    writeFileSync(settings, `<?php define('CIVICRM_DSN', 'mysql://fromfile:x@h/filedb?new_link=true&ssl_ca=/x');`);
    const env = { CIVIBACKUP_DSN: 'mysql://fromenv:y@h/envdb', OTHER: 'mysql://other@h/otherdb' };
    const flag = await resolveDsn({ flag: 'mysql://flag:z@h/flagdb', env, settingsFile: settings, role: 'main' });
    assert.equal(flag?.dsn.database, 'flagdb');
    assert.match(flag?.warnings.join('\n') ?? '', /visible to other users/);
    assert.equal((await resolveDsn({ env, settingsFile: settings, role: 'main' }))?.dsn.database, 'envdb');
    assert.equal((await resolveDsn({ env, envName: 'OTHER', settingsFile: settings, role: 'main' }))?.dsn.database, 'otherdb');
    const fromFile = await resolveDsn({ env: {}, settingsFile: settings, role: 'main' });
    assert.equal(fromFile?.dsn.database, 'filedb');
    assert.match(fromFile?.warnings.join('\n') ?? '', /ssl_ca/);
    assert.equal(await resolveDsn({ env: {}, settingsFile: settings, role: 'logging' }), undefined);
    assert.equal(await resolveDsn({ env: {}, role: 'main' }), undefined);
    const noPassword = await resolveDsn({ flag: 'mysql://root@h/db', env: {}, role: 'main' });
    assert.deepEqual(noPassword?.warnings, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- TLS: CiviCRM's DSN options (ssl, ca, capath, cert, key, cipher, verify_server_cert) ---

/** A CA, a server certificate it signed, a client certificate and key, and a second, unrelated CA. */
function makeTlsFiles(dir: string): { ca: string; otherCa: string; cert: string; key: string; otherKey: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cbt unit CA']);
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other-ca-key.pem', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=cbt other CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client-key.pem', '-out', 'client.csr', '-subj', '/CN=cbt client']);
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'client-cert.pem', '-days', '2']);
  return { ca: join(dir, 'ca.pem'), otherCa: join(dir, 'other-ca.pem'), cert: join(dir, 'client-cert.pem'), key: join(dir, 'client-key.pem'), otherKey: join(dir, 'other-ca-key.pem') };
}

/** Every base64 line of a PEM key: none may appear in a message. */
function keyLines(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 20 && !l.startsWith('-----'));
}

function configError(pattern: RegExp, secrets: string[] = []) {
  return (e: unknown) => {
    assert.ok(e instanceof BackupError, String(e));
    assert.equal(e.code, 'CONFIG', e.message);
    assert.match(e.message, pattern);
    for (const s of secrets) assert.ok(!e.message.includes(s), `the message leaks ${s.slice(0, 12)}...: ${e.message}`);
    return true;
  };
}

let tlsDir: string;
let files: ReturnType<typeof makeTlsFiles>;
before(() => {
  tlsDir = mkdtempSync(join(tmpdir(), 'cbt-dsn-tls-'));
  files = makeTlsFiles(tlsDir);
});
after(() => {
  if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
});

test('TLS options are parsed as CiviCRM writes them (URL-encoded paths); other options stay ignored', () => {
  const dsn = parseDsn(
    'mysql://civi:pw@db.example.org/civicrm?new_link=true&ca=%2Fetc%2Fmysql%2Fca.pem&cert=/etc/mysql/client-cert.pem&key=/etc/mysql/client-key.pem&capath=/etc/ssl/certs&cipher=ECDHE-RSA-AES256-GCM-SHA384&ca=/ignored/second.pem',
  );
  assert.deepEqual(dsn.tls, {
    enabledBy: ['ca', 'cert', 'key', 'capath', 'cipher'],
    ca: '/etc/mysql/ca.pem',
    cert: '/etc/mysql/client-cert.pem',
    key: '/etc/mysql/client-key.pem',
    capath: '/etc/ssl/certs',
    cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
    verifyServerCert: true,
  });
  assert.deepEqual(dsn.ignoredOptions, ['new_link']);
  assert.equal(parseDsn('mysql://u:p@h/db?new_link=true').tls, undefined);
  assert.equal(connectionOptions(parseDsn('mysql://u:p@h/db?new_link=true')).ssl, undefined);
});

test('ssl=1 without ca: TLS with the default CA store and the server certificate verified', () => {
  const dsn = parseDsn('mysql://u:p@db.example.org/db?ssl=1');
  assert.deepEqual(dsn.tls, { enabledBy: ['ssl'], verifyServerCert: true });
  const ssl = connectionOptions(dsn).ssl as TlsConnectionOptions;
  assert.equal(ssl.rejectUnauthorized, true);
  assert.equal(ssl.verifyIdentity, true);
  assert.equal(ssl.cert, undefined);
  assert.equal(ssl.key, undefined);
  assert.deepEqual(tlsWarnings(dsn, 'test'), []);
  assert.equal(connectionOptions(dsn).ssl, ssl, 'one ssl object per DSN, so mysql2 builds its secure context once');
  // mysql2 sends no server name for an IP address (Node would check "localhost"): chain only.
  for (const where of ['127.0.0.1:3306', '[::1]', 'unix(/run/mysqld/mysqld.sock)']) {
    const byAddress = connectionOptions(parseDsn(`mysql://u:p@${where}/db?ssl=1`)).ssl as TlsConnectionOptions;
    assert.equal(byAddress.rejectUnauthorized, true, where);
    assert.equal(byAddress.verifyIdentity, false, where);
  }
});

test('verify_server_cert=0 turns verification off, with a warning; other values are refused', () => {
  for (const off of ['0', 'false', 'FALSE', 'no', 'off']) {
    const dsn = parseDsn(`mysql://u:Secret9@h/db?ssl=1&verify_server_cert=${off}`);
    const ssl = connectionOptions(dsn).ssl as TlsConnectionOptions;
    assert.equal(ssl.rejectUnauthorized, false, off);
    assert.equal(ssl.verifyIdentity, false, off);
    const warnings = tlsWarnings(dsn, 'env X');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /server certificate of u@h\/db is not verified \(verify_server_cert=0 in env X\)/);
    assert.ok(!warnings[0].includes('Secret9'));
  }
  const on = connectionOptions(parseDsn('mysql://u:p@h/db?ssl=1&verify_server_cert=1')).ssl as TlsConnectionOptions;
  assert.equal(on.rejectUnauthorized, true);
  assert.throws(() => parseDsn('mysql://u:Secret9@h/db?ssl=1&verify_server_cert=maybe'), configError(/verify_server_cert must be 1 or 0/, ['Secret9']));
});

test('what is not honoured is warned about: look-alike options, verify_server_cert without TLS, ssl=0', () => {
  const lookalike = parseDsn('mysql://u:p@h/db?ssl_ca=/x&sslmode=require&new_link=true');
  assert.equal(lookalike.tls, undefined);
  assert.match(tlsWarnings(lookalike, 'S').join('\n'), /ssl_ca, sslmode \(from S\) are not CiviCRM's TLS options and are ignored/);
  const verifyOnly = parseDsn('mysql://u:p@h/db?verify_server_cert=1');
  assert.equal(verifyOnly.tls, undefined);
  assert.match(tlsWarnings(verifyOnly, 'S').join('\n'), /verify_server_cert \(from S\) is ignored: no ssl=1, ca=/);
  const sslZero = parseDsn('mysql://u:p@h/db?ssl=0');
  assert.deepEqual(sslZero.tls?.enabledBy, ['ssl'], 'CiviCRM uses TLS whenever ssl= is present');
  assert.match(tlsWarnings(sslZero, 'S').join('\n'), /ssl=0 \(from S\) does not turn TLS off/);
});

test('ca, cert and key are read from their files; cipher becomes ciphers', () => {
  const dsn = parseDsn(`mysql://u:p@h/db?ca=${encodeURIComponent(files.ca)}&cert=${files.cert}&key=${files.key}&cipher=ECDHE-RSA-AES128-GCM-SHA256`);
  const ssl = connectionOptions(dsn).ssl as TlsConnectionOptions;
  assert.deepEqual(ssl.ca, [readFileSync(files.ca, 'utf8')]);
  assert.equal(ssl.cert, readFileSync(files.cert, 'utf8'));
  assert.equal(ssl.key, readFileSync(files.key, 'utf8'));
  assert.equal(ssl.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256');
  assert.equal(ssl.rejectUnauthorized, true);
  assert.deepEqual(tlsWarnings(dsn, 'S'), []);
});

test('capath: every PEM certificate in the directory is a CA (with ca= too); other files are skipped', () => {
  const capath = join(tlsDir, 'capath');
  mkdirSync(capath);
  writeFileSync(join(capath, 'a.pem'), readFileSync(files.ca));
  writeFileSync(join(capath, 'b.crt'), readFileSync(files.otherCa));
  writeFileSync(join(capath, 'README'), 'not a certificate\n');
  symlinkSync('a.pem', join(capath, '0123abcd.0'));
  mkdirSync(join(capath, 'sub'));
  const ssl = connectionOptions(parseDsn(`mysql://u:p@h/db?capath=${capath}`)).ssl as TlsConnectionOptions;
  assert.equal(ssl.ca?.length, 2, 'the hash link repeats a.pem');
  const both = connectionOptions(parseDsn(`mysql://u:p@h/db?capath=${capath}&ca=${files.ca}`)).ssl as TlsConnectionOptions;
  assert.equal(both.ca?.length, 3);
  const empty = join(tlsDir, 'empty-capath');
  mkdirSync(empty);
  assert.throws(() => connectionOptions(parseDsn(`mysql://u:p@h/db?capath=${empty}`)), configError(new RegExp(`capath= names ${empty}, which holds no readable PEM certificate`)));
  assert.throws(() => connectionOptions(parseDsn(`mysql://u:p@h/db?capath=${join(tlsDir, 'nope')}`)), configError(/capath= names .*nope, which cannot be read as a directory: no such file/));
});

test('unreadable or unusable TLS files are CONFIG errors naming the option and path, never the key or password', () => {
  const secrets = [...keyLines(files.key), ...keyLines(files.otherKey), 'Secret9'];
  const base = 'mysql://u:Secret9@h/db?new_link=true';
  const missing = join(tlsDir, 'missing.pem');
  assert.throws(() => connectionOptions(parseDsn(`${base}&ca=${missing}`)), configError(new RegExp(`option ca= names ${missing}, which cannot be read: no such file`), secrets));
  assert.throws(() => connectionOptions(parseDsn(`${base}&cert=${files.cert}&key=${missing}`)), configError(new RegExp(`option key= names ${missing}, which cannot be read`), secrets));
  assert.throws(() => connectionOptions(parseDsn(`${base}&cert=${files.cert}&key=${tlsDir}`)), configError(/key= names .*, which cannot be read: it is a directory/, secrets));
  assert.throws(() => connectionOptions(parseDsn(`${base}&key=${files.key}`)), configError(/key= .* needs cert= too/, secrets));
  assert.throws(() => connectionOptions(parseDsn(`${base}&cert=${files.cert}`)), configError(/cert= .* needs key= too/, secrets));
  // A key that is not the certificate's, a key file that is no key, a CA file that is no certificate.
  assert.throws(() => connectionOptions(parseDsn(`${base}&cert=${files.cert}&key=${files.otherKey}`)), configError(/TLS options of the DSN \(cert=.*, key=.*\) are not usable/, secrets));
  const garbage = join(tlsDir, 'garbage-key.pem');
  writeFileSync(garbage, 'PRIVATE-MATERIAL-THAT-MUST-NOT-LEAK\n');
  assert.throws(() => connectionOptions(parseDsn(`${base}&cert=${files.cert}&key=${garbage}`)), configError(/are not usable/, [...secrets, 'PRIVATE-MATERIAL']));
  assert.throws(() => connectionOptions(parseDsn(`${base}&ca=${garbage}`)), configError(/ca= names .*, which holds no PEM certificate/, [...secrets, 'PRIVATE-MATERIAL']));
  assert.throws(() => connectionOptions(parseDsn(`${base}&ssl=1&cipher=NO-SUCH-CIPHER`)), configError(/cipher=NO-SUCH-CIPHER\) are not usable/, secrets));
});

test('resolveDsn checks the TLS files before anything runs and warns only about what is not honoured', async () => {
  const good = await resolveDsn({ env: { CIVIBACKUP_DSN: `mysql://u:Secret9@h/db?new_link=true&ca=${files.ca}&cert=${files.cert}&key=${files.key}` }, role: 'main' });
  assert.deepEqual(good?.warnings, []);
  assert.equal(good?.dsn.tls?.ca, files.ca);
  await assert.rejects(
    resolveDsn({ env: { CIVIBACKUP_LOGGING_DSN: `mysql://u:Secret9@h/log?ca=${join(tlsDir, 'gone.pem')}` }, envName: 'CIVIBACKUP_LOGGING_DSN', role: 'logging' }),
    configError(/option ca= names .*gone\.pem, which cannot be read/, ['Secret9']),
  );
  const unverified = await resolveDsn({ env: { CIVIBACKUP_DSN: 'mysql://u:Secret9@h/db?ssl=1&verify_server_cert=0' }, role: 'main' });
  assert.match(unverified?.warnings.join('\n') ?? '', /not verified \(verify_server_cert=0 in environment variable CIVIBACKUP_DSN\)/);
  assert.ok(!(unverified?.warnings.join('\n') ?? '').includes('Secret9'));
});

test('connect errors about TLS say what to do, without the password', () => {
  const plain = parseDsn('mysql://civi:Secret9@db.example.org/civicrm');
  const withTls = parseDsn(`mysql://civi:Secret9@db.example.org/civicrm?ca=${files.ca}`);
  const denied = connectError(plain, Object.assign(new Error("Access denied for user 'civi'@'x' (using password: YES)"), { code: 'ER_ACCESS_DENIED_ERROR' }));
  assert.equal(denied.code, 'DB_CONNECT');
  assert.match(denied.message, /requires TLS .* add ssl=1 \(or ca=/is);
  const deniedTls = connectError(withTls, Object.assign(new Error('denied'), { code: 'ER_ACCESS_DENIED_ERROR' }));
  assert.doesNotMatch(deniedTls.message, /requires TLS/);
  assert.match(deniedTls.message, /requires a client certificate .*add cert= and key=/s);
  const withCert = parseDsn(`mysql://civi:Secret9@db.example.org/civicrm?ca=${files.ca}&cert=${files.cert}&key=${files.key}`);
  assert.doesNotMatch(connectError(withCert, Object.assign(new Error('denied'), { code: 'ER_ACCESS_DENIED_ERROR' })).message, /TLS|certificate/);
  const required = connectError(plain, Object.assign(new Error('Connections using insecure transport are prohibited while --require_secure_transport=ON.'), { code: 'ER_SECURE_TRANSPORT_REQUIRED' }));
  assert.match(required.message, /server requires TLS/);
  const noTls = connectError(withTls, Object.assign(new Error('Server does not support secure connection'), { code: 'HANDSHAKE_NO_SSL_SUPPORT' }));
  assert.match(noTls.message, /asks for TLS \(ca=\) but the server does not offer it/);
  const badCert = connectError(withTls, Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'HANDSHAKE_SSL_ERROR' }));
  assert.equal(badCert.code, 'DB_CONNECT');
  assert.match(badCert.message, /TLS certificate failed verification \(self-signed certificate in certificate chain\); the helper connects with TLS \(server certificate verified against ca=/);
  for (const e of [denied, deniedTls, required, noTls, badCert]) assert.ok(!e.message.includes('Secret9'), e.message);
});
