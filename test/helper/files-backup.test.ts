/**
 * Backup-side behaviour of directory archives: exclusions (built-in and --exclude) proven with
 * GNU tar's own listing, the destination inside a backed-up path, files that grow, shrink or
 * vanish while they are read, special files, missing and optional directories, progress.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, truncateSync, unlinkSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../../ts-src/helper/core/errors.js';
import { archiveDirectories, restoreDirectory } from '../../ts-src/helper/files/index.js';
import { Exclusions } from '../../ts-src/helper/files/exclusions.js';
import { tarStream } from '../../ts-src/helper/files/tar-writer.js';
import { walkTree } from '../../ts-src/helper/files/walker.js';
import { writePart } from '../../ts-src/helper/set/part-writer.js';
import type { WarningEvent } from '../../ts-src/protocol/events.js';
import { manifestFor, newSet, run, scratchDir, silentReporter } from './support/files-fixtures.js';

const GZIP = { compression: 'gzip' as const, level: 6 };
let scratch: { dir: string; cleanup: () => Promise<void> };
let destination: string;

before(async () => {
  scratch = await scratchDir('backup');
  destination = join(scratch.dir, 'dest');
  await mkdir(destination);
});

after(async () => {
  await scratch?.cleanup();
});

async function tarList(archive: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', archive]);
  return stdout.split('\n').filter(Boolean);
}

async function tarExtractAll(archive: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  await run('tar', ['-xzf', archive, '-C', into]);
}

function warnings(reporter: ReturnType<typeof silentReporter>): WarningEvent[] {
  return reporter.events.filter((e): e is WarningEvent => e.type === 'warning');
}

test('settings files, templates_c, ConfigAndLog, filecache, images/dyn, --exclude patterns and the destination stay out, and the manifest says why', async () => {
  const root = join(scratch.dir, 'excl');
  const images = join(scratch.dir, 'excl-images');
  await mkdir(join(root, 'sub/deeper/templates_c/en_US'), { recursive: true });
  await mkdir(join(root, 'ConfigAndLog'), { recursive: true });
  await mkdir(join(root, 'filecache'), { recursive: true });
  await mkdir(join(root, 'keep/cache'), { recursive: true });
  await mkdir(join(root, 'dyn'), { recursive: true }); // only the images directory drops dyn/
  await writeFile(join(root, 'civicrm.settings.php'), "<?php define('CIVICRM_DSN', 'mysql://u:secret@h/db');");
  await writeFile(join(root, 'sub/deeper/civicrm.settings.php'), 'secret too');
  await writeFile(join(root, 'sub/wp-config.php'), 'secret');
  await writeFile(join(root, 'sub/deeper/templates_c/en_US/compiled.php'), 'compiled');
  await writeFile(join(root, 'ConfigAndLog/CiviCRM.abc.log'), 'log');
  await writeFile(join(root, 'filecache/x'), 'cache');
  await writeFile(join(root, 'keep/cache/x'), 'my cache dir');
  await writeFile(join(root, 'keep/notes.tmp'), 'tmp');
  await writeFile(join(root, 'keep/notes.txt'), 'kept');
  await writeFile(join(root, 'dyn/kept.css'), 'kept here');
  await mkdir(join(images, 'dyn'), { recursive: true });
  await mkdir(join(images, 'sub/dyn'), { recursive: true });
  await writeFile(join(images, 'dyn/asset.css'), 'cached asset');
  await writeFile(join(images, 'sub/dyn/photo.jpg'), 'not the asset cache');
  await writeFile(join(images, 'logo.png'), 'logo');
  // The backup destination inside a backed-up directory.
  const nestedDestination = join(root, 'backups');
  await mkdir(nestedDestination);
  await writeFile(join(nestedDestination, 'older-set.bin'), 'an older backup');

  const setDir = await newSet(nestedDestination);
  const result = await archiveDirectories(
    [
      { label: 'custom', path: root },
      { label: 'images', path: images },
    ],
    { setDir, codec: GZIP, reporter: silentReporter(), destination: nestedDestination, exclude: ['*.tmp', 'keep/cache/'] },
  );
  const [custom, imagesRecord] = result.files;
  const listed = await tarList(join(setDir, custom.archive));
  for (const absent of ['civicrm.settings.php', 'sub/deeper/civicrm.settings.php', 'sub/wp-config.php', 'sub/deeper/templates_c/', 'ConfigAndLog/', 'filecache/', 'keep/cache/', 'keep/notes.tmp', 'backups/']) {
    assert.ok(!listed.some((name) => name === absent || name.startsWith(absent.endsWith('/') ? absent : `${absent}/`)), `${absent} is not in the archive`);
  }
  for (const present of ['keep/notes.txt', 'dyn/kept.css', 'sub/deeper/']) assert.ok(listed.includes(present), `${present} is in the archive`);

  const reasons = new Map(custom.excluded.map((e) => [e.path, e.reason]));
  assert.match(reasons.get('civicrm.settings.php') ?? '', /settings file/);
  assert.match(reasons.get('sub/deeper/civicrm.settings.php') ?? '', /settings file/);
  assert.match(reasons.get('sub/wp-config.php') ?? '', /settings file/);
  assert.match(reasons.get('sub/deeper/templates_c') ?? '', /compiled templates/);
  assert.match(reasons.get('ConfigAndLog') ?? '', /--include-logs/);
  assert.match(reasons.get('filecache') ?? '', /cache/);
  assert.equal(reasons.get('keep/cache'), '--exclude keep/cache/');
  assert.equal(reasons.get('keep/notes.tmp'), '--exclude *.tmp');
  assert.match(reasons.get('backups') ?? '', /destination/);
  assert.equal(custom.excluded.length, 9, JSON.stringify(custom.excluded));

  const imagesListed = await tarList(join(setDir, imagesRecord.archive));
  assert.ok(!imagesListed.some((n) => n.startsWith('dyn/')), 'images/dyn is not archived');
  assert.ok(imagesListed.includes('sub/dyn/photo.jpg'), 'a deeper dyn/ is ordinary content');
  assert.deepEqual(imagesRecord.excluded, [{ path: 'dyn', reason: 'asset cache of the images directory, rebuilt by CiviCRM (built-in rule)' }]);
});

test('--include-logs keeps ConfigAndLog', async () => {
  const root = join(scratch.dir, 'logs');
  await mkdir(join(root, 'ConfigAndLog'), { recursive: true });
  await writeFile(join(root, 'ConfigAndLog/CiviCRM.log'), 'log');
  const setDir = await newSet(destination);
  const { files } = await archiveDirectories([{ label: 'private', path: root }], { setDir, codec: GZIP, reporter: silentReporter(), includeLogs: true });
  assert.ok((await tarList(join(setDir, files[0].archive))).includes('ConfigAndLog/CiviCRM.log'));
  assert.deepEqual(files[0].excluded, []);
});

test('a file growing during the backup (a background writer appending) gives a warning and a valid archive', async () => {
  const root = join(scratch.dir, 'growing');
  await mkdir(root);
  const growing = join(root, 'growing.log');
  await writeFile(growing, Buffer.alloc(48 << 20, 'a'));
  await writeFile(join(root, 'after.txt'), 'the entry after the growing file');
  // The writer appends as fast as it can until killed; the test waits until it has written
  // once, so the file is certainly growing while the helper reads its 48 MiB.
  const writer = spawn(process.execPath, ['-e', `const fs=require('fs');const b=Buffer.alloc(65536,'b');for(;;){fs.appendFileSync(${JSON.stringify(growing)},b)}`], { stdio: 'ignore' });
  try {
    while ((await stat(growing)).size === 48 << 20) await new Promise((r) => setTimeout(r, 10));
    const reporter = silentReporter();
    const setDir = await newSet(destination);
    const { files } = await archiveDirectories([{ label: 'custom', path: root }], { setDir, codec: GZIP, reporter });
    writer.kill();
    const warned = warnings(reporter).filter((w) => w.path === 'growing.log');
    assert.equal(warned.length, 1, JSON.stringify(warnings(reporter)));
    assert.equal(warned[0].code, 'FILE_CHANGED');
    assert.match(files[0].warnings[0], /growing\.log grew while it was read/);
    const archive = join(setDir, files[0].archive);
    assert.deepEqual(await tarList(archive), ['./', 'after.txt', 'growing.log']);
    const out = join(scratch.dir, 'growing-out');
    await tarExtractAll(archive, out);
    assert.ok((await stat(join(out, 'growing.log'))).size > 48 << 20);
  } finally {
    writer.kill();
  }
});

test('a file that shrinks or grows mid-read is cut or zero-padded to its header size; a vanished file is skipped with a warning', async () => {
  const root = join(scratch.dir, 'changing');
  await mkdir(root);
  await writeFile(join(root, 'a-shrinks.bin'), Buffer.alloc(3 << 20, 1));
  await writeFile(join(root, 'b-grows.bin'), Buffer.alloc(3 << 20, 2));
  await writeFile(join(root, 'c-vanishes.txt'), 'soon gone');
  await writeFile(join(root, 'd-stays.txt'), 'stays');
  const seen: Array<[string, string]> = [];
  const walked = walkTree(root, { exclusions: Exclusions.for({}) }, { onExcluded: () => undefined, onWarning: (code, path) => seen.push([code, path]) });
  async function* deletingAfterA() {
    for await (const entry of walked) {
      // The root is listed already; c goes before the walk reaches it.
      if (entry.relPath === 'a-shrinks.bin') unlinkSync(join(root, 'c-vanishes.txt'));
      yield entry;
    }
  }
  const changed = new Set<string>();
  // Changes made from inside the read loop, after the header and the first 1 MiB are out:
  // deterministic stand-ins for a concurrent writer.
  const stream = tarStream(deletingAfterA(), {
    onWarning: (code, path) => seen.push([code, path]),
    onEntry: () => undefined,
    onContentBytes: (_bytes, relPath) => {
      if (changed.has(relPath)) return;
      changed.add(relPath);
      if (relPath === 'a-shrinks.bin') truncateSync(join(root, 'a-shrinks.bin'), 1000);
      if (relPath === 'b-grows.bin') appendFileSync(join(root, 'b-grows.bin'), Buffer.alloc(4096, 3));
    },
  });
  const setDir = await newSet(destination);
  const part = await writePart(setDir, 'files/changing.tar', stream, { codec: GZIP });
  assert.deepEqual(seen.sort(), [
    ['FILE_CHANGED', 'a-shrinks.bin'],
    ['FILE_CHANGED', 'b-grows.bin'],
    ['VANISHED', 'c-vanishes.txt'],
  ]);
  const archive = join(setDir, part.path);
  assert.deepEqual(await tarList(archive), ['./', 'a-shrinks.bin', 'b-grows.bin', 'd-stays.txt']);
  const out = join(scratch.dir, 'changing-out');
  await tarExtractAll(archive, out);
  const shrunk = await readFile(join(out, 'a-shrinks.bin'));
  assert.equal(shrunk.length, 3 << 20, 'the announced size');
  assert.ok(shrunk.subarray(0, 1 << 20).every((b) => b === 1), 'the part read before the cut');
  assert.ok(shrunk.subarray(1 << 20).every((b) => b === 0), 'zeros after the cut');
  const grown = await readFile(join(out, 'b-grows.bin'));
  assert.equal(grown.length, 3 << 20, 'cut at the announced size');
  assert.ok(grown.every((b) => b === 2));
  assert.equal(await readFile(join(out, 'd-stays.txt'), 'utf8'), 'stays');
});

test('a fifo is skipped with a warning', async () => {
  const root = join(scratch.dir, 'special');
  await mkdir(root);
  await writeFile(join(root, 'plain.txt'), 'plain');
  await run('mkfifo', [join(root, 'pipe')]);
  const reporter = silentReporter();
  const setDir = await newSet(destination);
  const { files } = await archiveDirectories([{ label: 'custom', path: root }], { setDir, codec: GZIP, reporter });
  assert.deepEqual(await tarList(join(setDir, files[0].archive)), ['./', 'plain.txt']);
  assert.deepEqual(warnings(reporter).map((w) => [w.code, w.path]), [['SPECIAL_SKIPPED', 'pipe']]);
  assert.match(files[0].warnings[0], /pipe is a named pipe/);
});

test('a missing directory is a DIR_MISSING error naming it; an optional one is a warning and no archive', async () => {
  const present = join(scratch.dir, 'present');
  await mkdir(present);
  await writeFile(join(present, 'x.txt'), 'x');
  const missing = join(scratch.dir, 'no-such-dir');
  const setDir = await newSet(destination);
  await assert.rejects(
    archiveDirectories([{ label: 'custom', path: missing }], { setDir, codec: GZIP, reporter: silentReporter() }),
    (error: unknown) => {
      assert.ok(error instanceof BackupError);
      assert.equal(error.code, 'DIR_MISSING');
      assert.ok(error.message.includes(missing), error.message);
      assert.ok(error.message.includes('"custom"'));
      return true;
    },
  );
  const notADir = join(present, 'x.txt');
  await assert.rejects(
    archiveDirectories([{ label: 'tpl', path: notADir }], { setDir, codec: GZIP, reporter: silentReporter() }),
    /not a directory/,
  );

  const reporter = silentReporter();
  const setDir2 = await newSet(destination);
  const result = await archiveDirectories(
    [
      { label: 'custom', path: missing, optional: true },
      { label: 'images', path: present },
    ],
    { setDir: setDir2, codec: GZIP, reporter },
  );
  assert.deepEqual(result.files.map((f) => f.label), ['images']);
  assert.equal(result.parts.length, 1);
  assert.deepEqual(await readdir(join(setDir2, 'files')), ['images.tar.gz']);
  const warned = warnings(reporter);
  assert.equal(warned.length, 1);
  assert.equal(warned[0].code, 'DIR_MISSING');
  assert.ok(warned[0].message.includes(missing));
  assert.match(result.warnings[0], /optional/);
});

test('progress events carry phase files, the label, file and byte counts and a path', async () => {
  const root = join(scratch.dir, 'progress');
  await mkdir(join(root, 'd'), { recursive: true });
  for (let i = 0; i < 5; i += 1) await writeFile(join(root, `d/f${i}`), 'x'.repeat(100));
  const reporter = silentReporter();
  const setDir = await newSet(destination);
  const { files, parts } = await archiveDirectories([{ label: 'custom', path: root }], { setDir, codec: GZIP, reporter });
  const progress = reporter.events.filter((e) => e.type === 'progress');
  assert.ok(progress.length > 0);
  const last = progress[progress.length - 1];
  assert.equal(last.type === 'progress' && last.phase, 'files');
  assert.equal(last.type === 'progress' && last.item, 'custom');
  assert.equal(last.type === 'progress' && last.files, 5);
  assert.equal(last.type === 'progress' && last.bytes, 500);
  assert.equal(last.type === 'progress' && typeof last.path, 'string');
  assert.ok(reporter.events.some((e) => e.type === 'phase' && e.phase === 'files'));

  // Restore reports progress per directory too (the restore command's 'files' phase).
  const restoreReporter = silentReporter();
  await restoreDirectory(setDir, manifestFor(setDir, files, parts), 'custom', join(scratch.dir, 'progress-restored'), { reporter: restoreReporter });
  const restoreProgress = restoreReporter.events.filter((e) => e.type === 'progress');
  const lastRestore = restoreProgress[restoreProgress.length - 1];
  assert.equal(lastRestore.type === 'progress' && lastRestore.phase, 'files');
  assert.equal(lastRestore.type === 'progress' && lastRestore.item, 'custom');
  assert.equal(lastRestore.type === 'progress' && lastRestore.files, 5);
});

test('bad labels and bad patterns are usage errors before anything is written', async () => {
  const setDir = await newSet(destination);
  await assert.rejects(archiveDirectories([{ label: 'Bad Label', path: scratch.dir }], { setDir, codec: GZIP, reporter: silentReporter() }), (e: unknown) => e instanceof BackupError && e.code === 'USAGE');
  await assert.rejects(
    archiveDirectories([{ label: 'a', path: scratch.dir }, { label: 'a', path: scratch.dir }], { setDir, codec: GZIP, reporter: silentReporter() }),
    /used twice/,
  );
  await assert.rejects(archiveDirectories([{ label: 'a', path: scratch.dir }], { setDir, codec: GZIP, reporter: silentReporter(), exclude: ['/'] }), /Bad --exclude/);
  assert.deepEqual(await readdir(setDir), []);
});

test('a name that is not valid UTF-8 is a warning naming it, not a silent loss', async () => {
  const root = join(scratch.dir, 'latin1');
  await mkdir(root);
  await writeFile(Buffer.from(join(root, 'caf\xe9.txt'), 'latin1'), 'latin-1 name');
  await writeFile(join(root, 'ok.txt'), 'fine');
  const reporter = silentReporter();
  const setDir = await newSet(destination);
  const { files } = await archiveDirectories([{ label: 'custom', path: root }], { setDir, codec: GZIP, reporter });
  assert.deepEqual(await tarList(join(setDir, files[0].archive)), ['./', 'ok.txt']);
  assert.deepEqual(warnings(reporter).map((w) => w.code), ['UNREADABLE']);
  assert.match(files[0].warnings[0], /not valid UTF-8/);
});

test('the backup destination itself cannot be a backed-up directory', async () => {
  const setDir = await newSet(destination);
  await assert.rejects(
    archiveDirectories([{ label: 'custom', path: destination }], { setDir, codec: GZIP, reporter: silentReporter(), destination }),
    (error: unknown) => error instanceof BackupError && error.code === 'CONFIG' && /backup destination itself/.test(error.message),
  );
});
