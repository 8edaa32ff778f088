/**
 * The code's changes since the previous set: the pure comparison of two tree entries and the
 * capped collector, then whole backups (runBackup, format 2, directories only) of a real
 * directory in a real repository: first set, edits of every kind, the state-dir cache and its
 * origin note, the previous set's catalog, an encrypted repository without the cache, an
 * upgrade-sized change, and no file name in the manifest.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TreeEntry } from '../../ts-src/protocol/manifest.js';
import { CHANGED_PATHS_LIMIT, CODE_LABEL, type TreeChanges } from '../../ts-src/protocol/tree-changes.js';
import { entryChange, TreeChangeCollector } from '../../ts-src/helper/files/tree-changes.js';
import { treeOriginPath } from '../../ts-src/helper/files/tree-backup.js';
import { runBackup, type BackupSummary } from '../../ts-src/helper/backup/run-backup.js';
import { generateIdentity } from '../../ts-src/helper/crypto/age-stream.js';
import { scratchDir, silentReporter } from './support/files-fixtures.js';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const file = (p: string, extra: Partial<TreeEntry> = {}): TreeEntry => ({ p, t: 'f', m: 0o644, mt: 1000, s: 5, b: [ID_A], h: 'h1', ...extra });

describe('entryChange: what counts as a change', () => {
  test('content, size, mode, type and link target count; mtime, owner and inode do not', () => {
    assert.equal(entryChange(file('a'), file('a', { mt: 2000, u: 7, g: 7, i: 99, c: 3000 })), null, 'touched only');
    assert.equal(entryChange(file('a'), file('a', { h: 'h2', b: [ID_B] })), 'modified', 'content');
    assert.equal(entryChange(file('a'), file('a', { s: 6 })), 'modified', 'size');
    assert.equal(entryChange(file('a'), file('a', { m: 0o755 })), 'modified', 'chmod');
    assert.equal(entryChange(file('a'), { p: 'a', t: 'l', m: 0o777, mt: 1, l: 'b' }), 'modified', 'file became a symlink');
    const link = (l: string): TreeEntry => ({ p: 'x', t: 'l', m: 0o777, mt: 1, l });
    assert.equal(entryChange(link('one'), link('one')), null);
    assert.equal(entryChange(link('one'), link('two')), 'modified', 'retargeted');
    // Trees without h (none written today, but the format allows it): the blob ids decide.
    assert.equal(entryChange(file('a', { h: undefined }), file('a', { h: undefined })), null);
    assert.equal(entryChange(file('a', { h: undefined }), file('a', { h: undefined, b: [ID_B] })), 'modified');
  });

  test('added and removed; directories are never listed, a directory replaced by a file is an added file', () => {
    const dir: TreeEntry = { p: 'a', t: 'd', m: 0o755, mt: 1 };
    assert.equal(entryChange(undefined, file('a')), 'added');
    assert.equal(entryChange(file('a'), undefined), 'removed');
    assert.equal(entryChange(undefined, dir), null);
    assert.equal(entryChange(dir, { ...dir, m: 0o700, mt: 5 }), null);
    assert.equal(entryChange(dir, file('a')), 'added');
    assert.equal(entryChange(file('a'), dir), 'removed');
    assert.equal(entryChange(undefined, undefined), null);
  });
});

describe('TreeChangeCollector', () => {
  test('exact counts, the first paths in walk order whatever order they come in, and how many are left out', () => {
    const collector = new TreeChangeCollector(10);
    const paths = Array.from({ length: 1000 }, (_, i) => `dir${String(i % 7)}/f${String(i).padStart(4, '0')}.php`);
    // Scrambled: as removed paths and read files arrive in the walk.
    const order = paths.map((p, i) => ({ p, k: (i * 7919) % 1000 })).sort((a, b) => a.k - b.k);
    for (const { p } of order) {
      const n = Number(p.slice(-8, -4));
      if (n % 3 === 0) collector.compare(undefined, file(p));
      else if (n % 3 === 1) collector.removed(file(p));
      else collector.compare(file(p), file(p, { h: 'other' }));
    }
    collector.compare(file('same.php'), file('same.php', { mt: 5 }));
    const result = collector.result();
    assert.deepEqual(result.counts, { added: 334, removed: 333, modified: 333 });
    assert.equal(result.paths.length, 10);
    assert.equal(result.omitted, 990);
    const expected = [...paths].sort((a, b) => (a.split('/')[0]! < b.split('/')[0]! ? -1 : a.split('/')[0]! > b.split('/')[0]! ? 1 : a < b ? -1 : 1)).slice(0, 10);
    assert.deepEqual(result.paths.map((c) => c.path), expected);
    assert.equal(result.paths[0]!.change, 'added', `${expected[0]} is f0000`);
  });

  test('nothing changed: empty list, zero counts', () => {
    const collector = new TreeChangeCollector();
    collector.compare(file('a'), file('a'));
    assert.deepEqual(collector.result(), { compared: true, counts: { added: 0, modified: 0, removed: 0 }, paths: [], omitted: 0 });
  });
});

describe('code changes in a real backup run', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    work = await scratchDir('code-changes');
  });
  after(() => work.cleanup());

  async function makeCode(root: string): Promise<void> {
    await mkdir(join(root, 'CRM/Core'), { recursive: true });
    await mkdir(join(root, 'templates_c'), { recursive: true });
    await writeFile(join(root, 'CRM/Core/Config.php'), '<?php // core config\n');
    await writeFile(join(root, 'CRM/Core/Touched.php'), '<?php // only touched\n');
    await writeFile(join(root, 'CRM/Core/Mode.php'), '<?php // chmod\n');
    await writeFile(join(root, 'CRM/Core/Gone.php'), '<?php // removed later\n');
    await writeFile(join(root, 'civicrm-version.php'), '<?php return "6.17.2";\n');
    await symlink('CRM/Core/Config.php', join(root, 'config-link'));
    await writeFile(join(root, 'zz-last.php'), '<?php // the last path of the walk\n');
  }

  async function backup(to: string, code: string, extra: { stateDir?: string; civicrmVersion?: string; recipients?: string[] } = {}): Promise<BackupSummary> {
    return runBackup({
      to,
      files: [{ label: CODE_LABEL, path: code }],
      codec: { compression: 'gzip', level: 1, ...(extra.recipients ? { encryption: { recipients: extra.recipients } } : {}) },
      reporter: silentReporter(),
      ...(extra.stateDir ? { stateDir: extra.stateDir } : {}),
      ...(extra.civicrmVersion ? { civicrmVersion: extra.civicrmVersion } : {}),
    });
  }

  const changed = (c: TreeChanges | undefined) => c?.paths.map((p) => `${p.change} ${p.path}`);

  test('first set: nothing to compare; then every kind of edit, named against the set compared with', async () => {
    const code = join(work.dir, 'code1');
    const to = join(work.dir, 'dest1');
    const stateDir = join(work.dir, 'state1');
    await makeCode(code);
    const first = await backup(to, code, { stateDir, civicrmVersion: '6.17.2' });
    assert.deepEqual(first.codeChanges, {
      label: 'code',
      civicrmVersion: '6.17.2',
      compared: false,
      reason: 'no-previous-set',
      counts: { added: 0, modified: 0, removed: 0 },
      paths: [],
      omitted: 0,
    });

    const unchanged = await backup(to, code, { stateDir, civicrmVersion: '6.17.2' });
    assert.equal(unchanged.codeChanges?.compared, true);
    assert.deepEqual(unchanged.codeChanges?.previous, { setId: first.setId, civicrmVersion: '6.17.2' });
    assert.deepEqual(unchanged.codeChanges?.counts, { added: 0, modified: 0, removed: 0 });

    await writeFile(join(code, 'CRM/Core/Config.php'), '<?php // core config, patched by hand\n');
    await utimes(join(code, 'CRM/Core/Touched.php'), new Date(), new Date(Date.now() + 60_000));
    await chmod(join(code, 'CRM/Core/Mode.php'), 0o600);
    await unlink(join(code, 'CRM/Core/Gone.php'));
    await writeFile(join(code, 'CRM/Core/New.php'), '<?php // new\n');
    await unlink(join(code, 'config-link'));
    await symlink('civicrm-version.php', join(code, 'config-link'));
    await writeFile(join(code, 'templates_c/compiled.php'), 'compiled templates are left out');
    await unlink(join(code, 'zz-last.php'));
    const third = await backup(to, code, { stateDir, civicrmVersion: '6.18.0' });
    const changes = third.codeChanges!;
    assert.deepEqual(changed(changes), ['modified CRM/Core/Config.php', 'removed CRM/Core/Gone.php', 'modified CRM/Core/Mode.php', 'added CRM/Core/New.php', 'modified config-link', 'removed zz-last.php']);
    assert.deepEqual(changes.counts, { added: 1, modified: 3, removed: 2 });
    assert.equal(changes.omitted, 0);
    assert.equal(changes.civicrmVersion, '6.18.0');
    assert.deepEqual(changes.previous, { setId: unchanged.setId, civicrmVersion: '6.17.2' });

    // The manifest (in clear at the destination) names no file.
    const manifest = await readFile(join(third.set, 'manifest.json'), 'utf8');
    for (const name of ['Config.php', 'Gone.php', 'New.php', 'config-link']) assert.ok(!manifest.includes(name), `${name} in the manifest`);
  });

  test('an origin note that does not match its cache names no set; a damaged cache compares nothing', async () => {
    const code = join(work.dir, 'code2');
    const to = join(work.dir, 'dest2');
    const stateDir = join(work.dir, 'state2');
    await makeCode(code);
    const first = await backup(to, code, { stateDir });
    const origin = JSON.parse(await readFile(treeOriginPath(stateDir, repositoryIdOf(first), CODE_LABEL), 'utf8')) as { setId: string; sha256: string };
    assert.equal(origin.setId, first.setId);
    // As if killed between writing the note and renaming the cache: the note is another set's.
    await writeFile(treeOriginPath(stateDir, repositoryIdOf(first), CODE_LABEL), JSON.stringify({ ...origin, setId: 'someone-else', sha256: '0'.repeat(64) }));
    await writeFile(join(code, 'CRM/Core/New.php'), 'new');
    const second = await backup(to, code, { stateDir });
    assert.equal(second.codeChanges?.compared, true);
    assert.equal(second.codeChanges?.previous, undefined, 'the cache is compared with, but no set is named');
    assert.deepEqual(changed(second.codeChanges), ['added CRM/Core/New.php']);

    await writeFile(join(stateDir, `tree-${repositoryIdOf(first)}-${CODE_LABEL}.ndjson`), '{"p":".","t":"d","m":493,"mt":1}\nnot json\n');
    const third = await backup(to, code, { stateDir });
    assert.equal(third.codeChanges?.compared, false);
    assert.equal(third.codeChanges?.reason, 'previous-unreadable');
  });

  test('without a state dir: the previous set\'s catalog (unencrypted); an encrypted repository has nothing to compare with', async () => {
    const code = join(work.dir, 'code3');
    await makeCode(code);
    const plain = join(work.dir, 'dest3-plain');
    const first = await backup(plain, code, { civicrmVersion: '6.17.2' });
    await writeFile(join(code, 'CRM/Core/Config.php'), 'patched');
    const second = await backup(plain, code, { civicrmVersion: '6.17.2' });
    assert.deepEqual(second.codeChanges?.previous, { setId: first.setId, civicrmVersion: '6.17.2' });
    assert.deepEqual(changed(second.codeChanges), ['modified CRM/Core/Config.php']);

    const { recipient } = await generateIdentity();
    const sealed = join(work.dir, 'dest3-sealed');
    await backup(sealed, code, { recipients: [recipient] });
    const blind = await backup(sealed, code, { recipients: [recipient] });
    assert.equal(blind.codeChanges?.compared, false);
    assert.equal(blind.codeChanges?.reason, 'previous-unreadable', 'not "first set", and not everything listed as added');

    // With the state dir's cache an encrypted repository compares as well.
    const stateDir = join(work.dir, 'state3');
    const seeded = await backup(sealed, code, { recipients: [recipient], stateDir });
    assert.equal(seeded.codeChanges?.reason, 'previous-unreadable');
    await rm(join(code, 'CRM/Core/Gone.php'));
    const seen = await backup(sealed, code, { recipients: [recipient], stateDir });
    assert.deepEqual(changed(seen.codeChanges), ['removed CRM/Core/Gone.php']);
    assert.equal(seen.codeChanges?.previous?.setId, seeded.setId);
  });

  test('an upgrade-sized change: exact counts, the first paths listed, the rest counted', async () => {
    const code = join(work.dir, 'code4');
    const to = join(work.dir, 'dest4');
    const stateDir = join(work.dir, 'state4');
    await mkdir(join(code, 'vendor'), { recursive: true });
    const total = CHANGED_PATHS_LIMIT + 101;
    for (let i = 0; i < total; i += 1) await writeFile(join(code, 'vendor', `f${String(i).padStart(5, '0')}.php`), `v1 ${i}`);
    await backup(to, code, { stateDir });
    for (let i = 0; i < total; i += 2) await writeFile(join(code, 'vendor', `f${String(i).padStart(5, '0')}.php`), `v2 ${i}`);
    for (let i = 1; i < total; i += 2) await unlink(join(code, 'vendor', `f${String(i).padStart(5, '0')}.php`));
    const upgraded = (await backup(to, code, { stateDir })).codeChanges!;
    assert.deepEqual(upgraded.counts, { added: 0, modified: Math.ceil(total / 2), removed: Math.floor(total / 2) });
    assert.equal(upgraded.paths.length, CHANGED_PATHS_LIMIT);
    assert.equal(upgraded.omitted, total - CHANGED_PATHS_LIMIT);
    assert.deepEqual(upgraded.paths.slice(0, 3), [
      { path: 'vendor/f00000.php', change: 'modified' },
      { path: 'vendor/f00001.php', change: 'removed' },
      { path: 'vendor/f00002.php', change: 'modified' },
    ]);
    assert.equal(upgraded.paths.at(-1)!.path, `vendor/f${String(CHANGED_PATHS_LIMIT - 1).padStart(5, '0')}.php`);
  });
});

/** The repository id, from the set's manifest (the state dir's file names carry it). */
function repositoryIdOf(summary: BackupSummary): string {
  return (JSON.parse(readFileSync(join(summary.set, 'manifest.json'), 'utf8')) as { repository: string }).repository;
}
