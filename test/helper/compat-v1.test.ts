/**
 * Sets written by CiviBackup 0.1.0 (format version 1, test/fixtures/sets-0.1.0/, made by the
 * 0.1.0 helper as its README says) stay listable, verifiable (quick and deep), restorable
 * and prunable with today's helper. These fixtures are never regenerated with a newer helper:
 * they are what sites already hold.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../ts-src/protocol/manifest.js';
import type { DatabaseSnapshot } from './support/db-snapshot.js';
import { snapshotDatabase } from './support/db-snapshot.js';
import { diffSnapshots, snapshotTree, type NodeSnapshot } from './support/files-fixtures.js';
import { assertBundleBuilt, runHelperAsync } from './support/helper-run.js';
import { dropDatabase, dsnText, uniqueName } from './support/mariadb.js';
import { PROJECT_ROOT } from './support/paths.js';

const FIXTURES = join(PROJECT_ROOT, 'test/fixtures/sets-0.1.0');
/** gzip, with a separate logging database and the directory "custom"; source v010-fixture. */
const PLAIN = '20261206T104944Z-eebbb811';
/** --compression none, database only; source v010-fixture. */
const UNCOMPRESSED = '20261206T104947Z-c956c0e2';
/** age-encrypted to test-identity.txt, gzip, database and "custom"; source host=vm|db=... */
const ENCRYPTED = '20261206T104949Z-b2e6d595';
const ALL = [PLAIN, UNCOMPRESSED, ENCRYPTED];

interface Expected {
  databases: { main: DatabaseSnapshot; logging: DatabaseSnapshot };
  directories: { custom: Record<string, Omit<NodeSnapshot, 'mtimeNs'> & { mtimeNs: string }> };
}

let work: string;
let destination: string;
let expected: Expected;
const identity = join(FIXTURES, 'test-identity.txt');
const databases: string[] = [];

function newDatabase(tag: string): string {
  const name = uniqueName(`cbt_v1${tag}`);
  databases.push(name);
  return name;
}

/** Times to the millisecond: 0.1.0's archives keep about a microsecond, not the source's nanoseconds. */
function toMilliseconds(tree: Map<string, NodeSnapshot>): Map<string, NodeSnapshot> {
  return new Map([...tree].map(([rel, n]) => [rel, { ...n, mtimeNs: (n.mtimeNs / 1_000_000n) * 1_000_000n }]));
}

function expectedTree(): Map<string, NodeSnapshot> {
  return toMilliseconds(new Map(Object.entries(expected.directories.custom).map(([rel, n]) => [rel, { ...n, mtimeNs: BigInt(n.mtimeNs) }])));
}

/** A fresh copy of the fixture destination: verify writes verification.json, prune removes sets. */
async function freshDestination(): Promise<string> {
  const dir = await mkdtemp(join(work, 'dest-'));
  await cp(join(FIXTURES, 'destination'), dir, { recursive: true });
  return dir;
}

before(async () => {
  assertBundleBuilt();
  work = await mkdtemp(join(tmpdir(), 'cbt_compat_v1_'));
  destination = await freshDestination();
  expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')) as Expected;
});

after(async () => {
  for (const name of databases) dropDatabase(name);
  await rm(work, { recursive: true, force: true });
});

test('list shows the 0.1.0 sets with their sizes, encryption and sources', async () => {
  const run = await runHelperAsync(['list', destination]);
  assert.equal(run.status, 0, run.output);
  const sets = (run.last.summary as { sets: Array<{ setId: string; bytes: number; encrypted: boolean; source?: string; parts: number }> }).sets;
  assert.deepEqual(sets.map((s) => s.setId), [...ALL].reverse());
  for (const set of sets) {
    const manifest = JSON.parse(await readFile(join(destination, set.setId, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(manifest.formatVersion, 1);
    assert.equal(set.bytes, manifest.parts.reduce((sum, p) => sum + p.bytes, 0));
    assert.equal(set.parts, manifest.parts.length);
    assert.equal(set.encrypted, set.setId === ENCRYPTED);
  }
  assert.equal(sets.find((s) => s.setId === PLAIN)?.source, 'v010-fixture');
  assert.match(sets.find((s) => s.setId === ENCRYPTED)?.source ?? '', /^host=vm\|db=127\.0\.0\.1:3306\/reader_v010_main$/);
});

test('quick verify: every 0.1.0 set is intact; the encrypted one by hash without a key, read back with it', async () => {
  for (const id of ALL) {
    const run = await runHelperAsync(['verify', join(destination, id)]);
    assert.equal(run.status, 0, `${id}: ${run.output}`);
    assert.equal((run.last.summary as { state: string }).state, 'hashes-ok');
    const hashOnly = (run.last.summary as { hashOnly: string[] }).hashOnly;
    assert.equal(hashOnly.length > 0, id === ENCRYPTED, `${id}: hash-only parts ${hashOnly.join(', ')}`);
  }
  const keyed = await runHelperAsync(['verify', join(destination, ENCRYPTED), '--identity', identity]);
  assert.equal(keyed.status, 0, keyed.output);
  assert.deepEqual((keyed.last.summary as { hashOnly: string[] }).hashOnly, []);
});

test('deep verify restores every 0.1.0 set into a scratch database and compares the row digests', { timeout: 300_000 }, async () => {
  for (const id of ALL) {
    const run = await runHelperAsync(['verify', join(destination, id), '--deep', '--scratch-db', dsnText(newDatabase('deep')), '--identity', identity]);
    assert.equal(run.status, 0, `${id}: ${run.output.slice(-3000)}`);
    assert.equal((run.last.summary as { state: string }).state, 'restorable');
    const record = JSON.parse(await readFile(join(destination, id, 'verification.json'), 'utf8')) as { state: string };
    assert.equal(record.state, 'restorable');
  }
});

test('restore of each 0.1.0 set gives the database(s) and directory 0.1.0 backed up', { timeout: 300_000 }, async () => {
  for (const id of ALL) {
    const main = newDatabase('main');
    const args = ['restore', join(destination, id), '--db', dsnText(main), '--identity', identity];
    const logging = id === PLAIN ? newDatabase('log') : undefined;
    if (logging) args.push('--logging-db', dsnText(logging));
    const target = join(work, `restored-${id}`);
    const hasFiles = id !== UNCOMPRESSED;
    if (hasFiles) args.push('--files', `custom=${target}`);
    const run = await runHelperAsync(args);
    assert.equal(run.status, 0, `${id}: ${run.output.slice(-3000)}`);
    assert.deepEqual(await snapshotDatabase(main), expected.databases.main, `${id}: main database`);
    if (logging) assert.deepEqual(await snapshotDatabase(logging), expected.databases.logging, `${id}: logging database`);
    if (hasFiles) assert.deepEqual(diffSnapshots(expectedTree(), toMilliseconds(await snapshotTree(target))), [], `${id}: directory custom`);
  }
});

test('a flipped byte in a 0.1.0 part: verify exits 3 and names the part', async () => {
  const damaged = await freshDestination();
  const part = join(damaged, PLAIN, 'db/200-data-contact.sql.gz');
  const bytes = await readFile(part);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  await writeFile(part, bytes);
  const run = await runHelperAsync(['verify', join(damaged, PLAIN)]);
  assert.equal(run.status, 3, run.output);
  assert.equal(run.last.type, 'error');
  assert.equal(run.last.code, 'SET_DAMAGED');
  assert.match(String(run.last.message), /db\/200-data-contact\.sql\.gz/);
  assert.match(String(run.last.message), new RegExp(PLAIN));
});

test('prune counts and removes only its own source among 0.1.0 sets', async () => {
  const dir = await freshDestination();
  const run = await runHelperAsync(['prune', dir, '--keep-last', '1', '--source', 'v010-fixture']);
  assert.equal(run.status, 0, run.output);
  assert.deepEqual((run.last.summary as { removed: string[] }).removed, [PLAIN]);
  const left = (await readdir(dir)).filter((n) => /^\d{8}T/.test(n)).sort();
  assert.deepEqual(left, [UNCOMPRESSED, ENCRYPTED]);
  // What is left still verifies.
  const verify = await runHelperAsync(['verify', join(dir, UNCOMPRESSED)]);
  assert.equal(verify.status, 0, verify.output);
  assert.equal(await stat(join(dir, PLAIN)).then(() => true, () => false), false);
});
