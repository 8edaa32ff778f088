/**
 * Directories in v2 sets, on real files and a real (unencrypted) repository: a tree restores
 * exactly (files, empty files, multi-block files, directories, symlinks, modes, mtimes); an
 * unchanged re-run reads nothing and stores (almost) nothing; a rename stores nothing; the
 * state-dir cache and the previous tree from a catalog both work; a stale cache naming pruned
 * blobs makes the file be read again; a hostile tree is refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, symlink, utimes, writeFile } from 'node:fs/promises';
import type { BlobWriter } from '../../ts-src/helper/repo/repository.js';
import { join } from 'node:path';
import type { FilesRecordV2, TreeEntry } from '../../ts-src/protocol/manifest.js';
import { BackupError } from '../../ts-src/helper/core/errors.js';
import { openRepository, type Repository } from '../../ts-src/helper/repo/repository.js';
import { backupTrees, readTreeFile, TreeFileCursor, treeCachePath, type TreeBackupOptions } from '../../ts-src/helper/files/tree-backup.js';
import { readTree, restoreTree } from '../../ts-src/helper/files/tree-reader.js';
import { TREE_BLOB_MIN_BYTES, TREE_TARGET_LINES, TreeBlobCutter, TREE_BLOB_MAX_BYTES, treeLine } from '../../ts-src/helper/files/tree-format.js';
import { diffSnapshots, scratchDir, silentReporter, snapshotTree } from './support/files-fixtures.js';

let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  work = await scratchDir('tree');
});
after(() => work.cleanup());

const text = (n: number, seed: string): Buffer => Buffer.from(`${seed} `.repeat(Math.ceil(n / (seed.length + 1))).slice(0, n));

async function makeFixture(root: string): Promise<void> {
  await mkdir(join(root, 'docs/deep/deeper'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'a-b'));
  await writeFile(join(root, 'docs/letter.txt'), text(5000, 'Dear friend'));
  await writeFile(join(root, 'docs/deep/scan.pdf'), randomBytes(2.5 * 1024 * 1024)); // three blocks
  await writeFile(join(root, 'docs/deep/deeper/exact.bin'), randomBytes(1024 * 1024)); // exactly one block
  await writeFile(join(root, 'empty.txt'), '');
  await writeFile(join(root, 'a-b/x.txt'), 'x');
  await writeFile(join(root, 'readonly.txt'), 'do not touch');
  await chmod(join(root, 'readonly.txt'), 0o444);
  await writeFile(join(root, 'ConfigAndLog-not.txt'), 'kept');
  await mkdir(join(root, 'ConfigAndLog'));
  await writeFile(join(root, 'ConfigAndLog/CiviCRM.log'), 'excluded log');
  await writeFile(join(root, 'civicrm.settings.php'), '<?php define("CIVICRM_DSN", "secret");');
  await symlink('docs/letter.txt', join(root, 'link-inside'));
  await symlink('/etc/hostname', join(root, 'link-outside'));
  await utimes(join(root, 'docs/letter.txt'), 1_600_000_000.123456, 1_600_000_000.654321);
  await chmod(join(root, 'docs/deep'), 0o750);
}

async function repository(name: string): Promise<Repository> {
  return openRepository(join(work.dir, name), { create: true, compression: 'gzip', level: 6 });
}

async function run(repo: Repository, dir: string, extra: Partial<TreeBackupOptions> = {}) {
  const writer = await repo.writer();
  const result = await backupTrees({ directories: [{ label: 'site', path: dir }], writer, repositoryId: repo.id, reporter: silentReporter(), ...extra });
  await writer.finish();
  return { result, stats: writer.stats, record: result.files[0] };
}

async function entries(record: FilesRecordV2, repo: Repository): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for await (const e of readTree(record, repo.reader())) out.push(e);
  return out;
}

describe('directory trees in deduplicated sets', () => {
  test('a tree restores exactly; the exclusions of v1 archives apply', async () => {
    const src = join(work.dir, 'src1');
    await mkdir(src);
    await makeFixture(src);
    const repo = await repository('repo1');
    const { record, result } = await run(repo, src);
    await result.staged.commit();
    assert.deepEqual(record.excluded.map((e) => e.path).sort(), ['ConfigAndLog', 'civicrm.settings.php']);
    assert.deepEqual(record.outsideLinks, [{ path: 'link-outside', target: '/etc/hostname' }]);
    const list = await entries(record, repo);
    assert.deepEqual(list.map((e) => e.p), ['.', 'ConfigAndLog-not.txt', 'a-b', 'a-b/x.txt', 'docs', 'docs/deep', 'docs/deep/deeper', 'docs/deep/deeper/exact.bin', 'docs/deep/scan.pdf', 'docs/letter.txt', 'empty-dir', 'empty.txt', 'link-inside', 'link-outside', 'readonly.txt']);
    assert.equal(list.find((e) => e.p === 'docs/deep/scan.pdf')?.b?.length, 3);
    assert.equal(list.find((e) => e.p === 'docs/deep/deeper/exact.bin')?.b?.length, 1);
    assert.deepEqual(list.find((e) => e.p === 'empty.txt')?.b, []);
    assert.equal(record.files, 7);
    assert.equal(record.symlinks, 2);

    const target = join(work.dir, 'restored1');
    const restored = await restoreTree(record, repo.reader(), target);
    assert.equal(restored.files, 7);
    const skip = (rel: string): boolean => rel === 'ConfigAndLog' || rel === 'civicrm.settings.php';
    assert.deepEqual(diffSnapshots(await snapshotTree(src, skip), await snapshotTree(target), { symlinkTimes: true }), []);
    // A non-empty target is refused without force, replaced with it.
    await assert.rejects(restoreTree(record, repo.reader(), target), (e: unknown) => e instanceof BackupError && e.code === 'TARGET_NOT_EMPTY');
    const again = await restoreTree(record, repo.reader(), target, { force: true });
    assert.equal(again.replaced, true);
  });

  test('unchanged re-run reads nothing and stores almost nothing; a rename stores nothing; a change stores about its size', async () => {
    const src = join(work.dir, 'src2');
    await mkdir(join(src, 'many'), { recursive: true });
    for (let i = 0; i < 300; i += 1) await writeFile(join(src, 'many', `f${String(i).padStart(4, '0')}.bin`), randomBytes(20_000));
    const stateDir = join(work.dir, 'state2');
    const repo = await repository('repo2');
    const first = await run(repo, src, { stateDir });
    await first.result.staged.commit();
    assert.equal(first.result.unchangedFiles, 0);
    const cache = treeCachePath(stateDir, repo.id, 'site');
    let cached = 0;
    for await (const e of readTreeFile(cache)) if (e.t === 'f') cached += 1;
    assert.equal(cached, 300);

    const second = await run(repo, src, { stateDir });
    await second.result.staged.commit();
    assert.equal(second.result.unchangedFiles, 300);
    assert.equal(second.result.readBytes, 0);
    assert.equal(second.stats.newBlobs, 0, 'an unchanged tree gives the same tree blobs');
    assert.deepEqual(second.record.tree, first.record.tree);

    await rename(join(src, 'many', 'f0007.bin'), join(src, 'many', 'renamed.bin'));
    const third = await run(repo, src, { stateDir });
    await third.result.staged.commit();
    assert.equal(third.result.readBytes, 20_000, 'only the renamed file is read');
    const treeBytes = third.stats.addedBytes;
    assert.ok(third.stats.newBlobs <= 2, `a rename stores only tree blobs (${third.stats.newBlobs} new)`);

    for (const i of [1, 2, 3]) await writeFile(join(src, 'many', `f000${i}.bin`), randomBytes(20_000));
    const fourth = await run(repo, src, { stateDir });
    await fourth.result.staged.commit();
    assert.equal(fourth.result.readBytes, 60_000);
    assert.ok(fourth.stats.addedBytes >= 60_000 && fourth.stats.addedBytes < 60_000 + treeBytes + 20_000, `3 changed files of 20 kB add ${fourth.stats.addedBytes} bytes`);

    // Without the cache, the previous tree from the set's catalog does the same.
    const fromCatalog = await run(repo, src, { previous: () => readTree(fourth.record, repo.reader()) });
    assert.equal(fromCatalog.result.unchangedFiles, 300);
    assert.equal(fromCatalog.result.readBytes, 0);
  });

  test('a killed run keeps the old cache; a cache naming blobs the repository lost makes the file be read again', async () => {
    const src = join(work.dir, 'src3');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), text(3000, 'alpha'));
    const stateDir = join(work.dir, 'state3');
    const repo = await repository('repo3');
    const first = await run(repo, src, { stateDir });
    await first.result.staged.commit();
    const failed = await run(repo, src, { stateDir });
    await failed.result.staged.discard();
    assert.deepEqual((await readdir(stateDir)).sort(), [`tree-${repo.id}-site.ndjson`]);
    // What a SIGKILLed run staged is removed once it is old; a running backup's (recent) stays.
    const stale = join(stateDir, `tree-${repo.id}-site.ndjson.0badc0de.tmp`);
    const recent = join(stateDir, `tree-${repo.id}-site.ndjson.00c0ffee.tmp`);
    await writeFile(stale, '');
    await writeFile(recent, '');
    await utimes(stale, new Date(Date.now() - 72 * 3600_000), new Date(Date.now() - 72 * 3600_000));
    const later = await run(repo, src, { stateDir });
    await later.result.staged.commit();
    assert.deepEqual((await readdir(stateDir)).sort(), [`tree-${repo.id}-site.ndjson`, `tree-${repo.id}-site.ndjson.00c0ffee.tmp`]);

    // Another repository (as after a prune removed the blobs): the cache is not trusted blindly.
    const other = await repository('repo3b');
    const { writeFile: write } = await import('node:fs/promises');
    const { readFile } = await import('node:fs/promises');
    await write(treeCachePath(stateDir, other.id, 'site'), await readFile(treeCachePath(stateDir, repo.id, 'site')));
    const rerun = await run(other, src, { stateDir });
    assert.equal(rerun.result.unchangedFiles, 0);
    assert.equal(rerun.result.readBytes, 3000);
    const restored = join(work.dir, 'restored3');
    await restoreTree(rerun.record, other.reader(), restored);
    assert.deepEqual(diffSnapshots(await snapshotTree(src), await snapshotTree(restored)), []);
  });

  test('a hostile or damaged tree is refused and nothing reaches the target', async () => {
    const repo = await repository('repo4');
    const writer = await repo.writer();
    const fileBlob = await writer.put(Buffer.from('evil'));
    const treeOf = async (lines: TreeEntry[]): Promise<FilesRecordV2> => {
      const cutter = new TreeBlobCutter(writer);
      for (const l of lines) await cutter.add(treeLine(l));
      return { label: 'x', source: '/x', tree: await cutter.finish(), files: 1, directories: 1, symlinks: 0, bytes: 4, excluded: [], warnings: [] };
    };
    const root: TreeEntry = { p: '.', t: 'd', m: 0o755, mt: 0 };
    const file = (p: string, extra: Partial<TreeEntry> = {}): TreeEntry => ({ p, t: 'f', m: 0o644, mt: 0, s: 4, b: [fileBlob], ...extra });
    const cases: Array<[string, TreeEntry[], string]> = [
      ['dotdot', [root, file('../escape')], 'HOSTILE_ARCHIVE'],
      ['absolute', [root, file('/tmp/escape')], 'HOSTILE_ARCHIVE'],
      ['through link', [root, { p: 'l', t: 'l', m: 0o777, mt: 0, l: '/tmp' }, file('l/evil')], 'HOSTILE_ARCHIVE'],
      ['outside link', [root, { p: 'l', t: 'l', m: 0o777, mt: 0, l: '../../etc' }], 'HOSTILE_ARCHIVE'],
      ['twice', [root, file('a'), file('a')], 'SET_DAMAGED'],
      ['wrong hash', [root, file('a', { h: '0'.repeat(64) })], 'SET_DAMAGED'],
      ['wrong size', [root, file('a', { s: 5 })], 'SET_DAMAGED'],
    ];
    const records: FilesRecordV2[] = [];
    for (const [, lines] of cases) records.push(await treeOf(lines));
    await writer.finish();
    for (const [i, [name, , code]] of cases.entries()) {
      const target = join(work.dir, `hostile-${name.replace(/ /g, '-')}`);
      await assert.rejects(restoreTree(records[i], repo.reader(), target), (e: unknown) => {
        assert.ok(e instanceof BackupError && e.code === code, `${name}: ${String(e)}`);
        return true;
      });
      assert.deepEqual((await readdir(work.dir)).filter((n) => n.startsWith(`hostile-${name.replace(/ /g, '-')}`)), [], `${name}: nothing left`);
    }
  });

  test('tree blobs: content-defined cuts re-synchronise after an insert; a huge line is split', async () => {
    const repo = await repository('repo5');
    const lines = Array.from({ length: 20_000 }, (_, i) => treeLine({ p: `dir/file-${i}`, t: 'f', m: 0o644, mt: i, s: i, b: [] }));
    const cut = async (ls: string[]) => {
      const writer = await repo.writer();
      const cutter = new TreeBlobCutter(writer);
      for (const l of ls) await cutter.add(l);
      const ids = await cutter.finish();
      await writer.finish();
      return ids;
    };
    const a = await cut(lines);
    const b = await cut([...lines.slice(0, 100), treeLine({ p: 'dir/inserted', t: 'd', m: 0o755, mt: 0 }), ...lines.slice(100)]);
    assert.ok(a.length >= 4, `${a.length} blobs`);
    const shared = b.filter((id) => a.includes(id)).length;
    assert.ok(shared >= a.length - 2, `after an insert ${shared} of ${a.length} blobs are the same`);
    const huge = await cut([treeLine({ p: 'x', t: 'l', m: 0, mt: 0, l: 'y'.repeat(TREE_BLOB_MAX_BYTES * 2) })]);
    assert.equal(huge.length, 3);
  });
  test('tree lines: the same bytes as JSON.stringify with the keys in order', () => {
    const entries: TreeEntry[] = [
      { p: '.', t: 'd', m: 0o755, mt: 1_600_000_000_123.4567, u: 0, g: 0 },
      { p: 'Rapport annuel "2024"\\é/😀\u0001', t: 'f', m: 0o644, mt: 1e21, s: 2 ** 40, b: ['a'.repeat(64), 'b'.repeat(64)], h: 'c'.repeat(64), u: 33, g: 33, i: 2 ** 53 - 1, c: 0.1 + 0.2 },
      { p: 'l', t: 'l', m: 0o777, mt: -1.5e-7, l: '../x\n"y"' },
      { p: 'e', t: 'f', m: 0, mt: 0, s: 0, b: [] },
    ];
    for (const e of entries) {
      const ordered = { p: e.p, t: e.t, m: e.m, mt: e.mt, s: e.s, b: e.b, h: e.h, l: e.l, u: e.u, g: e.g, i: e.i, c: e.c };
      assert.equal(treeLine(e), `${JSON.stringify(ordered)}\n`);
    }
  });

  test('tree blobs are cut where the documented rule says (the same blobs as before this writer kept lines in a buffer)', async () => {
    const stored: Buffer[] = [];
    const writer = { put: async (content: Buffer) => (stored.push(Buffer.from(content)), String(stored.length)) } as unknown as BlobWriter;
    const lines = Array.from({ length: 30_000 }, (_, i) => treeLine({ p: `dir/é-${i}`, t: 'f', m: 0o644, mt: i * 1.5, s: i, b: [] }));
    lines.splice(12_345, 0, treeLine({ p: 'long', t: 'l', m: 0, mt: 0, l: 'z'.repeat(TREE_BLOB_MAX_BYTES + 1000) }));
    const cutter = new TreeBlobCutter(writer);
    for (const l of lines) await cutter.add(l);
    await cutter.finish();
    // The rule of docs/format.md, written out plainly.
    const expected: Buffer[] = [];
    let parts: Buffer[] = [];
    let size = 0;
    const cut = (): void => {
      expected.push(Buffer.concat(parts));
      parts = [];
      size = 0;
    };
    for (const line of lines) {
      let bytes = Buffer.from(line);
      while (size + bytes.length > TREE_BLOB_MAX_BYTES) {
        parts.push(bytes.subarray(0, TREE_BLOB_MAX_BYTES - size));
        bytes = bytes.subarray(TREE_BLOB_MAX_BYTES - size);
        size = TREE_BLOB_MAX_BYTES;
        cut();
      }
      parts.push(bytes);
      size += bytes.length;
      if (size >= TREE_BLOB_MIN_BYTES && createHash('sha256').update(bytes).digest().readUInt32BE(0) < 2 ** 32 / TREE_TARGET_LINES) cut();
    }
    if (size > 0) cut();
    assert.ok(expected.length > 10);
    assert.deepEqual(stored, expected);
  });

  test('the tree file cursor reads what was written: chunk boundaries, long lines, no final newline; refuses bytes that are not UTF-8', async () => {
    const entries: TreeEntry[] = Array.from({ length: 5000 }, (_, i) => ({ p: `d/${i % 7 === 0 ? 'é😀' : 'f'}-${i}`, t: 'f' as const, m: 0o644, mt: i, s: i, b: [] }));
    entries.splice(2500, 0, { p: 'long', t: 'l', m: 0o777, mt: 0, l: 'x'.repeat(600 * 1024) });
    let lineHash = createHash('sha256');
    const read = (path: string): TreeEntry[] => {
      lineHash = createHash('sha256');
      const cursor = TreeFileCursor.open(path, lineHash);
      const out: TreeEntry[] = [];
      try {
        for (let e = cursor.next(); e !== undefined; e = cursor.next()) out.push(e);
      } finally {
        cursor.close();
      }
      return out;
    };
    // What the origin note of a cache is checked by: every non-empty line, each with a '\n'.
    const hashOfLines = (content: string): string =>
      content
        .split('\n')
        .filter((line) => line !== '')
        .reduce((hash, line) => hash.update(`${line}\n`), createHash('sha256'))
        .digest('hex');
    const text = entries.map(treeLine).join('');
    const cases: Array<[string, string | Buffer, TreeEntry[]]> = [
      ['plain', text, entries],
      ['no final newline, blank lines', `\n${text.slice(0, -1).replace('\n', '\n\n')}`, entries],
      ['empty', '', []],
      ['one line', treeLine(entries[0]).trim(), [entries[0]]],
    ];
    for (const [name, content, expected] of cases) {
      const path = join(work.dir, `cursor-${name.replace(/\W/g, '-')}.ndjson`);
      await writeFile(path, content);
      assert.deepEqual(read(path), expected, name);
      assert.equal(lineHash.digest('hex'), hashOfLines(content.toString()), `${name}: the hash of the lines read`);
    }
    const bad = join(work.dir, 'cursor-bad.ndjson');
    await writeFile(bad, Buffer.concat([Buffer.from(text.slice(0, 1000)), Buffer.from([0xc3, 0x28, 0x0a])]));
    assert.throws(() => read(bad), TypeError);
  });
});
