/**
 * Directory archives through the built helper, as a sysadmin runs it: `backup --files` (with
 * age encryption), plain-tool extraction (`age -d | tar -xz`), `restore --files`, `verify`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../ts-src/protocol/manifest.js';
import { assertBundleBuilt, lastEvent, runHelper } from './support/helper-run.js';
import { createDatabase, dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';
import { diffSnapshots, scratchDir, snapshotTree } from './support/files-fixtures.js';

let scratch: { dir: string; cleanup: () => Promise<void> };
let database: string;
let source: string;
let destination: string;
let identityFile: string;
let recipient: string;
let setDir: string;

before(async () => {
  assertBundleBuilt();
  scratch = await scratchDir('cli');
  database = uniqueName('cbt_files');
  await createDatabase(database);
  mariadbCli('CREATE TABLE civicrm_note (id INT PRIMARY KEY, note TEXT); INSERT INTO civicrm_note VALUES (1, "x");', database);

  source = join(scratch.dir, 'custom');
  await mkdir(join(source, 'templates_c/en_US'), { recursive: true });
  await mkdir(join(source, 'attachments/2026'), { recursive: true });
  await mkdir(join(source, 'empty'));
  await writeFile(join(source, 'attachments/2026/résumé-😀.pdf'), 'a resume');
  await writeFile(join(source, 'attachments/notes.tmp'), 'scratch');
  await writeFile(join(source, 'civicrm.settings.php'), "<?php define('CIVICRM_DSN', 'mysql://civi:hunter2@localhost/civi');");
  await writeFile(join(source, 'templates_c/en_US/x.php'), 'compiled');
  await symlink('/etc/hostname', join(source, 'outside-link'));
  destination = join(scratch.dir, 'dest');

  identityFile = join(scratch.dir, 'key.txt');
  const keygen = spawnSync('age-keygen', ['-o', identityFile], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  recipient = /public key: (age1[0-9a-z]+)/i.exec(await readFile(identityFile, 'utf8'))?.[1] ?? '';
  assert.match(recipient, /^age1/);
});

after(async () => {
  dropDatabase(database);
  await scratch?.cleanup();
});

test('backup --files writes an encrypted archive per directory, with exclusions and warnings in the manifest', async () => {
  const run = runHelper([
    'backup', '--format', '1', '--to', destination, '--db', dsnText(database),
    '--files', `custom=${source}`,
    '--files', `extra?=${join(scratch.dir, 'not-there')}`,
    '--exclude', '*.tmp',
    '--recipient', recipient,
  ]);
  assert.equal(run.status, 0, run.stderr + run.stdout.slice(-2000));
  const result = lastEvent(run);
  assert.equal(result?.type, 'result');
  setDir = (result as { set: string }).set;
  const manifest = JSON.parse(await readFile(join(setDir, 'manifest.json'), 'utf8')) as Manifest;
  assert.deepEqual(manifest.files.map((f) => f.label), ['custom']);
  const record = manifest.files[0];
  assert.equal(record.archive, 'files/custom.tar.gz.age');
  assert.deepEqual(record.excluded.map((e) => e.path).sort(), ['attachments/notes.tmp', 'civicrm.settings.php', 'templates_c']);
  assert.ok(manifest.parts.some((p) => p.path === 'files/custom.tar.gz.age'));
  assert.ok(run.events.some((e) => e.type === 'progress' && e.phase === 'files' && e.item === 'custom'));
  assert.ok(run.events.some((e) => e.type === 'warning' && e.code === 'DIR_MISSING' && e.message.includes('not-there')));
  assert.ok(!(await readFile(join(setDir, record.archive))).includes('hunter2'));
});

test('plain tools read it: age -d | tar -xz', async () => {
  const out = join(scratch.dir, 'plain');
  await mkdir(out);
  const plain = spawnSync('sh', ['-c', 'age -d -i "$1" "$2" | tar -xzf - -C "$3"', 'sh', identityFile, join(setDir, 'files/custom.tar.gz.age'), out], { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  const expected = await snapshotTree(source, (rel) => rel === 'civicrm.settings.php' || rel === 'templates_c' || rel.endsWith('.tmp'));
  const problems = diffSnapshots(expected, await snapshotTree(out));
  assert.deepEqual(problems, []);
});

test('restore --files extracts into a new directory, refuses a non-empty one without --force', async () => {
  const target = join(scratch.dir, 'restored');
  const run = runHelper(['restore', setDir, '--files', `custom=${target}`, '--identity', identityFile]);
  assert.equal(run.status, 0, run.stderr + run.stdout.slice(-2000));
  const expected = await snapshotTree(source, (rel) => rel === 'civicrm.settings.php' || rel === 'templates_c' || rel.endsWith('.tmp'));
  assert.deepEqual(diffSnapshots(expected, await snapshotTree(target)), []);

  const again = runHelper(['restore', setDir, '--files', `custom=${target}`, '--identity', identityFile]);
  assert.equal(again.status, 2);
  const error = lastEvent(again);
  assert.equal(error?.type === 'error' && error.code, 'TARGET_NOT_EMPTY');

  const forced = runHelper(['restore', setDir, '--files', `custom=${target}`, '--identity', identityFile, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.deepEqual((await readdir(scratch.dir)).filter((n) => n.includes('civibackup-')), []);
});

test('verify lists the archive cleanly', () => {
  const run = runHelper(['verify', setDir, '--identity', identityFile]);
  assert.equal(run.status, 0, run.stderr + run.stdout.slice(-2000));
});
