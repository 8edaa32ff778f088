/**
 * `civibackup prune` through the built bundle: a local destination (dry run, real run, the
 * lock, usage errors) and an offsite S3 destination named in a job file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { formatSetId } from '../../../ts-src/protocol/manifest.js';
import { S3Destination } from '../../../ts-src/helper/destinations/s3.js';
import { listAllRemoteSets, uploadSet } from '../../../ts-src/helper/destinations/remote-sets.js';
import { runHelperAsync } from '../support/helper-run.js';
import { makeFakeSet, type FakeSet } from '../destinations/fixtures.js';
import { startS3, S3_BUCKET, type S3Server } from '../destinations/servers.js';

const civibackup = (args: string[], env: NodeJS.ProcessEnv = {}, json = true) => runHelperAsync(args, env, { json });

const DAY = 86_400_000;
let work: string;
let dest: string;
const sets: FakeSet[] = [];
let incompleteOld: string;
let incompleteYoung: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cbt_prune_'));
  dest = join(work, 'dest');
  mkdirSync(dest);
  const now = Date.now();
  for (let age = 0; age < 6; age += 1) sets.push(await makeFakeSet(dest, [100, 200], new Date(now - age * DAY - 60_000)));
  writeFileSync(join(sets[4]!.dir, 'pinned'), 'kept for the auditors\n');
  writeFileSync(join(sets[5]!.dir, 'verification.json'), JSON.stringify({ state: 'restorable', at: new Date().toISOString() }));
  incompleteOld = formatSetId(new Date(now - 3 * DAY), 'deadbeef');
  incompleteYoung = formatSetId(new Date(now - 3600_000), 'running1');
  for (const id of [incompleteOld, incompleteYoung]) mkdirSync(join(dest, id, 'db'), { recursive: true });
});
after(() => rmSync(work, { recursive: true, force: true }));

const present = (): string[] => readdirSync(dest).filter((n) => /^\d{8}T/.test(n)).sort();

test('usage: no keep rule, a bad number, a missing directory', async () => {
  const none = await civibackup(['prune', dest]);
  assert.equal(none.status, 2);
  assert.equal(none.last.code, 'USAGE');
  const bad = await civibackup(['prune', dest, '--keep-last', 'x']);
  assert.equal(bad.status, 2);
  const missing = await civibackup(['prune', join(work, 'nope'), '--keep-last', '1']);
  assert.equal(missing.status, 2);
  assert.equal(missing.last.code, 'USAGE');
});

test('dry run lists every decision with its reason and removes nothing', async () => {
  const before = present();
  const run = await civibackup(['prune', dest, '--keep-last', '2', '--dry-run'], {}, false);
  assert.equal(run.status, 0, run.output);
  assert.deepEqual(present(), before);
  assert.match(run.output, new RegExp(`WOULD REMOVE\\s+${sets[2]!.setId}\\s+not kept by any rule`));
  assert.match(run.output, new RegExp(`keep\\s+${sets[4]!.setId}\\s+pinned`));
  assert.match(run.output, new RegExp(`keep\\s+${sets[5]!.setId}\\s+newest set proven restorable`));
  assert.match(run.output, new RegExp(`keep\\s+${incompleteYoung}\\s+incomplete, younger than 24 h`));
  assert.match(run.output, /dry run: 3 of 8 sets would be removed/);
});

test('a live lock holder blocks prune (LOCKED, exit 1) and nothing is removed', async () => {
  const before = present();
  // The test process is alive and is not the helper: its lock is live.
  writeFileSync(join(dest, '.civibackup.lock'), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId: 'test' }));
  try {
    const run = await civibackup(['prune', dest, '--keep-last', '1']);
    assert.equal(run.status, 1, run.output);
    assert.equal(run.last.code, 'LOCKED');
    assert.deepEqual(present(), before);
  } finally {
    rmSync(join(dest, '.civibackup.lock'), { force: true });
  }
});

test('prune removes what the policy does not keep, and releases the lock', async () => {
  const run = await civibackup(['prune', dest, '--keep-last', '2']);
  assert.equal(run.status, 0, run.output);
  const summary = run.last.summary as { removed: string[] };
  assert.deepEqual([...summary.removed].sort(), [sets[2]!.setId, sets[3]!.setId, incompleteOld].sort());
  assert.deepEqual(present(), [sets[0]!.setId, sets[1]!.setId, sets[4]!.setId, sets[5]!.setId, incompleteYoung].sort());
  assert.equal(existsSync(join(dest, '.civibackup.lock')), false);
});

test('prune --job FILE --remote NAME applies the policy on S3 with the secret from the environment', async () => {
  let s3: S3Server | undefined;
  const destination = () => new S3Destination({ endpoint: s3!.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'pr', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
  try {
    s3 = await startS3();
    const d = destination();
    for (const set of sets.slice(0, 2)) await uploadSet(set.dir, set.manifest, d);
    await d.close();
    const job = join(work, 'job.json');
    writeFileSync(
      job,
      JSON.stringify({
        version: 1,
        command: 'backup',
        to: dest,
        retention: { keepLast: 1 },
        offsite: [{ type: 's3', name: 'objects', endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'pr', forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: 'CBT_PRUNE_S3_SECRET' }],
      }),
    );
    const noSecret = await civibackup(['prune', '--job', job, '--remote', 'objects']);
    assert.equal(noSecret.status, 2, noSecret.output);
    assert.equal(noSecret.last.code, 'CONFIG');
    const unknown = await civibackup(['prune', '--job', job, '--remote', 'elsewhere'], { CBT_PRUNE_S3_SECRET: 'S3RVER' });
    assert.equal(unknown.status, 2);
    const run = await civibackup(['prune', '--job', job, '--remote', 'objects'], { CBT_PRUNE_S3_SECRET: 'S3RVER' });
    assert.equal(run.status, 0, run.output);
    assert.deepEqual((run.last.summary as { removed: string[] }).removed, [sets[1]!.setId]);
    const check = destination();
    assert.deepEqual((await listAllRemoteSets(check)).map((s) => s.setId), [sets[0]!.setId]);
    await check.close();
  } finally {
    await s3?.stop();
  }
});
