/**
 * Hostile archives, written block by block by the test (not by the code under test), are
 * refused with HOSTILE_ARCHIVE, and nothing appears outside the target: not in a sibling
 * "outside" directory, not beside the target (no staging left), not at absolute paths.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../../ts-src/helper/core/errors.js';
import { listArchive, restoreDirectory } from '../../ts-src/helper/files/index.js';
import { rawTarEnd, rawTarFile, rawTarHeader, scratchDir, setWithRawArchive } from './support/files-fixtures.js';

let scratch: { dir: string; cleanup: () => Promise<void> };
let destination: string;
let outside: string;

before(async () => {
  scratch = await scratchDir('hostile');
  destination = join(scratch.dir, 'dest');
  outside = join(scratch.dir, 'outside');
  await mkdir(destination);
  await mkdir(outside);
});

after(async () => {
  await scratch?.cleanup();
});

async function expectRefused(tar: Buffer, name: string, why: RegExp, extra = {}): Promise<void> {
  const { setDir, manifest } = await setWithRawArchive(destination, 'custom', tar, extra);
  const target = join(scratch.dir, 'restore-here', name);
  await assert.rejects(
    restoreDirectory(setDir, manifest, 'custom', target),
    (error: unknown) => {
      assert.ok(error instanceof BackupError, String(error));
      assert.equal(error.code, 'HOSTILE_ARCHIVE');
      assert.equal(error.exitCode, 3);
      assert.match(error.message, /refused/);
      assert.match(error.message, why);
      return true;
    },
  );
  assert.deepEqual(await readdir(outside), [], 'nothing written to the outside directory');
  const besideTarget = await readdir(join(scratch.dir, 'restore-here')).catch(() => []);
  assert.deepEqual(besideTarget, [], 'no target and no staging directory left behind');
  await assert.rejects(
    listArchive(setDir, manifest, 'custom'),
    (error: unknown) => error instanceof BackupError && error.code === 'HOSTILE_ARCHIVE',
    'verify refuses the same archive',
  );
}

test('an entry climbing out with ../../ is refused', async () => {
  const tar = Buffer.concat([rawTarFile('ok.txt', 'fine'), rawTarFile('../../outside/x', 'escaped'), rawTarEnd()]);
  await expectRefused(tar, 'dotdot', /'\.\.' segment/);
  await assert.rejects(lstat(join(scratch.dir, 'outside/x')));
});

test('an absolute path is refused', async () => {
  const tar = Buffer.concat([rawTarFile(`${outside}/abs`, 'absolute'), rawTarEnd()]);
  await expectRefused(tar, 'absolute', /absolute path/);
});

test('a symlink to the outside followed by a file through it is refused', async () => {
  const tar = Buffer.concat([rawTarHeader('link', { type: '2', linkName: outside }), rawTarFile('link/evil', 'through the link'), rawTarEnd()]);
  await expectRefused(tar, 'symlink-then-file', /outside the target directory/);
});

test('a file through an outside symlink is refused even when the manifest lists the link', async () => {
  // The link itself is accepted (it was "backed up"), but nothing may be written through it.
  const tar = Buffer.concat([rawTarHeader('link', { type: '2', linkName: outside }), rawTarFile('link/evil', 'through the link'), rawTarEnd()]);
  await expectRefused(tar, 'listed-link-then-file', /passes through the symlink "link"/, { outsideLinks: [{ path: 'link', target: outside }] });
});

test('a file through an inside symlink is refused too', async () => {
  const tar = Buffer.concat([
    rawTarHeader('dir/', { type: '5', mode: 0o755 }),
    rawTarHeader('alias', { type: '2', linkName: 'dir' }),
    rawTarFile('alias/file', 'through an inside link'),
    rawTarEnd(),
  ]);
  const { setDir, manifest } = await setWithRawArchive(destination, 'custom', tar);
  const target = join(scratch.dir, 'restore-inside-link');
  await assert.rejects(restoreDirectory(setDir, manifest, 'custom', target), /passes through the symlink "alias"/);
  await assert.rejects(lstat(target));
});

test('a relative symlink escaping the root is refused', async () => {
  const tar = Buffer.concat([rawTarHeader('sub/', { type: '5' }), rawTarHeader('sub/up', { type: '2', linkName: '../../outside' }), rawTarEnd()]);
  await expectRefused(tar, 'escaping-link', /symlink to "\.\.\/\.\.\/outside"/);
});

test('a hard link to a path outside is refused', async () => {
  const tar = Buffer.concat([rawTarHeader('hard', { type: '1', linkName: '../outside/target' }), rawTarEnd()]);
  await expectRefused(tar, 'hardlink', /hard link/);
});

test('a damaged archive part is refused before the target is touched', async () => {
  const tar = Buffer.concat([rawTarFile('a.txt', 'a'), rawTarEnd()]);
  const { setDir, manifest } = await setWithRawArchive(destination, 'custom', tar, { files: 1, bytes: 1 });
  const stored = join(setDir, manifest.parts[0].path);
  const bytes = await readFile(stored);
  bytes[bytes.length - 3] ^= 0xff;
  await writeFile(stored, bytes);
  const target = join(scratch.dir, 'damaged-target');
  await mkdir(target);
  await writeFile(join(target, 'keep.txt'), 'keep');
  await assert.rejects(restoreDirectory(setDir, manifest, 'custom', target, { force: true }), (error: unknown) => error instanceof BackupError && error.code === 'SET_DAMAGED');
  assert.equal(await readFile(join(target, 'keep.txt'), 'utf8'), 'keep');
  assert.deepEqual((await readdir(scratch.dir)).filter((n) => n.includes('civibackup-')), []);
});

test('a truncated archive is SET_DAMAGED and leaves no staging directory', async () => {
  const full = Buffer.concat([rawTarFile('a.txt', 'x'.repeat(2000)), rawTarEnd()]);
  const { setDir, manifest } = await setWithRawArchive(destination, 'custom', full.subarray(0, 1024));
  const target = join(scratch.dir, 'truncated-target');
  await assert.rejects(restoreDirectory(setDir, manifest, 'custom', target), (error: unknown) => error instanceof BackupError && error.code === 'SET_DAMAGED');
  await assert.rejects(lstat(target));
  assert.deepEqual((await readdir(scratch.dir)).filter((n) => n.includes('civibackup-')), []);
});

test('a non-empty target needs --force; with it the old content is replaced and removed', async () => {
  const tar = Buffer.concat([rawTarFile('new.txt', 'new'), rawTarEnd()]);
  const { setDir, manifest } = await setWithRawArchive(destination, 'custom', tar, { files: 1, bytes: 3 });
  const target = join(scratch.dir, 'occupied');
  await mkdir(target);
  await writeFile(join(target, 'old.txt'), 'old');
  await assert.rejects(restoreDirectory(setDir, manifest, 'custom', target), (error: unknown) => {
    assert.ok(error instanceof BackupError);
    assert.equal(error.code, 'TARGET_NOT_EMPTY');
    assert.equal(error.exitCode, 2);
    return true;
  });
  assert.equal(await readFile(join(target, 'old.txt'), 'utf8'), 'old');

  const result = await restoreDirectory(setDir, manifest, 'custom', target, { force: true });
  assert.equal(result.replaced, true);
  assert.deepEqual(await readdir(target), ['new.txt']);
  assert.deepEqual((await readdir(scratch.dir)).filter((n) => n.includes('civibackup-')), []);

  // An empty existing directory is fine without --force.
  await rm(target, { recursive: true });
  await mkdir(target);
  await restoreDirectory(setDir, manifest, 'custom', target);
  assert.deepEqual(await readdir(target), ['new.txt']);
});

/** A pax extended header block plus its records, built by hand. */
function rawPax(records: Record<string, string>): Buffer {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + String(body.length).length;
    if (String(length).length > String(body.length).length) length += 1;
    text += `${length}${body}`;
  }
  const data = Buffer.from(text);
  return Buffer.concat([rawTarHeader('PaxHeaders/x', { type: 'x', size: data.length }), data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

test('a pax path record that climbs out is refused even when the ustar name looks harmless', async () => {
  const tar = Buffer.concat([rawPax({ path: '../../outside/pax-evil' }), rawTarFile('harmless.txt', 'x'), rawTarEnd()]);
  await expectRefused(tar, 'pax-path', /"\.\.\/\.\.\/outside\/pax-evil" contains a '\.\.' segment/);
});

test('a GNU long name that is absolute is refused', async () => {
  const name = Buffer.from(`${outside}/gnu-long\0`);
  const longName = Buffer.concat([rawTarHeader('././@LongLink', { type: 'L', size: name.length }), name, Buffer.alloc((512 - (name.length % 512)) % 512)]);
  const tar = Buffer.concat([longName, rawTarFile('short', 'x'), rawTarEnd()]);
  await expectRefused(tar, 'gnu-long', /absolute path/);
});

test('a hard link whose target passes through a symlink is refused', async () => {
  const tar = Buffer.concat([
    rawTarHeader('link', { type: '2', linkName: outside }),
    rawTarHeader('hard', { type: '1', linkName: 'link/target' }),
    rawTarEnd(),
  ]);
  const { setDir, manifest } = await setWithRawArchive(destination, 'custom', tar, { outsideLinks: [{ path: 'link', target: outside }] });
  await writeFile(join(outside, 'target'), 'outside file');
  try {
    const target = join(scratch.dir, 'restore-hardlink-through');
    await assert.rejects(restoreDirectory(setDir, manifest, 'custom', target), /passes through the symlink "link"/);
    await assert.rejects(lstat(target));
  } finally {
    await rm(join(outside, 'target'));
  }
});
