/**
 * Offsite copies of deduplicated (format 2) sets, against real servers: s3rver and a private
 * sshd. Only new packs are sent (an unchanged re-run sends the manifest and nothing else);
 * a set is complete offsite only when everything it needs is there (an upload cut half-way
 * publishes no manifest, and the next run sends only what is missing); listing and pruning
 * work past 1,000 objects (S3 pagination); a prune never runs while an upload holds its lock;
 * the SFTP copy restores with the helper, row for row.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ManifestV2 } from '../../../ts-src/protocol/manifest.js';
import { S3Destination } from '../../../ts-src/helper/destinations/s3.js';
import { RetryingDestination } from '../../../ts-src/helper/destinations/retry.js';
import type { Destination } from '../../../ts-src/helper/destinations/destination.js';
import { takeRemoteLock } from '../../../ts-src/helper/destinations/remote-lock.js';
import { listRemoteV2Sets, packKey, pruneRemoteRepository, uploadRepositorySet } from '../../../ts-src/helper/destinations/remote-repository.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from '../support/mariadb.js';
import { runHelperAsync } from '../support/helper-run.js';
import { FaultyDestination } from './fixtures.js';
import { startS3WithPaging, startSshd, S3_BUCKET, type SshServer } from './servers.js';

const civibackup = runHelperAsync;
const source = uniqueName('cbt_offdd_src');
const restored = uniqueName('cbt_offdd_rst');
const S3_SECRET_ENV = 'CBT_OFFDD_S3_SECRET';
const SFTP_KEY_ENV = 'CBT_OFFDD_SFTP_KEY';
let work: string;
let s3: Awaited<ReturnType<typeof startS3WithPaging>>;
let ssh: SshServer;

interface Outcome {
  name: string;
  uploaded: boolean;
  bytes?: number;
  sentBytes?: number;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cbt_offdd_'));
  mariadbCli(`CREATE DATABASE \`${source}\` CHARACTER SET utf8mb4;`);
  mariadbCli(
    `CREATE TABLE contact (id INT PRIMARY KEY, name VARCHAR(100), note TEXT) ENGINE=InnoDB;
     INSERT INTO contact SELECT seq, CONCAT('Contact ', seq), REPEAT(MD5(seq), 10) FROM seq_1_to_2000;`,
    source,
  );
  const custom = join(work, 'custom');
  mkdirSync(join(custom, 'scans'), { recursive: true });
  for (let i = 0; i < 6; i += 1) writeFileSync(join(custom, 'scans', `scan-${i}.pdf`), randomBytes(700_000));
  writeFileSync(join(custom, 'notes.txt'), 'a note\n'.repeat(1000));
  s3 = await startS3WithPaging();
  ssh = await startSshd();
  assert.equal((await civibackup(['keygen', '--out', join(work, 'key.txt')])).status, 0);
});

after(async () => {
  dropDatabase(source);
  dropDatabase(restored);
  await s3?.stop();
  ssh?.stop();
  rmSync(work, { recursive: true, force: true });
});

const recipient = (): string => /# public key: (age1[0-9a-z]+)/.exec(readFileSync(join(work, 'key.txt'), 'utf8'))![1]!;
const secrets = (): NodeJS.ProcessEnv => ({ CIVIBACKUP_DSN: dsnText(source), [S3_SECRET_ENV]: 'S3RVER', [SFTP_KEY_ENV]: ssh.privateKey });
// Through the retry wrapper, as every upload runs (s3rver answers a listing racing a write
// with a 500 InternalError now and then, which a real client retries).
// Listing pages of 250 keys, so the test pages several times.
const s3At = (prefix: string): Destination =>
  new RetryingDestination(
    new S3Destination({ endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', listPageSize: 250 }),
  );

function writeJob(name: string, extra: Record<string, unknown> = {}): string {
  const file = join(work, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      command: 'backup',
      to: join(work, `dest-${name}`),
      stateDir: join(work, `state-${name}`),
      files: [{ label: 'custom', path: join(work, 'custom') }],
      encryption: { recipients: [recipient()] },
      offsite: [
        { type: 's3', name: 'objects', endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: name, forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: S3_SECRET_ENV },
        { type: 'sftp', name: 'box', host: '127.0.0.1', port: ssh.port, username: 'root', path: join(ssh.root, name), privateKeyEnv: SFTP_KEY_ENV, hostKey: ssh.hostKeyFingerprint },
      ],
      ...extra,
    }),
    { mode: 0o600 },
  );
  return file;
}

describe('offsite copies of deduplicated sets', { timeout: 300_000 }, () => {
  test('the first run sends every pack; an unchanged re-run sends well under 1 % of that; both sets list, verify and (from SFTP) restore', async () => {
    const job = writeJob('dd');
    const first = await civibackup(['backup', '--job', job], secrets());
    assert.equal(first.status, 0, first.output);
    const firstOffsite = (first.last.summary as { offsite: Outcome[] }).offsite;
    assert.deepEqual(firstOffsite.map((o) => [o.name, o.uploaded]), [['objects', true], ['box', true]]);
    const firstSent = firstOffsite[0]!.sentBytes!;
    assert.ok(firstSent > 4_000_000, `first upload sent ${firstSent} bytes`);

    const second = await civibackup(['backup', '--job', job], secrets());
    assert.equal(second.status, 0, second.output);
    const secondOffsite = (second.last.summary as { offsite: Outcome[] }).offsite;
    for (const outcome of secondOffsite) {
      assert.equal(outcome.uploaded, true);
      assert.ok(outcome.sentBytes! < firstSent / 100, `${outcome.name}: unchanged re-run sent ${outcome.sentBytes} bytes (first: ${firstSent})`);
    }

    for (const remote of ['objects', 'box']) {
      const listed = await civibackup(['list', '--job', job, '--remote', remote], secrets());
      assert.equal(listed.status, 0, listed.output);
      const sets = (listed.last.summary as { sets: Array<{ setId: string; format?: number }> }).sets;
      assert.deepEqual(sets.map((s) => s.setId), [(second.last.summary as { setId: string }).setId, (first.last.summary as { setId: string }).setId]);
      assert.ok(sets.every((s) => s.format === 2));
      const verified = await civibackup(['verify', 'latest', '--job', job, '--remote', remote], secrets());
      assert.equal(verified.status, 0, verified.output);
    }

    // The SFTP copy is a directory on this machine: restore it with the helper, as a person
    // would after fetching the destination, and compare row for row.
    const setId = (second.last.summary as { setId: string }).setId;
    const restore = await civibackup(['restore', join(ssh.root, 'dd', 'sets', setId), '--db', dsnText(restored), '--identity', join(work, 'key.txt'), '--files', `custom=${join(work, 'restored-custom')}`], {});
    assert.equal(restore.status, 0, restore.output);
    assert.equal(mariadbCli('CHECKSUM TABLE contact EXTENDED;', restored).split('\t').at(-1), mariadbCli('CHECKSUM TABLE contact EXTENDED;', source).split('\t').at(-1));
    for (let i = 0; i < 6; i += 1) {
      assert.deepEqual(readFileSync(join(work, 'restored-custom', 'scans', `scan-${i}.pdf`)), readFileSync(join(work, 'custom', 'scans', `scan-${i}.pdf`)));
    }
  });

  test('an upload cut half-way publishes no manifest; the next upload sends only what is missing', async () => {
    const job = writeJob('cut', { offsite: [] });
    const run = await civibackup(['backup', '--job', job], secrets());
    assert.equal(run.status, 0, run.output);
    const setId = (run.last.summary as { setId: string }).setId;
    const root = join(work, 'dest-cut');
    const manifest = JSON.parse(readFileSync(join(root, 'sets', setId, 'manifest.json'), 'utf8')) as ManifestV2;
    assert.ok(manifest.packs.length >= 1);
    const target = s3At('cut');
    // Fail the save of the first pack mid-stream (saves: the lock, repository.json, then the pack).
    const faulty = new FaultyDestination(target, new Map([[3, { kind: "auth", midStream: true }]]));
    await assert.rejects(uploadRepositorySet(root, manifest, faulty, { runId: 'cut-1' }));
    assert.deepEqual((await listRemoteV2Sets(target)).filter((s) => s.manifest), [], 'no complete set after a cut upload');
    assert.deepEqual(await target.list('locks/'), [], 'the lock is released after a failure');
    const again = await uploadRepositorySet(root, manifest, target, { runId: 'cut-2' });
    assert.equal(again.alreadyPresent, false);
    assert.equal(again.packsSent, manifest.packs.length);
    assert.equal((await listRemoteV2Sets(target)).filter((s) => s.manifest).length, 1);
    const third = await uploadRepositorySet(root, manifest, target, { runId: 'cut-3' });
    assert.equal(third.alreadyPresent, true);
    await target.close();
  });

  test('prune past 1,000 objects (S3 pagination) frees only unreferenced packs, and waits for no upload: a held upload lock makes it skip', async () => {
    const job = writeJob('many', { offsite: [] });
    const run = await civibackup(['backup', '--job', job], secrets());
    assert.equal(run.status, 0, run.output);
    const setId = (run.last.summary as { setId: string }).setId;
    const root = join(work, 'dest-many');
    const manifest = JSON.parse(readFileSync(join(root, 'sets', setId, 'manifest.json'), 'utf8')) as ManifestV2;
    const target = s3At('many');
    // 1,100 packs no set needs (as killed runs of other sites would leave), put straight
    // through the S3 API, then the set.
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    for (let i = 0; i < 1100; i += 1) {
      const name = randomBytes(32).toString('hex');
      await client.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `many/${packKey(name)}`, Body: Buffer.from(`orphan ${i}`) }));
    }
    client.destroy();
    await uploadRepositorySet(root, manifest, target, { runId: 'many-up' });
    const listBefore = s3.requests.filter((r) => r.startsWith('GET') && r.includes('list-type=2')).length;
    // An upload of another run holds its lock: the prune skips and says why.
    const upload = await takeRemoteLock(target, 'shared', 'other-site-upload');
    const skipped = await pruneRemoteRepository(target, 'prune-1');
    assert.match(skipped.skipped ?? '', /other-site-upload/);
    assert.equal((await target.list('data/')).length, manifest.packs.length + 1100, 'nothing deleted while an upload holds its lock');
    await upload.release();
    const pruned = await pruneRemoteRepository(target, 'prune-2');
    assert.equal(pruned.removedPacks, 1100);
    const left = (await target.list('data/')).map((o) => o.key.split('/').pop());
    assert.deepEqual(left.sort(), manifest.packs.map((p) => p.name).sort(), 'only the packs the set needs are left');
    const listCalls = s3.requests.filter((r) => r.startsWith('GET') && r.includes('list-type=2')).length - listBefore;
    assert.ok(listCalls >= 5, `listing 1,100+ objects took ${listCalls} list requests: pagination was used`);
    // The set is still complete and verifies.
    const verified = await civibackup(['verify', setId, '--job', writeJob('many-v', { to: root, offsite: [{ type: 's3', name: 'objects', endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'many', forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: S3_SECRET_ENV }] }), '--remote', 'objects'], secrets());
    assert.equal(verified.status, 0, verified.output);
    await target.close();
  });
});
