/**
 * TLS end to end against a real server. The shared MariaDB on 127.0.0.1:3306 has no TLS and is
 * left alone: this file starts its own throwaway mariadbd (own datadir, socket and port,
 * require_secure_transport=ON, a CA and server certificate made here with openssl), and kills
 * it and removes its files afterwards.
 *
 * Backup, restore and deep verify with CiviCRM's DSN options (ca=, cert=, key=, ssl=1,
 * verify_server_cert=0); no TLS, a wrong CA and the default store refused with clear errors;
 * neither the password nor the client key in any output or in the set.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './destinations/servers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertBundleBuilt, runHelperAsync, type CliRun } from './support/helper-run.js';

function which(command: string): string | undefined {
  const run = spawnSync('sh', ['-c', `command -v ${command} || ls /usr/sbin/${command} /usr/libexec/${command} 2>/dev/null`], { encoding: 'utf8' });
  const path = run.stdout.split('\n')[0]?.trim();
  return path ? path : undefined;
}

const INSTALL_DB = which('mariadb-install-db');
const MARIADBD = which('mariadbd');
const OPENSSL = which('openssl');
const CLIENT = which('mariadb');
const SKIP =
  !INSTALL_DB || !MARIADBD || !OPENSSL || !CLIENT
    ? `needs ${[!INSTALL_DB && 'mariadb-install-db', !MARIADBD && 'mariadbd', !CLIENT && 'mariadb', !OPENSSL && 'openssl'].filter(Boolean).join(', ')} to start a private TLS-only MariaDB (apt-get install mariadb-server mariadb-client openssl)`
    : false;
if (SKIP) console.log(`# db-tls.test.ts skipped: ${SKIP}`);

const PASSWORD = 'Tls-Pa55-do-not-leak';
const X509_PASSWORD = 'X509-Pa55-do-not-leak';
const SOURCE = 'cbt_tls_source';
let dir = '';
let port = 0;
let server: ChildProcess | undefined;
let serverLog = '';
const pem = { ca: '', otherCa: '', clientCert: '', clientKey: '' };

function sh(command: string, args: string[], input?: string): string {
  const run = spawnSync(command, args, { cwd: dir, input, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${run.status}): ${run.stderr}${run.stdout}`);
  return run.stdout;
}

/** SQL as root over the private server's unix socket (no TLS needed there). */
function privateSql(sql: string, database?: string): string {
  return sh(CLIENT!, ['--no-defaults', '-S', join(dir, 'sock'), '-u', 'root', '--batch', '--skip-column-names', ...(database ? [database] : [])], sql);
}

function makeCertificates(): void {
  const ssl = (...args: string[]) => sh(OPENSSL!, args);
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=CiviBackup test CA');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other-ca-key.pem', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=Some other CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:db.cbt-test.invalid,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=localhost');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'server-cert.pem', '-days', '2', '-extfile', 'server.ext');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client-key.pem', '-out', 'client.csr', '-subj', '/CN=cbt_x509');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'client-cert.pem', '-days', '2');
  pem.ca = join(dir, 'ca.pem');
  pem.otherCa = join(dir, 'other-ca.pem');
  pem.clientCert = join(dir, 'client-cert.pem');
  pem.clientKey = join(dir, 'client-key.pem');
}

async function startServer(): Promise<void> {
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  // Its own tmpdir too: two of these servers bootstrapping at once in the shared /tmp (the other
  // Node pass beside this one) failed with "Could not remove temporary table '/tmp/#sql-temptable-...'".
  const serverTmp = join(dir, 'tmp');
  mkdirSync(serverTmp, { recursive: true });
  sh(INSTALL_DB!, ['--no-defaults', '--auth-root-authentication-method=normal', `--datadir=${join(dir, 'data')}`, `--tmpdir=${serverTmp}`, '--skip-test-db', ...asRoot]);
  port = await freePort();
  server = spawn(
    MARIADBD!,
    [
      '--no-defaults',
      `--datadir=${join(dir, 'data')}`,
      `--socket=${join(dir, 'sock')}`,
      `--pid-file=${join(dir, 'mariadbd.pid')}`,
      `--tmpdir=${serverTmp}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
      `--ssl-ca=${pem.ca}`,
      `--ssl-cert=${join(dir, 'server-cert.pem')}`,
      `--ssl-key=${join(dir, 'server-key.pem')}`,
      '--require-secure-transport=ON',
      ...asRoot,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString('utf8')));
  server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString('utf8')));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`the private mariadbd exited (${server.exitCode}): ${serverLog.slice(-2000)}`);
    const ping = spawnSync(CLIENT!, ['--no-defaults', '-S', join(dir, 'sock'), '-u', 'root', '-e', 'SELECT 1'], { encoding: 'utf8' });
    if (ping.status === 0) break;
    if (Date.now() > deadline) throw new Error(`the private mariadbd did not come up in 30 s: ${serverLog.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function dsn(database: string, options: string, user = 'cbt_tls', password = PASSWORD, host = '127.0.0.1'): string {
  return `mysql://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}${options ? `?${options}` : ''}`;
}

/** Every base64 line of the client key: none may appear anywhere. */
function keyLines(): string[] {
  return readFileSync(pem.clientKey, 'utf8')
    .split('\n')
    .filter((l) => l.length > 20 && !l.startsWith('-----'));
}

function assertNoSecrets(run: CliRun, label: string): void {
  for (const secret of [PASSWORD, X509_PASSWORD, ...keyLines()]) {
    assert.ok(!run.output.includes(secret), `${label}: the output holds a secret (${secret.slice(0, 8)}...)`);
  }
}

function setDirs(to: string): string[] {
  return existsSync(to) ? readdirSync(to).filter((n) => /^\d{8}T\d{6}Z-/.test(n)) : [];
}

function assertRefused(run: CliRun, label: string, pattern: RegExp): string {
  assert.equal(run.status, 2, `${label}: ${run.output.slice(-2000)}`);
  assert.equal(run.last.type, 'error', label);
  assert.equal(run.last.code, 'DB_CONNECT', `${label}: ${String(run.last.message)}`);
  assert.match(String(run.last.message), pattern, label);
  assertNoSecrets(run, label);
  return String(run.last.message);
}

before(async () => {
  if (SKIP) return;
  assertBundleBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cbt-tls-'));
  makeCertificates();
  await startServer();
  privateSql(`
    CREATE DATABASE ${SOURCE} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
    CREATE USER 'cbt_tls'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}' REQUIRE SSL;
    GRANT ALL ON *.* TO 'cbt_tls'@'127.0.0.1';
    CREATE USER 'cbt_x509'@'127.0.0.1' IDENTIFIED BY '${X509_PASSWORD}' REQUIRE X509;
    GRANT ALL ON *.* TO 'cbt_x509'@'127.0.0.1';
  `);
  privateSql(
    `
    CREATE TABLE civicrm_contact (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, display_name VARCHAR(128), note TEXT, KEY (display_name)) ENGINE=InnoDB;
    CREATE TABLE civicrm_email (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, contact_id INT UNSIGNED, email VARCHAR(254),
      CONSTRAINT fk_email_contact FOREIGN KEY (contact_id) REFERENCES civicrm_contact (id) ON DELETE CASCADE) ENGINE=InnoDB;
    INSERT INTO civicrm_contact (display_name, note) SELECT CONCAT('Contact ', seq), REPEAT('é', seq % 50) FROM seq_1_to_2000;
    INSERT INTO civicrm_email (contact_id, email) SELECT seq, CONCAT('c', seq, '@example.org') FROM seq_1_to_2000;
    CREATE VIEW civicrm_view_names AS SELECT id, display_name FROM civicrm_contact;
  `,
    SOURCE,
  );
});

/** Kills the private server (a throwaway: no clean shutdown needed) and waits until it is gone. */
async function stopServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
}
// Should the test process itself be stopped, the server goes with it.
process.once('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
});

after(async () => {
  await stopServer();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function checksum(database: string): string {
  return privateSql('CHECKSUM TABLE civicrm_contact, civicrm_email EXTENDED;', database).replace(new RegExp(`${database}\\.`, 'g'), '');
}

test('backup over TLS with ca=: the set restores and deep-verifies over TLS; no password or key anywhere', { skip: SKIP, timeout: 120_000 }, async () => {
  const to = join(dir, 'sets');
  const acceptsBefore = Number(privateSql("SHOW GLOBAL STATUS LIKE 'Ssl_accepts';").split('\t')[1]);
  const backup = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, `new_link=true&ca=${encodeURIComponent(pem.ca)}`) });
  assert.equal(backup.status, 0, backup.output.slice(-3000));
  assert.deepEqual(
    backup.events.filter((e) => e.type === 'warning' && e.code === 'DSN'),
    [],
    'a verified TLS connection needs no DSN warning',
  );
  assertNoSecrets(backup, 'backup');
  const [set] = setDirs(to);
  assert.ok(set, 'one set');
  const setDir = join(to, set);
  const manifestText = readFileSync(join(setDir, 'manifest.json'), 'utf8');
  for (const secret of [PASSWORD, ...keyLines()]) assert.ok(!manifestText.includes(secret), 'the manifest holds a secret');
  const acceptsAfter = Number(privateSql("SHOW GLOBAL STATUS LIKE 'Ssl_accepts';").split('\t')[1]);
  assert.ok(acceptsAfter > acceptsBefore, 'the server accepted TLS connections');

  const restore = await runHelperAsync(['restore', setDir], { CIVIBACKUP_DSN: dsn('cbt_tls_restored', `ca=${pem.ca}`) });
  assert.equal(restore.status, 0, restore.output.slice(-3000));
  assertNoSecrets(restore, 'restore');
  assert.equal(checksum('cbt_tls_restored'), checksum(SOURCE));
  assert.equal(privateSql('SELECT COUNT(*) FROM civicrm_view_names;', 'cbt_tls_restored').trim(), '2000');

  const deep = await runHelperAsync(['verify', setDir, '--deep'], { CIVIBACKUP_SCRATCH_DSN: dsn('', `ca=${pem.ca}`) });
  assert.equal(deep.status, 0, deep.output.slice(-3000));
  assert.equal((deep.last.summary as { state?: string } | undefined)?.state, 'restorable', JSON.stringify(deep.last));
  assertNoSecrets(deep, 'verify --deep');
});

test('without TLS options the TLS-only server refuses: DB_CONNECT that says to add ssl=1 or ca=', { skip: SKIP, timeout: 60_000 }, async () => {
  const to = join(dir, 'no-tls');
  const run = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, 'new_link=true') });
  assertRefused(run, 'no TLS options', /requires TLS.*ssl=1 \(or ca=/s);
  assert.deepEqual(setDirs(to), []);
});

test('a wrong CA, the default store for a private CA, or a host name the certificate does not name fail verification with a clear error', { skip: SKIP, timeout: 60_000 }, async () => {
  const to = join(dir, 'wrong-ca');
  const wrong = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, `ca=${pem.otherCa}`) });
  const message = assertRefused(wrong, 'wrong CA', /TLS certificate failed verification/);
  assert.match(message, new RegExp(`verified against ca=${pem.otherCa}`));
  const system = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, 'ssl=1') });
  assertRefused(system, 'ssl=1, default store', /TLS certificate failed verification .*the default CA store/s);
  // The right CA, but the DSN's host name is not one the certificate names.
  const name = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, `ca=${pem.ca}`, 'cbt_tls', PASSWORD, 'localhost') });
  assertRefused(name, 'host name not in the certificate', /TLS certificate failed verification \(Hostname\/IP does not match certificate's altnames: Host: localhost/);
  assert.deepEqual(setDirs(to), []);
});

test('ssl=1&verify_server_cert=0 connects encrypted and warns that the server certificate is not verified', { skip: SKIP, timeout: 60_000 }, async () => {
  const to = join(dir, 'unverified');
  const run = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, 'ssl=1&verify_server_cert=0') });
  assert.equal(run.status, 0, run.output.slice(-3000));
  const warnings = run.events.filter((e) => e.type === 'warning' && e.code === 'DSN').map((e) => String(e.message));
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /server certificate of cbt_tls@127\.0\.0\.1:\d+\/cbt_tls_source is not verified/);
  assertNoSecrets(run, 'unverified');
  const manifest = readFileSync(join(to, setDirs(to)[0], 'manifest.json'), 'utf8');
  assert.match(manifest, /not verified/, 'the warning is recorded in the manifest');
  assert.ok(!manifest.includes(PASSWORD));
});

test('a client certificate (REQUIRE X509) with cert= and key=; without them the login is refused', { skip: SKIP, timeout: 60_000 }, async () => {
  const to = join(dir, 'x509');
  const refused = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, `ca=${pem.ca}`, 'cbt_x509', X509_PASSWORD) });
  assertRefused(refused, 'no client certificate', /refused the login of cbt_x509.*requires a client certificate .*add cert= and key=/s);
  const run = await runHelperAsync(['backup', '--format', '1', '--to', to], {
    CIVIBACKUP_DSN: dsn(SOURCE, `ca=${pem.ca}&cert=${pem.clientCert}&key=${pem.clientKey}`, 'cbt_x509', X509_PASSWORD),
  });
  assert.equal(run.status, 0, run.output.slice(-3000));
  assertNoSecrets(run, 'x509');
  const [set] = setDirs(to);
  for (const name of readdirSync(join(to, set))) {
    if (!name.endsWith('.json')) continue;
    const text = readFileSync(join(to, set, name), 'utf8');
    for (const secret of [X509_PASSWORD, ...keyLines()]) assert.ok(!text.includes(secret), `${name} holds a secret`);
  }
});

test('an unreadable ca= file is a CONFIG error before anything is written', { skip: SKIP, timeout: 60_000 }, async () => {
  const to = join(dir, 'bad-file');
  mkdirSync(to);
  const missing = join(dir, 'no-such-ca.pem');
  const run = await runHelperAsync(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsn(SOURCE, `ca=${missing}`) });
  assert.equal(run.status, 2, run.output.slice(-2000));
  assert.equal(run.last.code, 'CONFIG');
  assert.match(String(run.last.message), new RegExp(`option ca= names ${missing}, which cannot be read: no such file`));
  assertNoSecrets(run, 'bad file');
  assert.deepEqual(setDirs(to), []);
});
