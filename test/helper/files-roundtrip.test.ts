/**
 * Acceptance: a tree with nested and empty directories, unicode and 200-character names,
 * internal and outside symlinks, 0600/0755 modes, a 0-byte and a 300 MB file is archived,
 * then extracted by restoreDirectory and by GNU tar; both copies equal the source.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { chmod, link, lutimes, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { archiveDirectories, listArchive, restoreDirectory } from '../../ts-src/helper/files/index.js';
import { DEFAULT_GZIP_LEVEL } from '../../ts-src/helper/set/codec.js';
import type { FilesRecord, PartRecord } from '../../ts-src/protocol/manifest.js';
import { diffSnapshots, manifestFor, newSet, randomBlock, run, scratchDir, silentReporter, snapshotTree, type NodeSnapshot } from './support/files-fixtures.js';

const BIG_FILE_MB = 300;
const LONG_ASCII = 'L'.repeat(200);
const LONG_UNICODE = 'é'.repeat(120); // 240 bytes: under NAME_MAX (255), over ustar's 100
const UNICODE = 'ünïcödé-文件-😀.txt';

let scratch: { dir: string; cleanup: () => Promise<void> };
let source: string;
let setDir: string;
let record: FilesRecord;
let part: PartRecord;
let sourceSnapshot: Map<string, NodeSnapshot>;

async function writeBigFile(path: string, megabytes: number): Promise<void> {
  // One random 1 MiB block, varied per MiB so no two MiB are alike: fast to make, not sparse.
  const block = randomBlock(1 << 20);
  const out = createWriteStream(path);
  for (let i = 0; i < megabytes; i += 1) {
    const chunk = Buffer.from(block);
    chunk.writeUInt32LE(i, 0);
    chunk.writeUInt32LE(i * 2654435761 >>> 0, 4096);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

before(async () => {
  scratch = await scratchDir('roundtrip');
  source = join(scratch.dir, 'source');
  const outside = join(scratch.dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'target.txt'), 'outside\n');

  await mkdir(join(source, 'a/b/c/d'), { recursive: true });
  await mkdir(join(source, 'a/empty-nested'), { recursive: true });
  await mkdir(join(source, 'empty'));
  await mkdir(join(source, 'répertoire', LONG_UNICODE), { recursive: true });
  await mkdir(join(source, LONG_ASCII));
  await mkdir(join(source, 'private'), { mode: 0o700 });
  await writeFile(join(source, 'a/b/c/d/deep.txt'), 'deep\n');
  await writeFile(join(source, UNICODE), 'unicode name\n');
  await writeFile(join(source, 'répertoire', LONG_UNICODE, `${LONG_UNICODE.slice(0, 100)}.txt`), 'long unicode path\n');
  await writeFile(join(source, LONG_ASCII, LONG_ASCII), 'long ascii path\n');
  await writeFile(join(source, 'secret-0600.txt'), 'only me\n', { mode: 0o600 });
  await writeFile(join(source, 'script-0755.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await chmod(join(source, 'secret-0600.txt'), 0o600);
  await chmod(join(source, 'script-0755.sh'), 0o755);
  await writeFile(join(source, 'private/inside.txt'), 'in a 0700 dir\n');
  await writeFile(join(source, 'zero.bin'), '');
  await writeBigFile(join(source, 'big.bin'), BIG_FILE_MB);
  await symlink('a/b/c', join(source, 'link-internal'));
  await symlink('../d/deep.txt', join(source, 'a/b/c/link-relative-file'));
  await symlink(join(outside, 'target.txt'), join(source, 'link-outside-absolute'));
  await symlink('../outside/target.txt', join(source, 'link-outside-relative'));
  await symlink(`${LONG_ASCII}/${LONG_ASCII}`, join(source, 'link-long-target')); // 401 bytes: a pax linkpath
  await link(join(source, UNICODE), join(source, 'hard-linked.txt')); // stored as a second regular file

  // Distinct mtimes with sub-second parts, directories last so their contents do not move them.
  const snapshot0 = await snapshotTree(source);
  const paths = [...snapshot0.keys()].sort((x, y) => y.split('/').length - x.split('/').length);
  let t = 1_600_000_000.123456;
  for (const rel of paths) {
    const abs = rel === '.' ? source : join(source, rel);
    t += 1000.25;
    if (snapshot0.get(rel)?.type === 'symlink') await lutimes(abs, t, t);
    else await utimes(abs, t, t);
  }
  await chmod(join(source, 'private'), 0o700);
  sourceSnapshot = await snapshotTree(source);

  const destination = join(scratch.dir, 'dest');
  await mkdir(destination);
  setDir = await newSet(destination);
  const result = await archiveDirectories([{ label: 'custom', path: source }], {
    setDir,
    codec: { compression: 'gzip', level: DEFAULT_GZIP_LEVEL },
    reporter: silentReporter(),
    destination,
  });
  [record] = result.files;
  [part] = result.parts;
});

after(async () => {
  await scratch?.cleanup();
});

test('the manifest record counts what the tree holds', () => {
  const values = [...sourceSnapshot.values()];
  assert.equal(record.files, values.filter((v) => v.type === 'file').length);
  assert.equal(record.directories, values.filter((v) => v.type === 'dir').length);
  assert.equal(record.symlinks, values.filter((v) => v.type === 'symlink').length);
  assert.equal(record.bytes, values.reduce((sum, v) => sum + (v.size ?? 0), 0));
  assert.equal(part.path, 'files/custom.tar.gz');
  assert.deepEqual(record.warnings, []);
  assert.deepEqual(
    (record.outsideLinks ?? []).map((l) => l.path).sort(),
    ['link-outside-absolute', 'link-outside-relative'],
  );
});

test('GNU tar -xzf extracts an identical tree', async () => {
  const out = join(scratch.dir, 'by-gnu-tar');
  await mkdir(out);
  await run('tar', ['-xzf', join(setDir, part.path), '-C', out]);
  assert.deepEqual(diffSnapshots(sourceSnapshot, await snapshotTree(out), { symlinkTimes: true }), []);
});

test('GNU tar lists the long and unicode names exactly', async () => {
  const { stdout } = await run('tar', ['-tzf', join(setDir, part.path)], { maxBuffer: 1 << 24 });
  const names = stdout.split('\n').filter(Boolean);
  assert.ok(names.includes(UNICODE), 'unicode name listed');
  assert.ok(names.includes(`${LONG_ASCII}/${LONG_ASCII}`), '200-character names listed');
  assert.ok(names.includes(`répertoire/${LONG_UNICODE}/${LONG_UNICODE.slice(0, 100)}.txt`));
  assert.ok(names.includes('empty/'));
});

test('restoreDirectory extracts an identical tree', async () => {
  const target = join(scratch.dir, 'restored');
  const manifest = manifestFor(setDir, [record], [part]);
  const result = await restoreDirectory(setDir, manifest, 'custom', target, { reporter: silentReporter() });
  assert.equal(result.files, record.files);
  assert.equal(result.replaced, false);
  assert.deepEqual(diffSnapshots(sourceSnapshot, await snapshotTree(target), { symlinkTimes: true }), []);
  // No staging or old directories are left beside the target.
  assert.deepEqual((await readdir(scratch.dir)).filter((n) => n.includes('civibackup-')), []);
});

test('listArchive reads the archive to its end and agrees with the manifest', async () => {
  const listing = await listArchive(setDir, manifestFor(setDir, [record], [part]), 'custom');
  assert.equal(listing.files, record.files);
  assert.equal(listing.directories, record.directories);
  assert.equal(listing.symlinks, record.symlinks);
  assert.equal(listing.bytes, record.bytes);
});
