/**
 * The life of a deduplicated (format v2) destination through the built helper, with a real
 * MariaDB database and a real directory: three backups with changes between them; each set
 * restores the database and the tree of ITS time after later sets changed them; a flipped
 * byte in a shared pack makes verify exit 3 naming every set that needs it; a prune killed
 * half-way leaves every kept set restorable; prune frees what no kept set (of any source)
 * needs; 0.1.0 sets in the same destination are listed, verified and pruned beside them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManifestV2 } from '../../ts-src/protocol/manifest.js';
import { snapshotDatabase, type DatabaseSnapshot } from './support/db-snapshot.js';
import { diffSnapshots, snapshotTree, type NodeSnapshot } from './support/files-fixtures.js';
import { assertBundleBuilt, runHelperAsync, type CliRun } from './support/helper-run.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';
import { PROJECT_ROOT } from './support/paths.js';
import { createRestoreFixture } from './support/restore-fixture.js';

const SOURCE = 'lifecycle';
const V1_FIXTURES = join(PROJECT_ROOT, 'test/fixtures/sets-0.1.0/destination');

interface Taken {
  id: string;
  path: string;
  database: DatabaseSnapshot;
  tree: Map<string, NodeSnapshot>;
}

let work: string;
let destination: string;
let tree: string;
let database: string;
const sets: Taken[] = [];
const databases: string[] = [];
/** The v2 set of a second source sharing the destination (last tests). */
let otherPath = '';

function newDatabase(tag: string): string {
  const name = uniqueName(`cbt_dl${tag}`);
  databases.push(name);
  return name;
}

function ok(run: CliRun, what: string): CliRun {
  assert.equal(run.status, 0, `${what}: ${run.output.slice(-3000)}`);
  return run;
}

async function backup(): Promise<Taken> {
  const run = ok(await runHelperAsync(['backup', '--to', destination, '--files', `custom=${tree}`, '--source-id', SOURCE, '--state-dir', join(work, 'state')], { CIVIBACKUP_DSN: dsnText(database) }), 'backup');
  const path = String(run.last.set);
  const taken = { id: path.split('/').pop()!, path, database: await snapshotDatabase(database), tree: await snapshotTree(tree) };
  sets.push(taken);
  // Set ids carry the time to the second: keep them apart and in order.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return taken;
}

/** Restores a set into a new database and directory and compares both with what was taken. */
async function assertRestores(set: Taken, where = destination): Promise<void> {
  const db = newDatabase('r');
  const target = join(work, `restore-${set.id}-${randomBytes(3).toString('hex')}`);
  ok(await runHelperAsync(['restore', join(where, 'sets', set.id), '--db', dsnText(db), '--files', `custom=${target}`]), `restore ${set.id}`);
  assert.deepEqual(await snapshotDatabase(db), set.database, `${set.id}: the database of its time`);
  assert.deepEqual(diffSnapshots(set.tree, await snapshotTree(target)), [], `${set.id}: the tree of its time`);
  await rm(target, { recursive: true, force: true });
  dropDatabase(db);
}

async function bytesUnder(root: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function manifestOf(set: Taken, where = destination): Promise<ManifestV2> {
  return JSON.parse(await readFile(join(where, 'sets', set.id, 'manifest.json'), 'utf8')) as ManifestV2;
}

before(async () => {
  assertBundleBuilt();
  work = await mkdtemp(join(tmpdir(), 'cbt_dedup_lifecycle_'));
  destination = join(work, 'dest');
  tree = join(work, 'custom');
  database = newDatabase('src');
  await createRestoreFixture(database, 400);
  await mkdir(join(tree, 'attachments/2026'), { recursive: true });
  await mkdir(join(tree, 'empty'));
  await writeFile(join(tree, 'attachments/2026/scan-1.pdf'), randomBytes(300_000));
  await writeFile(join(tree, 'attachments/2026/notes.txt'), 'first version of the notes\n'.repeat(200));
  await writeFile(join(tree, 'readme.txt'), 'hello\n');
  await utimes(join(tree, 'readme.txt'), new Date('2025-01-02T03:04:05Z'), new Date('2025-01-02T03:04:05Z'));
});

after(async () => {
  for (const name of databases) dropDatabase(name);
  await rm(work, { recursive: true, force: true });
});

test('three backups with changes between them: the re-runs store only what changed', { timeout: 300_000 }, async () => {
  const first = await backup();

  // Between 1 and 2: rows change, a file changes, one is added, one is renamed.
  mariadbCli("UPDATE contact SET first_name = 'Changed' WHERE id <= 20; INSERT INTO cycle_a VALUES (3, NULL); DELETE FROM no_pk WHERE code = 'b';", database);
  await writeFile(join(tree, 'attachments/2026/notes.txt'), 'second version of the notes\n'.repeat(200));
  await writeFile(join(tree, 'attachments/2026/scan-2.pdf'), randomBytes(250_000));
  await rename(join(tree, 'readme.txt'), join(tree, 'README.txt'));
  const second = await backup();

  // Between 2 and 3: everything set 2 stored changes again or goes (so a prune that keeps only
  // set 3 can free set 2's pack): the same rows change again, cycle_a and no_pk are back as in
  // set 1, scan-2 goes, the notes change again; and more: other rows, a mode, a new file.
  mariadbCli("UPDATE contact SET first_name = 'Third' WHERE id <= 20; DELETE FROM cycle_a WHERE id = 3; INSERT INTO no_pk VALUES ('b', 'second'); UPDATE activity SET subject = 'Third' WHERE id % 7 = 0; INSERT INTO audit (what) VALUES ('third');", database);
  await unlink(join(tree, 'attachments/2026/scan-2.pdf'));
  await writeFile(join(tree, 'attachments/2026/notes.txt'), 'third version of the notes\n'.repeat(200));
  await chmod(join(tree, 'attachments/2026/notes.txt'), 0o600);
  await writeFile(join(tree, 'new-file.txt'), 'third\n');
  const third = await backup();

  const [m1, m2, m3] = [await manifestOf(first), await manifestOf(second), await manifestOf(third)];
  for (const m of [m1, m2, m3]) assert.equal(m.version, 2);
  // The renamed readme and the unchanged scan cost nothing; scan-2 (250 KB random) is most of set 2's cost.
  assert.ok(m2.stats.addedBytes >= 250_000 && m2.stats.addedBytes < 250_000 + 50_000, `set 2 added ${m2.stats.addedBytes} (scan-2 is 250 KB; scan-1 is not stored again)`);
  assert.ok(m3.stats.addedBytes < 100_000, `set 3 added ${m3.stats.addedBytes}`);
  assert.ok(m3.stats.referencedBytes > m3.stats.addedBytes);
});

test('each set restores the database and tree of ITS time after later sets changed them', { timeout: 300_000 }, async () => {
  assert.equal(sets.length, 3);
  assert.notDeepEqual(sets[0].database, sets[2].database, 'the database changed between the sets');
  for (const set of sets) await assertRestores(set);
});

test('0.1.0 sets in the same destination: listed beside v2 sets with the real total, verified, deep verified', { timeout: 300_000 }, async () => {
  await cp(V1_FIXTURES, destination, { recursive: true });
  const run = ok(await runHelperAsync(['list', destination]), 'list');
  const summary = run.last.summary as { sets: Array<{ setId: string; format?: number; bytes: number; addedBytes?: number; referencedBytes?: number }>; destinationBytes: number };
  const v2 = summary.sets.filter((s) => s.format === 2);
  const v1 = summary.sets.filter((s) => s.format === 1);
  assert.deepEqual(v2.map((s) => s.setId).sort(), sets.map((s) => s.id).sort());
  assert.equal(v1.length, 3);
  let packBytes = 0;
  for (const shard of await readdir(join(destination, 'data'))) for (const name of await readdir(join(destination, 'data', shard))) packBytes += (await stat(join(destination, 'data', shard, name))).size;
  const v1Bytes = v1.reduce((sum, s) => sum + s.bytes, 0);
  assert.equal(summary.destinationBytes, packBytes + v1Bytes, 'packs once plus the v1 sets, not the sum of the sets');
  assert.ok(summary.destinationBytes < summary.sets.reduce((sum, s) => sum + s.bytes, 0));
  for (const set of v2) {
    const m = await manifestOf(sets.find((s) => s.id === set.setId)!);
    assert.equal(set.addedBytes, m.stats.addedBytes);
    assert.equal(set.referencedBytes, m.stats.referencedBytes);
  }
  assert.match(run.stdout, /"destinationBytes"/);

  for (const set of sets) ok(await runHelperAsync(['verify', set.path]), `verify ${set.id}`);
  ok(await runHelperAsync(['verify', join(destination, '20261206T104944Z-eebbb811')]), 'verify v1');
  // The newest: retention always keeps the newest set proven restorable.
  const deep = ok(await runHelperAsync(['verify', sets[2].path, '--deep', '--scratch-db', dsnText(newDatabase('deep'))]), 'deep verify');
  assert.equal((deep.last.summary as { state: string }).state, 'restorable');
});

test('a flipped byte in a shared pack: verify exits 3 naming every set that needs it; restore writes nothing', { timeout: 300_000 }, async () => {
  const copy = join(work, 'damaged');
  await cp(destination, copy, { recursive: true });
  // The first set's pack holds the unchanged tables every later set re-uses.
  const pack = (await manifestOf(sets[0], copy)).packs[0].name;
  const path = join(copy, 'data', pack.slice(0, 2), pack);
  const bytes = await readFile(path);
  // A byte of a table none of the changes touched: the middle of the pack is the data.
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  await writeFile(path, bytes);
  const needing = [];
  for (const set of sets) if ((await manifestOf(set, copy)).packs.some((p) => p.name === pack)) needing.push(set.id);
  assert.equal(needing.length, 3, 'every set lists the first pack');

  const run = await runHelperAsync(['verify', join(copy, 'sets', sets[2].id)]);
  assert.equal(run.status, 3, run.output);
  assert.equal(run.last.code, 'SET_DAMAGED');
  const message = String(run.last.message);
  assert.match(message, new RegExp(pack));
  // Exactly the sets that need the damaged blob: its own check cannot name fewer.
  const named = sets.filter((s) => message.includes(s.id)).map((s) => s.id);
  assert.ok(named.length >= 2, `names the sets sharing the blob: ${message}`);
  for (const id of named) {
    const record = JSON.parse(await readFile(join(copy, 'sets', id, 'verification.json'), 'utf8')) as { state: string };
    assert.equal(record.state, 'damaged', `${id} is marked damaged`);
  }

  const target = newDatabase('dmg');
  const restore = await runHelperAsync(['restore', join(copy, 'sets', sets[2].id), '--db', dsnText(target), '--files', `custom=${join(work, 'never')}`]);
  assert.equal(restore.status, 3, restore.output);
  assert.equal(mariadbCli(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${target}'`).trim(), '0', 'nothing restored');
  assert.equal(await stat(join(work, 'never')).then(() => true, () => false), false);
});

test('a prune killed half-way (SIGKILL) leaves every kept set restorable; the next prune finishes', { timeout: 300_000 }, async () => {
  const copy = join(work, 'killed');
  await cp(destination, copy, { recursive: true });
  const child = join(PROJECT_ROOT, 'test/helper/support/prune-kill-child.ts');
  // keep-last 1: sets 1 and 2 go; set 2's own pack (scan-2) is freed. Killed before its 2nd deletion (the pack, after its index).
  const killed = spawnSync(process.execPath, ['--import', 'tsx', child, copy, '1', SOURCE, '2'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.equal(killed.signal, 'SIGKILL', killed.stderr + killed.stdout);
  assert.deepEqual((await readdir(join(copy, 'sets'))).sort(), [sets[2].id], 'the manifests of the removed sets went first');
  await assertRestores(sets[2], copy);
  ok(await runHelperAsync(['verify', join(copy, 'sets', sets[2].id)]), 'verify after the kill');

  const before = await bytesUnder(join(copy, 'data'));
  const again = ok(await runHelperAsync(['prune', copy, '--keep-last', '1', '--source', SOURCE]), 'prune again');
  assert.ok(await bytesUnder(join(copy, 'data')) < before, 'the pack without its index is removed by the next prune');
  assert.ok(((again.last.summary as { repository: { removedPacks: number } }).repository.removedPacks) >= 1);
  await assertRestores(sets[2], copy);
});

test('prune frees what no kept set needs, never another source\'s data, and keeps 0.1.0 sets of other sources', { timeout: 300_000 }, async () => {
  // A second site shares the destination; its set re-uses many of the same blobs.
  const other = newDatabase('other');
  await createRestoreFixture(other, 50);
  const otherRun = ok(await runHelperAsync(['backup', '--to', destination, '--source-id', 'other-site', '--state-dir', join(work, 'state-other')], { CIVIBACKUP_DSN: dsnText(other) }), 'backup other');
  otherPath = String(otherRun.last.set);
  const otherDb = await snapshotDatabase(other);

  const before = await bytesUnder(join(destination, 'data'));
  const run = ok(await runHelperAsync(['prune', destination, '--keep-last', '2', '--source', SOURCE]), 'prune keep-last 2');
  assert.deepEqual((run.last.summary as { removed: string[] }).removed, [sets[0].id]);
  // Set 1's pack also holds what sets 2 and 3 re-use: it stays (no repacking).
  assert.equal(await bytesUnder(join(destination, 'data')), before);
  for (const set of sets.slice(1)) await assertRestores(set);

  const run1 = ok(await runHelperAsync(['prune', destination, '--keep-last', '1', '--source', SOURCE]), 'prune keep-last 1');
  assert.deepEqual((run1.last.summary as { removed: string[] }).removed, [sets[1].id]);
  const after1 = await bytesUnder(join(destination, 'data'));
  assert.ok(after1 <= before - 250_000, `set 2's own data is freed: ${before} -> ${after1}`);
  await assertRestores(sets[2]);

  // The other site's set and the 0.1.0 sets of other sources are untouched and whole.
  const db = newDatabase('or');
  ok(await runHelperAsync(['restore', otherPath, '--db', dsnText(db)]), 'restore other source');
  assert.deepEqual(await snapshotDatabase(db), otherDb);
  ok(await runHelperAsync(['verify', otherPath]), 'verify other');
  const names = await readdir(destination);
  for (const id of ['20261206T104944Z-eebbb811', '20261206T104947Z-c956c0e2', '20261206T104949Z-b2e6d595']) assert.ok(names.includes(id), `${id} kept`);
  ok(await runHelperAsync(['verify', join(destination, '20261206T104947Z-c956c0e2')]), 'verify v1 after prune');
});

test('delete SET: a v2 set goes with the data only it needed; a 0.1.0 set goes whole; the rest stays restorable', { timeout: 300_000 }, async () => {
  const before = await bytesUnder(join(destination, 'data'));
  const run = ok(await runHelperAsync(['delete', otherPath]), 'delete v2');
  assert.ok(((run.last.summary as { repository: { removedPacks: number } }).repository.removedPacks) >= 1);
  assert.ok((await bytesUnder(join(destination, 'data'))) < before, 'its own pack is freed');
  assert.equal(await stat(otherPath).then(() => true, () => false), false);

  const v1 = join(destination, '20261206T104947Z-c956c0e2');
  ok(await runHelperAsync(['delete', v1]), 'delete v1');
  assert.equal(await stat(v1).then(() => true, () => false), false);

  const list = ok(await runHelperAsync(['list', destination]), 'list');
  const ids = (list.last.summary as { sets: Array<{ setId: string }> }).sets.map((s) => s.setId);
  assert.deepEqual(ids, [sets[2].id, '20261206T104949Z-b2e6d595', '20261206T104944Z-eebbb811']);
  await assertRestores(sets[2]);
});
