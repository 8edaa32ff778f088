/**
 * docs/disaster-recovery.md, followed literally. The shell blocks marked ```sh dr-test=NAME
 * are extracted from the markdown (never retyped here) and run with bash, with the runbook's
 * variables set by the test:
 *   install  -> unpacks the release zip (built from this tree) into an empty TOOLS_DIR;
 *               only that helper bundle is used from then on
 *   (test)   -> a small database, a separate logging database and a directory are backed up by
 *               that helper with --recipient (key from its keygen) and copied by the job file's
 *               offsite destinations to an S3 server (s3rver) and an SFTP server (private sshd)
 *   fetch-s3 -> the AWS CLI downloads the set from S3 (skipped when `aws` is not installed)
 *   fetch-sftp -> ssh-keyscan, sftp and scp download it from the SFTP server; this copy is
 *               the one restored
 *   check    -> sha256sum against manifest.json, then `civibackup verify` with the key
 *   db, logdb, files -> age | zcat | mariadb into new databases, age | tar into a new directory
 * The restored databases must equal the sources by CHECKSUM TABLE and SHOW CREATE (tables,
 * triggers, function, view), the restored directory the source by content.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assertBundleBuilt, parseEvents } from './support/helper-run.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';
import { PROJECT_ROOT } from './support/paths.js';
import { startS3, startSshd, S3_BUCKET, type S3Server, type SshServer } from './destinations/servers.js';
import { buildReleaseZip, PACKAGE_VERSION } from './support/release-zip.js';

const RUNBOOK = join(PROJECT_ROOT, 'docs', 'disaster-recovery.md');
const SECRET_ENV = 'CBT_RUNBOOK_S3_SECRET';
const SFTP_KEY_ENV = 'CBT_RUNBOOK_SFTP_KEY';

/** The ```sh dr-test=NAME blocks of a markdown text, by name, in document order. */
export function runbookBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const fence = /^```sh dr-test=([a-z0-9-]+)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (const match of markdown.matchAll(fence)) {
    assert.ok(!blocks.has(match[1]!), `two dr-test=${match[1]} blocks in the runbook`);
    blocks.set(match[1]!, match[2]!);
  }
  return blocks;
}

const source = uniqueName('cbt_runbook_src');
const sourceLog = uniqueName('cbt_runbook_srclog');
const restored = uniqueName('cbt_runbook_new');
const restoredLog = uniqueName('cbt_runbook_newlog');
const hasAws = spawnSync('aws', ['--version'], { encoding: 'utf8' }).status === 0;

let work: string;
let s3: S3Server;
let ssh: SshServer;
let blocks: Map<string, string>;
let vars: Record<string, string>;
let sourceDir: string;
let localSets: string;

/** Runs a command without blocking the event loop (s3rver lives in this process). */
function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** The environment of the person following the runbook: their PATH and HOME (~/.my.cnf), the variables. */
function runbookEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: join(work, 'home'),
    LANG: 'C.UTF-8',
    ...vars,
    ...extra,
  };
}

async function runBlock(name: string, extra: Record<string, string> = {}): Promise<string> {
  const block = blocks.get(name);
  assert.ok(block, `docs/disaster-recovery.md has no \`\`\`sh dr-test=${name} block`);
  const run = await runAsync('bash', ['-e', '-u', '-o', 'pipefail', '-c', block], runbookEnv(extra));
  assert.equal(run.status, 0, `runbook block dr-test=${name} failed (exit ${run.status}):\n${block}\n--- stderr:\n${run.stderr}\n--- stdout:\n${run.stdout}`);
  return run.stdout;
}

function helperFromZip(args: string[], env: Record<string, string> = {}) {
  return runAsync(process.execPath, [join(vars.TOOLS_DIR!, 'civibackup', 'dist', 'civibackup.mjs'), ...args], runbookEnv(env));
}

function baseTables(database: string): string[] {
  return mariadbCli(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='${database}' AND TABLE_TYPE='BASE TABLE' ORDER BY 1;`)
    .trim()
    .split('\n')
    .filter((t) => t !== '');
}

/** CHECKSUM TABLE EXTENDED of every base table, database name removed. */
function checksums(database: string, skip: string[] = []): string {
  const tables = baseTables(database).filter((t) => !skip.includes(t));
  return mariadbCli(`CHECKSUM TABLE ${tables.map((t) => `\`${t}\``).join(', ')} EXTENDED;`, database).split(`${database}.`).join('');
}

const withoutDefiner = (text: string): string => text.replace(/\s+DEFINER=`[^`]*`@`[^`]*`/g, '');

/** SHOW CREATE of every table, trigger, function and view (DEFINER removed: the restorer owns them). */
function definitions(database: string): string {
  const out: string[] = [];
  for (const t of baseTables(database)) out.push(mariadbCli(`SHOW CREATE TABLE \`${t}\`;`, database));
  const triggers = mariadbCli(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='${database}' ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER;`).trim().split('\n').filter(Boolean);
  for (const t of triggers) {
    // Columns: name, sql_mode, statement, character_set_client, collation_connection, db collation, created.
    const row = mariadbCli(`SHOW CREATE TRIGGER \`${t}\`;`, database).split('\t').slice(0, 6).join('\t');
    out.push(row);
  }
  const routines = mariadbCli(`SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='${database}' AND ROUTINE_TYPE='FUNCTION' ORDER BY 1;`).trim().split('\n').filter(Boolean);
  for (const f of routines) out.push(mariadbCli(`SHOW CREATE FUNCTION \`${f}\`;`, database));
  const views = mariadbCli(`SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA='${database}' ORDER BY 1;`).trim().split('\n').filter(Boolean);
  for (const v of views) out.push(mariadbCli(`SHOW CREATE VIEW \`${v}\`;`, database));
  return withoutDefiner(out.join('\n')).split(`\`${database}\`.`).join('');
}

/** Every entry under a directory: type, content hash or link target. */
function tree(root: string, skip: string[] = []): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (skip.includes(path)) continue;
      const info = lstatSync(join(root, path));
      if (info.isSymbolicLink()) out.push(`link ${path} -> ${readlinkSync(join(root, path))}`);
      else if (info.isDirectory()) {
        out.push(`dir  ${path}`);
        walk(path);
      } else out.push(`file ${path} ${(info.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(join(root, path))).digest('hex')}`);
    }
  };
  walk('');
  return out;
}

before(async () => {
  assertBundleBuilt();
  blocks = runbookBlocks(readFileSync(RUNBOOK, 'utf8'));
  work = mkdtempSync(join(tmpdir(), 'cbt_runbook_'));
  const home = join(work, 'home');
  mkdirSync(home);
  // The runbook keeps the connection in ~/.my.cnf, so no password is on a command line.
  writeFileSync(join(home, '.my.cnf'), '[client]\nhost=127.0.0.1\nuser=root\n', { mode: 0o600 });
  s3 = await startS3();
  ssh = await startSshd();
  const release = join(work, 'release');
  mkdirSync(release);
  localSets = join(work, 'server', 'sets');

  vars = {
    TOOLS_DIR: join(work, 'new-machine', 'tools'),
    RELEASE_ZIP: buildReleaseZip(release),
    KEY_FILE: join(work, 'safe-place', 'key.txt'),
    SET_ID: '', // known after the backup
    SET_DIR: '',
    NEW_DB: restored,
    NEW_LOG_DB: restoredLog,
    BUCKET: S3_BUCKET,
    PREFIX: 'civibackup/site1',
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_DEFAULT_REGION: 'us-east-1',
    SFTP_HOST: '127.0.0.1',
    SFTP_PORT: String(ssh.port),
    SFTP_USER: 'root',
    SFTP_DIR: join(ssh.root, 'site1'),
    SSH_KEY: join(work, 'safe-place', 'civibackup_sftp'),
  };
  mkdirSync(dirname(vars.KEY_FILE!), { recursive: true });
  writeFileSync(vars.SSH_KEY!, ssh.privateKey, { mode: 0o600 });

  mariadbCli(`CREATE DATABASE \`${source}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; CREATE DATABASE \`${sourceLog}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
  mariadbCli(
    [
      'CREATE TABLE civicrm_contact (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, display_name VARCHAR(128), phone VARCHAR(32), phone_numeric VARCHAR(32), photo BLOB, balance DECIMAL(20,2), ratio DOUBLE, modified_date TIMESTAMP NULL) ENGINE=InnoDB;',
      'CREATE TABLE civicrm_email (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, contact_id INT UNSIGNED NOT NULL, email VARCHAR(254), CONSTRAINT FK_civicrm_email_contact_id FOREIGN KEY (contact_id) REFERENCES civicrm_contact (id) ON DELETE CASCADE) ENGINE=InnoDB;',
      'CREATE TABLE civicrm_cache (id INT PRIMARY KEY, data LONGTEXT) ENGINE=InnoDB;',
      'CREATE TABLE `odd name ü` (`select` INT, note TEXT) ENGINE=MyISAM;',
      'DELIMITER ;;',
      "CREATE FUNCTION civicrm_strip_non_numeric(input VARCHAR(255)) RETURNS VARCHAR(255) CHARSET utf8mb4 DETERMINISTIC NO SQL BEGIN DECLARE output VARCHAR(255) DEFAULT ''; DECLARE iterator INT DEFAULT 1; WHILE iterator < (LENGTH(input) + 1) DO IF SUBSTRING(input, iterator, 1) IN ('0','1','2','3','4','5','6','7','8','9') THEN SET output = CONCAT(output, SUBSTRING(input, iterator, 1)); END IF; SET iterator = iterator + 1; END WHILE; RETURN output; END;;",
      'CREATE TRIGGER civicrm_contact_before_insert BEFORE INSERT ON civicrm_contact FOR EACH ROW SET NEW.phone_numeric = civicrm_strip_non_numeric(NEW.phone);;',
      'CREATE TRIGGER civicrm_contact_before_update BEFORE UPDATE ON civicrm_contact FOR EACH ROW SET NEW.phone_numeric = civicrm_strip_non_numeric(NEW.phone);;',
      'DELIMITER ;',
      "INSERT INTO civicrm_contact (display_name, phone, photo, balance, ratio, modified_date) VALUES ('Zoë Ødegård', '+41 (0)44 123', 0x00FF10, 12345678901234.56, 0.1, '2026-03-29 01:30:00'), ('Ann \\'quoted\\' \\\\ back', NULL, '', -0.01, 1e300, NULL), ('emoji 🎉', '555-0100', NULL, NULL, NULL, '1999-12-31 23:59:59');",
      "INSERT INTO civicrm_email (contact_id, email) VALUES (1, 'zoe@example.org'), (3, 'party@example.org');",
      'DELETE FROM civicrm_contact WHERE id = 2;',
      "INSERT INTO civicrm_cache VALUES (1, 'rebuilt by CiviCRM');",
      "INSERT INTO `odd name ü` VALUES (1, 'MyISAM row'), (NULL, NULL);",
      'CREATE VIEW civicrm_contact_view AS SELECT c.id, c.display_name, e.email FROM civicrm_contact c LEFT JOIN civicrm_email e ON e.contact_id = c.id;',
    ].join('\n'),
    source,
  );
  mariadbCli(
    [
      'CREATE TABLE log_civicrm_contact (id INT UNSIGNED, display_name VARCHAR(128), log_date TIMESTAMP NULL, log_action ENUM(\'Initialization\',\'Insert\',\'Update\',\'Delete\')) ENGINE=ARCHIVE;',
      "INSERT INTO log_civicrm_contact VALUES (1, 'Zoë Ødegård', '2026-11-25 10:00:00', 'Insert'), (2, 'Ann', '2026-11-25 10:01:00', 'Delete');",
    ].join('\n'),
    sourceLog,
  );

  sourceDir = join(work, 'server', 'custom');
  mkdirSync(join(sourceDir, 'contact_photos', 'empty'), { recursive: true });
  writeFileSync(join(sourceDir, 'resume_Zoë_Ødegård.txt'), 'Curriculum vitae\n');
  writeFileSync(join(sourceDir, 'contact_photos', 'portrait.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>\n', { mode: 0o640 });
  writeFileSync(join(sourceDir, 'binary.bin'), Buffer.from([0, 1, 2, 255, 254, 10, 13]));
  symlinkSync('contact_photos/portrait.svg', join(sourceDir, 'latest-photo.svg'));
  writeFileSync(join(sourceDir, 'civicrm.settings.php'), "<?php define('CIVICRM_DSN', 'mysql://secret');\n");
});

after(async () => {
  for (const db of [source, sourceLog, restored, restoredLog]) dropDatabase(db);
  await s3?.stop();
  ssh?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('docs/disaster-recovery.md, followed literally', () => {
  test('the runbook marks its install, fetch, check, database, logging database and files commands', () => {
    // The v2-* blocks (a deduplicated set with plain tools) are run by plain-recipe-v2.test.ts.
    assert.deepEqual([...blocks.keys()].filter((name) => !name.startsWith('v2-')), ['install', 'fetch-s3', 'fetch-sftp', 'check', 'db', 'logdb', 'files']);
  });

  test('install: the helper comes from the release zip, unpacked into an empty folder', async () => {
    const out = await runBlock('install');
    const version = PACKAGE_VERSION;
    assert.match(out, new RegExp(`^v\\d+\\.`, 'm'));
    assert.match(out, new RegExp(`^${version.replace(/\./g, '\\.')}$`, 'm'));
    assert.ok(existsSync(join(vars.TOOLS_DIR!, 'civibackup', 'info.xml')));
  });

  test('the server made an encrypted set and copied it to S3 and SFTP (with the helper from the zip)', async () => {
    const keygen = await helperFromZip(['keygen', '--out', vars.KEY_FILE!]);
    assert.equal(keygen.status, 0, keygen.stderr);
    const recipient = keygen.stdout.trim().split('\n').at(-1)!;
    assert.match(recipient, /^age1[0-9a-z]{58}$/);
    const jobFile = join(work, 'server', 'job.json');
    writeFileSync(
      jobFile,
      JSON.stringify({
        version: 1,
        command: 'backup',
        to: localSets,
        loggingDatabase: { dsnEnv: 'CBT_RUNBOOK_LOG_DSN' },
        files: [{ label: 'custom', path: sourceDir }],
        encryption: { recipients: [recipient] },
        offsite: [
          { type: 's3', name: 'objects', endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: vars.PREFIX, forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: SECRET_ENV },
          { type: 'sftp', name: 'box', host: '127.0.0.1', port: ssh.port, username: 'root', path: vars.SFTP_DIR, privateKeyEnv: SFTP_KEY_ENV, hostKey: ssh.hostKeyFingerprint },
        ],
        trigger: 'cron',
      }),
    );
    // Format 1 (0.1.0's, still written by --format 1) on purpose: steps 3-6 of the runbook
    // fetch one set folder and restore its part files, which is that format. The runbook's
    // recipe for deduplicated sets is run by plain-recipe-v2.test.ts.
    const backup = await helperFromZip(['backup', '--format', '1', '--job', jobFile, '--json'], {
      CIVIBACKUP_DSN: dsnText(source),
      CBT_RUNBOOK_LOG_DSN: dsnText(sourceLog),
      [SECRET_ENV]: 'S3RVER',
      [SFTP_KEY_ENV]: ssh.privateKey,
    });
    const events = parseEvents(backup.stdout);
    const result = events.at(-1) as { type: string; set?: string; summary?: { offsite?: Array<{ uploaded: boolean }> } } | undefined;
    assert.equal(backup.status, 0, `backup failed: ${JSON.stringify(result)}\n${backup.stderr}`);
    assert.equal(result?.type, 'result');
    assert.deepEqual(result?.summary?.offsite?.map((o) => o.uploaded), [true, true]);
    vars.SET_ID = result!.set!.split('/').at(-1)!;
    vars.SET_DIR = join(work, 'new-machine', 'restore', vars.SET_ID);
    const manifest = JSON.parse(readFileSync(join(result!.set!, 'manifest.json'), 'utf8')) as { parts: Array<{ path: string }>; databases: Array<{ folder: string }> };
    assert.ok(manifest.parts.every((p) => p.path.endsWith('.age')), 'every part is encrypted');
    assert.deepEqual(manifest.databases.map((d) => d.folder), ['db', 'logdb']);
  });

  test('fetch-s3: the AWS CLI downloads the set from the S3 copy', { skip: !hasAws && 'the aws CLI is not installed' }, async () => {
    const into = `${vars.SET_DIR}-from-s3`;
    await runBlock('fetch-s3', { SET_DIR: into });
    assert.deepEqual(tree(into), tree(join(localSets, vars.SET_ID!), ['verification.json']));
    rmSync(into, { recursive: true, force: true });
  });

  test('fetch-sftp: ssh-keyscan, sftp and scp download the set from the SFTP copy', async () => {
    const out = await runBlock('fetch-sftp');
    // The fingerprint the person compares with the settings is the server's real one.
    assert.ok(out.includes(ssh.hostKeyFingerprint), `ssh-keygen -lf did not print ${ssh.hostKeyFingerprint}:\n${out}`);
    assert.match(out, new RegExp(vars.SET_ID!));
    assert.deepEqual(tree(vars.SET_DIR!), tree(join(localSets, vars.SET_ID!), ['verification.json']));
  });

  test('check: sha256sum against manifest.json and civibackup verify with the key', async () => {
    const out = await runBlock('check');
    assert.match(out, /parts intact/);
  });

  test('check fails on a damaged part', async () => {
    const damaged = `${vars.SET_DIR}-damaged`;
    cpSync(vars.SET_DIR!, damaged, { recursive: true });
    const part = join(damaged, 'db', readdirSync(join(damaged, 'db')).find((n) => n.startsWith('200-data-civicrm_contact'))!);
    const bytes = readFileSync(part);
    bytes[bytes.length - 20] ^= 0x01;
    writeFileSync(part, bytes);
    const run = await runAsync('bash', ['-e', '-u', '-o', 'pipefail', '-c', blocks.get('check')!], runbookEnv({ SET_DIR: damaged }));
    assert.notEqual(run.status, 0, 'the check block passed a set with a flipped byte');
    assert.match(run.stdout + run.stderr, /200-data-civicrm_contact\.sql\.gz\.age: FAILED/);
    rmSync(damaged, { recursive: true, force: true });
  });

  test('db: age | zcat | mariadb restores the database equal by CHECKSUM TABLE and SHOW CREATE', async () => {
    await runBlock('db');
    assert.equal(checksums(restored, ['civicrm_cache']), checksums(source, ['civicrm_cache']));
    assert.equal(definitions(restored), definitions(source));
    // Cache rows are not in a set; the table is.
    assert.equal(mariadbCli('SELECT COUNT(*) FROM civicrm_cache;', restored).trim(), '0');
    // The triggers work on the restored database (the function they call came back too).
    mariadbCli("INSERT INTO civicrm_contact (display_name, phone) VALUES ('after restore', '(01) 234-5');", restored);
    assert.equal(mariadbCli("SELECT phone_numeric FROM civicrm_contact WHERE display_name = 'after restore';", restored).trim(), '012345');
  });

  test('logdb: the separate logging database restores equal by CHECKSUM TABLE', async () => {
    await runBlock('logdb');
    assert.equal(checksums(restoredLog), checksums(sourceLog));
    assert.equal(definitions(restoredLog), definitions(sourceLog));
  });

  test('files: age | tar restores the directory equal by content, without the settings file', async () => {
    const target = join(work, 'new-machine', 'site', 'custom');
    await runBlock('files', { LABEL: 'custom', FILES_TARGET: target });
    assert.deepEqual(tree(target), tree(sourceDir, ['civicrm.settings.php']));
    assert.ok(!existsSync(join(target, 'civicrm.settings.php')));
  });
});
