/**
 * End to end through the built bundle: a small database and a directory backed up in format 1
 * (0.1.0's set of part files) with --recipient (and with --passphrase-file), copied offsite to
 * S3 (s3rver) and SFTP (a private sshd) by the job file, pruned by its retention policy; then
 * EVERY part is decrypted with Debian's `age` CLI and restored with plain `zcat | mariadb` and
 * `tar`. A wrong identity or passphrase gives WRONG_KEY (exit 2), a flipped byte SET_DAMAGED
 * (exit 3), and the target database is untouched either way. An offsite copy that fails, in
 * the default (deduplicated) format, leaves the local set complete and the other copy made.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { Manifest } from '../../ts-src/protocol/manifest.js';
import { S3Destination } from '../../ts-src/helper/destinations/s3.js';
import { SftpDestination } from '../../ts-src/helper/destinations/sftp.js';
import { listRemoteSets, verifyRemoteSet } from '../../ts-src/helper/destinations/remote-sets.js';
import { listRemoteV2Sets } from '../../ts-src/helper/destinations/remote-repository.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';
import { runHelperAsync } from './support/helper-run.js';
import { startS3, startSshd, S3_BUCKET, type S3Server, type SshServer } from './destinations/servers.js';

const civibackup = runHelperAsync;

const source = uniqueName('cbt_crypto_src');
const targets: string[] = [];
let work: string;
let s3: S3Server;
let ssh: SshServer;
const S3_SECRET_ENV = 'CBT_CRYPTO_S3_SECRET';
const SFTP_KEY_ENV = 'CBT_CRYPTO_SFTP_KEY';

function checksums(database: string): string {
  const tables = mariadbCli(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='${database}' AND TABLE_TYPE='BASE TABLE' ORDER BY 1;`).trim().split('\n');
  return mariadbCli(`CHECKSUM TABLE ${tables.map((t) => `\`${t}\``).join(', ')} EXTENDED;`, database).replace(new RegExp(database, 'g'), 'DB');
}

function databaseExists(name: string): boolean {
  return mariadbCli(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${name}';`).trim() === '1';
}

function target(label: string): string {
  const name = uniqueName(`cbt_crypto_${label}`);
  targets.push(name);
  return name;
}

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => statSync(join(dir, p)).isFile()).sort();
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cbt_crypto_e2e_'));
  mariadbCli(`CREATE DATABASE \`${source}\` CHARACTER SET utf8mb4;`);
  mariadbCli(
    `CREATE TABLE contact (id INT PRIMARY KEY, name VARCHAR(100), note TEXT, photo BLOB) ENGINE=InnoDB;
     INSERT INTO contact SELECT seq, CONCAT('Contact ', seq, ' ñ 😀'), REPEAT(MD5(seq), 20), UNHEX(MD5(seq)) FROM seq_1_to_3000;
     CREATE TABLE activity (id INT AUTO_INCREMENT PRIMARY KEY, contact_id INT, subject VARCHAR(255), at DATETIME(6)) ENGINE=InnoDB;
     INSERT INTO activity (contact_id, subject, at) SELECT seq % 3000 + 1, CONCAT('Call ', seq), '2026-01-01 10:00:00.123456' + INTERVAL seq MINUTE FROM seq_1_to_5000;`,
    source,
  );
  const custom = join(work, 'custom');
  mkdirSync(join(custom, 'sub'), { recursive: true });
  writeFileSync(join(custom, 'a.txt'), 'custom file A\n');
  writeFileSync(join(custom, 'sub', 'b.bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 0xff)));
  s3 = await startS3();
  ssh = await startSshd();
  const keygen = await civibackup(['keygen', '--out', join(work, 'key.txt')]);
  assert.equal(keygen.status, 0, keygen.output);
  await civibackup(['keygen', '--out', join(work, 'other-key.txt')]);
  writeFileSync(join(work, 'pass.txt'), 'a long test passphrase\n', { mode: 0o600 });
  writeFileSync(join(work, 'wrong-pass.txt'), 'not the passphrase\n', { mode: 0o600 });
});

after(async () => {
  dropDatabase(source);
  for (const name of targets) dropDatabase(name);
  await s3?.stop();
  ssh?.stop();
  rmSync(work, { recursive: true, force: true });
});

function recipientOf(keyFile: string): string {
  return /# public key: (age1[0-9a-z]+)/.exec(readFileSync(keyFile, 'utf8'))![1]!;
}

function writeJob(name: string, extra: Record<string, unknown>): string {
  const file = join(work, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      command: 'backup',
      to: join(work, `sets-${name}`),
      files: [{ label: 'custom', path: join(work, 'custom') }],
      offsite: [
        { type: 's3', name: 'objects', endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: name, forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: S3_SECRET_ENV },
        { type: 'sftp', name: 'box', host: '127.0.0.1', port: ssh.port, username: 'root', path: join(ssh.root, name), privateKeyEnv: SFTP_KEY_ENV, hostKey: ssh.hostKeyFingerprint },
      ],
      ...extra,
    }),
    { mode: 0o600 },
  );
  return file;
}

const secrets = (): NodeJS.ProcessEnv => ({ CIVIBACKUP_DSN: dsnText(source), [S3_SECRET_ENV]: 'S3RVER', [SFTP_KEY_ENV]: ssh.privateKey });

describe('recipient mode, offsite copies and retention', { timeout: 300_000 }, () => {
  let setDir: string;
  let manifest: Manifest;
  let rcptJob: string;

  test('two backups: every part .age, copies on S3 and SFTP, keep-last 1 applied locally and remotely', async () => {
    const keyFile = join(work, 'key.txt');
    const job = writeJob('rcpt', { encryption: { recipients: [recipientOf(keyFile)] }, retention: { keepLast: 1 } });
    rcptJob = job;
    const sets: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      // Format 1 (0.1.0's, still written by --format 1) on purpose: this block checks what that
      // format promises, every part its own age file that Debian's age and zcat | mariadb | tar
      // restore, copied and verified offsite part by part. The deduplicated format's
      // counterparts: plain-recipe-v2.test.ts and destinations/offsite-dedup.test.ts.
      const run = await civibackup(['backup', '--format', '1', '--job', job], secrets());
      assert.equal(run.status, 0, run.output);
      assert.equal(run.last.type, 'result');
      sets.push(String(run.last.set));
      const summary = run.last.summary as { offsite?: Array<{ name: string; uploaded: boolean }> };
      assert.deepEqual(summary.offsite?.map((o) => [o.name, o.uploaded]), [['objects', true], ['box', true]]);
      // No secret anywhere in the output: not the SFTP key, not the S3 secret variable's value.
      assert.doesNotMatch(run.output, /PRIVATE KEY|AGE-SECRET-KEY/);
    }
    setDir = sets[1]!;
    manifest = JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as Manifest;
    assert.ok(manifest.parts.length >= 4);
    for (const part of manifest.parts) assert.match(part.path, /\.age$/, `${part.path} is encrypted`);
    assert.deepEqual(manifest.encryption, { recipients: [recipientOf(keyFile)], passphrase: false });
    for (const file of filesUnder(setDir)) assert.ok(file.endsWith('.age') || file === 'manifest.json' || file === 'verification.json', `plaintext file ${file} in the set`);

    const local = readdirSync(dirname(setDir)).filter((n) => /^\d{8}T/.test(n)).sort();
    assert.deepEqual(local, sets.slice(1).map((s) => s.split('/').at(-1)).sort(), 'keep-last 1 locally');
    const objects = new S3Destination({ endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'rcpt', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    const box = new SftpDestination({ host: '127.0.0.1', port: ssh.port, username: 'root', path: join(ssh.root, 'rcpt'), privateKey: ssh.privateKey });
    try {
      for (const remote of [objects, box]) {
        const remoteSets = await listRemoteSets(remote);
        assert.deepEqual(remoteSets.map((s) => s.setId).sort(), local, `keep-last 1 on ${remote.location}`);
        const verified = await verifyRemoteSet(remote, manifest.setId);
        assert.equal(verified.parts, manifest.parts.length);
      }
    } finally {
      await objects.close();
      await box.close();
    }
  });

  test('verify --job --remote checks the offsite copies; a tampered remote part is exit 3', async () => {
    for (const remote of ['objects', 'box']) {
      const list = await civibackup(['list', '--job', rcptJob, '--remote', remote], secrets());
      assert.equal(list.status, 0, list.output);
      const listed = (list.last.summary as { sets: Array<{ setId: string; encrypted: boolean; location: string }> }).sets;
      assert.deepEqual(listed.map((x) => [x.setId, x.encrypted]), [[manifest.setId, true]]);
      assert.doesNotMatch(listed[0]!.location, /S3RVER|PRIVATE/);
      const run = await civibackup(['verify', 'latest', '--job', rcptJob, '--remote', remote], secrets());
      assert.equal(run.status, 0, run.output);
      assert.equal((run.last.summary as { setId: string }).setId, manifest.setId);
    }
    const objects = new S3Destination({ endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'rcpt', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    const part = manifest.parts[0]!;
    const original = readFileSync(join(setDir, part.path));
    try {
      const tampered = Buffer.from(original);
      tampered[tampered.length - 1] ^= 0x01;
      await objects.save(`${manifest.setId}/${part.path}`, () => Readable.from([tampered]));
      const run = await civibackup(['verify', manifest.setId, '--job', rcptJob, '--remote', 'objects'], secrets());
      assert.equal(run.status, 3, run.output);
      assert.equal(run.last.code, 'SET_DAMAGED');
      assert.match(String(run.last.message), new RegExp(part.path.replace(/[.]/g, '\\.')));
    } finally {
      await objects.save(`${manifest.setId}/${part.path}`, () => Readable.from([original]));
      await objects.close();
    }
  });

  test('Debian age decrypts every part; zcat | mariadb and tar restore the result', () => {
    const plain = join(work, 'plain-rcpt');
    for (const part of manifest.parts) {
      const out = join(plain, part.path.replace(/\.age$/, ''));
      mkdirSync(dirname(out), { recursive: true });
      const run = spawnSync('age', ['-d', '-i', join(work, 'key.txt'), '-o', out, join(setDir, part.path)], { encoding: 'utf8' });
      assert.equal(run.status, 0, `${part.path}: ${run.stderr}`);
    }
    const restored = target('plain');
    mariadbCli(`CREATE DATABASE \`${restored}\` CHARACTER SET utf8mb4;`);
    const load = spawnSync('sh', ['-c', 'cd "$1" && zcat db/*.sql.gz | mariadb -h 127.0.0.1 -u root "$2"', 'sh', plain, restored], { encoding: 'utf8' });
    assert.equal(load.status, 0, load.stderr);
    assert.equal(checksums(restored), checksums(source));
    const extracted = join(work, 'extracted');
    mkdirSync(extracted);
    const tar = spawnSync('tar', ['-xzf', join(plain, 'files', 'custom.tar.gz'), '-C', extracted], { encoding: 'utf8' });
    assert.equal(tar.status, 0, tar.stderr);
    const files = filesUnder(extracted);
    assert.ok(files.some((f) => f.endsWith('a.txt')) && files.some((f) => f.endsWith('b.bin')), files.join(', '));
    const bFile = files.find((f) => f.endsWith('b.bin'))!;
    assert.ok(readFileSync(join(extracted, bFile)).equals(readFileSync(join(work, 'custom', 'sub', 'b.bin'))));
  });

  test('restore and verify with the right identity work; the wrong identity is WRONG_KEY (exit 2), target untouched', async () => {
    const wrong = target('wrongkey');
    const restoreWrong = await civibackup(['restore', setDir, '--db', dsnText(wrong), '--identity', join(work, 'other-key.txt')]);
    assert.equal(restoreWrong.status, 2, restoreWrong.output);
    assert.equal(restoreWrong.last.code, 'WRONG_KEY');
    assert.equal(databaseExists(wrong), false, 'the target database was not created');
    const verifyWrong = await civibackup(['verify', setDir, '--identity', join(work, 'other-key.txt')]);
    assert.equal(verifyWrong.status, 2, verifyWrong.output);
    assert.equal(verifyWrong.last.code, 'WRONG_KEY');

    const good = target('good');
    const restore = await civibackup(['restore', setDir, '--db', dsnText(good), '--identity', join(work, 'key.txt')]);
    assert.equal(restore.status, 0, restore.output);
    assert.equal(checksums(good), checksums(source));
  });

  test('a flipped byte in an encrypted part: restore and verify exit 3 SET_DAMAGED, target untouched', async () => {
    const copy = join(work, 'damaged', manifest.setId);
    cpSync(setDir, copy, { recursive: true });
    const part = manifest.parts.find((p) => p.path.startsWith('db/') && p.bytes > 1000)!;
    const bytes = readFileSync(join(copy, part.path));
    bytes[Math.floor(bytes.length / 2)] ^= 0x10;
    writeFileSync(join(copy, part.path), bytes);
    const damagedTarget = target('flip');
    mariadbCli(`CREATE DATABASE \`${damagedTarget}\`;`);
    const restore = await civibackup(['restore', copy, '--db', dsnText(damagedTarget), '--identity', join(work, 'key.txt')]);
    assert.equal(restore.status, 3, restore.output);
    assert.equal(restore.last.code, 'SET_DAMAGED');
    assert.equal(mariadbCli(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='${damagedTarget}';`).trim(), '0', 'the target is still empty');
    const verify = await civibackup(['verify', copy, '--identity', join(work, 'key.txt')]);
    assert.equal(verify.status, 3, verify.output);
    assert.equal(verify.last.code, 'SET_DAMAGED');
  });
});

describe('passphrase mode', { timeout: 300_000 }, () => {
  test('age -d (passphrase on a pseudo-TTY) opens a part; wrong passphrase is WRONG_KEY; the right one restores', async () => {
    // Version 1 on purpose: plain `age -d` opens one part file of the set.
    const run = await civibackup(['backup', '--format', '1', '--to', join(work, 'sets-pass'), '--passphrase-file', join(work, 'pass.txt')], { CIVIBACKUP_DSN: dsnText(source) });
    assert.equal(run.status, 0, run.output);
    const setDir = String(run.last.set);
    const manifest = JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as Manifest;
    assert.deepEqual(manifest.encryption, { recipients: [], passphrase: true });
    assert.doesNotMatch(readFileSync(join(setDir, 'manifest.json'), 'utf8'), /a long test passphrase/);
    const part = manifest.parts.find((p) => p.path.includes('data-contact'))!;
    const out = join(work, 'pass-part.sql.gz');
    await ageWithPassphrase(['-d', '-o', out, join(setDir, part.path)], 'a long test passphrase');
    const sql = spawnSync('zcat', [out], { encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.match(sql.stdout, /INSERT INTO `contact`/);

    const wrong = target('wrongpass');
    const restoreWrong = await civibackup(['restore', setDir, '--db', dsnText(wrong), '--passphrase-file', join(work, 'wrong-pass.txt')]);
    assert.equal(restoreWrong.status, 2, restoreWrong.output);
    assert.equal(restoreWrong.last.code, 'WRONG_KEY');
    assert.equal(databaseExists(wrong), false);
    const good = target('pass');
    const restore = await civibackup(['restore', setDir, '--db', dsnText(good)], { CIVIBACKUP_PASSPHRASE: 'a long test passphrase' });
    assert.equal(restore.status, 0, restore.output);
    assert.equal(checksums(good), checksums(source));
  });
});

/** age reads passphrases only from a terminal: run it under `script` and answer the prompt when it appears. */
function ageWithPassphrase(args: string[], passphrase: string): Promise<void> {
  const command = ['age', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!answered && /passphrase/i.test(output)) {
        answered = true;
        child.stdin.write(`${passphrase}\n`);
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      if (code === 0) resolve();
      else reject(new Error(`age exited ${code}: ${output}`));
    });
  });
}

describe('an offsite copy that fails', { timeout: 300_000 }, () => {
  test('the local set stays complete, the other destination gets its copy, the run exits 1 DESTINATION', async () => {
    const job = writeJob('fail', {});
    const spec = JSON.parse(readFileSync(job, 'utf8')) as { offsite: Array<Record<string, unknown>> };
    spec.offsite[0]!.accessKeyId = 'UNKNOWN_KEY_ID'; // s3rver refuses unknown key ids: an auth failure, not retried
    delete spec.offsite[1]!.hostKey; // unpinned: works, with a warning naming the fingerprint to pin
    writeFileSync(job, JSON.stringify(spec));
    // The default format (deduplicated sets): what a failed copy does is the same for both.
    const run = await civibackup(['backup', '--job', job], secrets());
    assert.equal(run.status, 1, run.output);
    assert.equal(run.last.code, 'DESTINATION');
    assert.match(String(run.last.message), /is complete in .*offsite copy failed: objects:/);
    const pinWarning = run.events.find((e) => e.type === 'warning' && e.code === 'SFTP_HOST_KEY_NOT_PINNED');
    assert.ok(pinWarning && String(pinWarning.message).includes(ssh.hostKeyFingerprint), 'the unpinned host key is reported with its fingerprint');
    const local = await civibackup(['list', join(work, 'sets-fail')]);
    const listed = (local.last.summary as { sets: Array<{ setId: string; location: string }> }).sets;
    assert.equal(listed.length, 1, 'the local set is complete and listed');
    assert.equal(listed[0]!.location, join(work, 'sets-fail', 'sets', listed[0]!.setId), 'a deduplicated set');
    const box = new SftpDestination({ host: '127.0.0.1', port: ssh.port, username: 'root', path: join(ssh.root, 'fail'), privateKey: ssh.privateKey });
    try {
      const remote = await listRemoteV2Sets(box);
      assert.deepEqual(remote.map((s) => s.setId), [listed[0]!.setId]);
      assert.ok(remote[0]!.manifest, 'the SFTP copy is complete: its manifest is there');
    } finally {
      await box.close();
    }
  });
});
