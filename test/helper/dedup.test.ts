/**
 * Deduplicated (format 2) backups end to end, through the built helper as a user runs it,
 * on real files and a real MariaDB database:
 *  - an unchanged re-run stores almost nothing (< 1 % of the first run's bytes), with the
 *    state-dir tree cache and without it (the previous set's catalog);
 *  - renaming a directory costs nothing; changing 1 % of the files adds about their size;
 *  - a set restores the tree of ITS time after later sets changed the directory;
 *  - an encrypted destination shows no file, directory or table name anywhere;
 *  - a backup killed (SIGKILL) at several points leaves every complete set intact and no
 *    manifest of its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManifestV2 } from '../../ts-src/protocol/manifest.js';
import { listManifestsV2, readCatalog } from '../../ts-src/helper/backup/run-backup-v2.js';
import { readTree, restoreTree } from '../../ts-src/helper/files/tree-reader.js';
import { openRepository, type Repository } from '../../ts-src/helper/repo/repository.js';
import { assertBundleBuilt, runHelperAsync, startHelper, type CliRun } from './support/helper-run.js';
import { createDatabase, dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';
import { diffSnapshots, snapshotTree } from './support/files-fixtures.js';

const database = uniqueName('cbt_dedup');
const TABLE = 'supporter_ledger_qxv';
const DIRS = ['Quarterly-Reports-Zetaq', 'Scans-Omegaq', 'Scans-Omegaq/Deep-Lambdaq'];
let work: string;
let src: string;

function fileName(i: number): string {
  return i % 3 === 0 ? `${DIRS[0]}/note-${i}-kappaq.txt` : i % 3 === 1 ? `${DIRS[1]}/scan-${i}-kappaq.pdf` : `${DIRS[2]}/photo-${i}-kappaq.jpg`;
}
const FILES = 300;

before(async () => {
  assertBundleBuilt();
  work = await mkdtemp(join(tmpdir(), 'cbt_dedup_'));
  src = join(work, 'attachments');
  for (const d of DIRS) mkdirSync(join(src, d), { recursive: true });
  for (let i = 0; i < FILES; i += 1) {
    const content = i % 3 === 0 ? Buffer.from(`Minutes of meeting ${i}. `.repeat(200)) : randomBytes(40_000 + i * 17);
    writeFileSync(join(src, fileName(i)), content);
  }
  await createDatabase(database);
  mariadbCli(
    `CREATE TABLE ${TABLE} (id INT PRIMARY KEY, who VARCHAR(100), note TEXT) ENGINE=InnoDB;
     INSERT INTO ${TABLE} SELECT seq, CONCAT('Supporter ', seq), REPEAT(CONCAT('gift ', seq, ' '), 20) FROM seq_1_to_5000;`,
    database,
  );
});

after(() => {
  dropDatabase(database);
  rmSync(work, { recursive: true, force: true });
});

async function backup(dest: string, extra: string[] = []): Promise<CliRun> {
  const run = await runHelperAsync(['backup', '--to', dest, '--db', dsnText(database), '--files', `att=${src}`, ...extra]);
  assert.equal(run.status, 0, run.output);
  return run;
}

async function newest(dest: string): Promise<ManifestV2> {
  return (await listManifestsV2(dest))[0]!;
}

/** Every blob a set names is readable and every file of its trees restores by its hash. */
async function assertSetIntact(repo: Repository, manifest: ManifestV2, into: string): Promise<void> {
  const reader = repo.reader();
  const catalog = await readCatalog(manifest, reader);
  for (const d of catalog.databases) for (const id of [...d.schemaBlobs, ...d.objectBlobs, ...d.tables.flatMap((t) => t.blobs)]) await reader.get(id);
  for (const f of catalog.files) await restoreTree(f, reader, join(into, `${manifest.id}-${f.label}`));
}

describe('deduplicated backups (format 2)', () => {
  test('unchanged re-run, rename, 1 % changed, a set restores the tree of its time', async () => {
    const dest = join(work, 'plain');
    const state = join(work, 'state-plain');
    await backup(dest, ['--state-dir', state]);
    const first = await newest(dest);
    const firstBytes = first.stats.addedBytes;
    assert.ok(firstBytes > 8_000_000, `first run stored ${firstBytes} bytes`);
    assert.equal(first.summary.files, FILES);
    assert.equal(first.summary.tables, 1);
    const snapshotAtFirst = await snapshotTree(src);

    await backup(dest, ['--state-dir', state]);
    const unchanged = await newest(dest);
    assert.notEqual(unchanged.id, first.id);
    assert.ok(unchanged.stats.addedBytes < firstBytes / 100, `unchanged re-run added ${unchanged.stats.addedBytes} of ${firstBytes}`);
    assert.equal(unchanged.stats.referencedBytes, first.stats.referencedBytes);

    // Without the state dir's cache the previous set's catalog tells what is unchanged.
    await backup(dest);
    const noCache = await newest(dest);
    assert.ok(noCache.stats.addedBytes < firstBytes / 100, `re-run without cache added ${noCache.stats.addedBytes}`);

    renameSync(join(src, DIRS[1]), join(src, 'Renamed-Scans'));
    await backup(dest, ['--state-dir', state]);
    const renamed = await newest(dest);
    assert.ok(renamed.stats.addedBytes < firstBytes / 100, `a renamed directory added ${renamed.stats.addedBytes}`);

    // 1 % of the files (3 of 300) change: about their size is added.
    let changedBytes = 0;
    for (const i of [4, 5, 7]) {
      const path = join(src, fileName(i).replace(DIRS[1], 'Renamed-Scans'));
      const content = randomBytes(40_000);
      writeFileSync(path, content);
      changedBytes += content.length;
    }
    mariadbCli(`UPDATE ${TABLE} SET note = 'changed' WHERE id = 4242;`, database);
    await backup(dest, ['--state-dir', state]);
    const changed = await newest(dest);
    assert.ok(changed.stats.addedBytes >= changedBytes, `changed files added ${changed.stats.addedBytes} (< ${changedBytes})`);
    assert.ok(changed.stats.addedBytes < changedBytes + firstBytes / 100, `1 % changed added ${changed.stats.addedBytes} for ${changedBytes} changed bytes`);

    // The first set still restores the tree as it was then.
    const repo = await openRepository(dest, { compression: 'gzip', level: 6 });
    const catalog = await readCatalog(first, repo.reader());
    const restored = join(work, 'restored-first');
    await restoreTree(catalog.files[0]!, repo.reader(), restored);
    assert.deepEqual(diffSnapshots(snapshotAtFirst, await snapshotTree(restored)), []);
    let entries = 0;
    for await (const _ of readTree(catalog.files[0]!, repo.reader())) entries += 1;
    assert.equal(entries, 1 + DIRS.length + FILES);
  });

  test('an encrypted destination shows no file, directory or table name; dedup still works', async () => {
    const dest = join(work, 'encrypted');
    const state = join(work, 'state-enc');
    const keygen = await runHelperAsync(['keygen', '--out', join(work, 'key.txt')]);
    assert.equal(keygen.status, 0, keygen.output);
    const recipient = /# public key: (age1[0-9a-z]+)/.exec(readFileSync(join(work, 'key.txt'), 'utf8'))![1]!;
    // A fifo is skipped with a warning that names it: the warning's text must not leak either.
    const fifo = join(src, DIRS[0], 'pipe-kappaq');
    execFileSync('mkfifo', [fifo]);
    // No compression: only the encryption can hide the names.
    await backup(dest, ['--recipient', recipient, '--state-dir', state, '--compression', 'none']);
    const first = await newest(dest);
    assert.deepEqual(first.encryption?.recipients, [recipient]);
    await backup(dest, ['--recipient', recipient, '--state-dir', state, '--compression', 'none']);
    const second = await newest(dest);
    assert.ok(second.stats.addedBytes < first.stats.addedBytes / 100, `encrypted unchanged re-run added ${second.stats.addedBytes} of ${first.stats.addedBytes}`);

    const names = [TABLE, 'Renamed-Scans', ...DIRS.map((d) => d.split('/').pop()!), 'kappaq', 'Minutes of meeting', 'Supporter 42', src];
    let leaks: string[] = [];
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        for (const name of names) if (entry.name.includes(name)) leaks.push(`${path} (name)`);
        if (entry.isDirectory()) visit(path);
        else {
          const bytes = readFileSync(path);
          for (const name of names) if (bytes.includes(Buffer.from(name))) leaks.push(`${path} holds "${name}"`);
        }
      }
    };
    visit(dest);
    assert.deepEqual(leaks, []);
    // The same scan of an unencrypted destination finds them: the check can fail.
    const control = join(work, 'control');
    await backup(control, ['--compression', 'none']);
    leaks = [];
    visit(control);
    rmSync(fifo);
    for (const name of [TABLE, 'kappaq', 'Minutes of meeting', 'Supporter 42', 'Quarterly-Reports-Zetaq', 'Deep-Lambdaq']) {
      assert.ok(leaks.some((l) => l.includes(`"${name}"`)), `control: "${name}" found unencrypted`);
    }
  });

  test('--format, --no-db and --state-dir are checked; --no-db backs up directories only; --format 1 writes a 0.1.0 set', async () => {
    const dest = join(work, 'flags');
    const bad = await runHelperAsync(['backup', '--to', dest, '--no-db', '--files', `att=${src}`, '--format', '3']);
    assert.equal(bad.status, 2, bad.output);
    assert.match(String(bad.last.message), /--format must be 2/);
    const nothing = await runHelperAsync(['backup', '--to', dest, '--no-db']);
    assert.equal(nothing.status, 2, nothing.output);
    assert.match(String(nothing.last.message), /--no-db needs at least one --files/);
    const filesOnly = await runHelperAsync(['backup', '--to', dest, '--no-db', '--files', `att=${src}`]);
    assert.equal(filesOnly.status, 0, filesOnly.output);
    const manifest = await newest(dest);
    assert.deepEqual(manifest.summary.databases, []);
    assert.equal(manifest.summary.files, FILES);
    const v1 = await runHelperAsync(['backup', '--to', dest, '--format', '1', '--db', dsnText(database)]);
    assert.equal(v1.status, 0, v1.output);
    const v1Sets = readdirSync(dest).filter((n) => /^\d{8}T\d{6}Z-/.test(n));
    assert.equal(v1Sets.length, 1, 'a v1 set directory beside the repository');
    assert.equal(JSON.parse(readFileSync(join(dest, v1Sets[0]!, 'manifest.json'), 'utf8')).formatVersion, 1);
    assert.equal((await listManifestsV2(dest)).length, 1, 'the v2 set is still there');
  });

  test('a killed backup leaves every complete set intact and no manifest of its own', async () => {
    const dest = join(work, 'killed');
    const state = join(work, 'state-killed');
    // Enough new data per run that the kill lands while it is being written.
    const bulk = join(src, 'bulk');
    mkdirSync(bulk, { recursive: true });
    await backup(dest, ['--state-dir', state]);
    const complete = (await listManifestsV2(dest)).length;
    assert.equal(complete, 1);

    const points: Array<{ name: string; when: (events: Array<Record<string, unknown>>) => boolean; expectNoManifest: boolean }> = [
      { name: 'while files are read', when: (ev) => ev.some((e) => e.type === 'progress' && e.phase === 'files' && Number(e.bytes) > 5_000_000), expectNoManifest: true },
      { name: 'during the database dump', when: (ev) => ev.some((e) => e.type === 'phase' && e.phase !== 'prepare'), expectNoManifest: true },
      { name: 'at the manifest phase', when: (ev) => ev.some((e) => e.type === 'phase' && e.phase === 'manifest'), expectNoManifest: false },
    ];
    for (const [n, point] of points.entries()) {
      for (let i = 0; i < 6; i += 1) writeFileSync(join(bulk, `run${n}-${i}.bin`), randomBytes(4 * 1024 * 1024));
      const before = new Set((await listManifestsV2(dest)).map((m) => m.id));
      const helper = startHelper(['backup', '--to', dest, '--db', dsnText(database), '--files', `att=${src}`, '--state-dir', state]);
      let killed = false;
      const timer = setInterval(() => {
        if (!killed && point.when(helper.events() as unknown as Array<Record<string, unknown>>)) {
          killed = true;
          helper.child.kill('SIGKILL');
        }
      }, 2);
      const done = await helper.done;
      clearInterval(timer);
      assert.equal(killed, true, `${point.name}: the run ended before the kill point (status ${done.status})`);
      assert.equal(done.signal, 'SIGKILL', point.name);
      const after = await listManifestsV2(dest);
      const added = after.filter((m) => !before.has(m.id));
      if (point.expectNoManifest) assert.deepEqual(added, [], `${point.name}: a killed run left a manifest`);
      assert.ok(added.length <= 1);
      const repo = await openRepository(dest, { compression: 'gzip', level: 6 });
      for (const manifest of after) await assertSetIntact(repo, manifest, join(work, `killed-restore-${n}`));
    }
    // The next run after the kills completes and is intact too.
    await backup(dest, ['--state-dir', state]);
    const repo = await openRepository(dest, { compression: 'gzip', level: 6 });
    await assertSetIntact(repo, await newest(dest), join(work, 'killed-restore-last'));
    assert.ok(existsSync(join(dest, 'repository.json')));
    rmSync(bulk, { recursive: true, force: true });
  });
});
