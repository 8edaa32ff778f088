/**
 * Two sites backing up into ONE destination, through the built bundle: two databases on this
 * server (two CiviCRM sites sharing a backup directory or an offsite bucket prefix), each with
 * its own job file and keep-last 1, their runs interleaved. Each must keep its own newest set:
 * before retention knew sources, site B's run counted site A's sets and removed them (and the
 * other way round), so only the last run's site had a backup left.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sourceIdentity, type ManifestV2 } from '../../../ts-src/protocol/manifest.js';
import { S3Destination } from '../../../ts-src/helper/destinations/s3.js';
import { listRemoteV2Sets } from '../../../ts-src/helper/destinations/remote-repository.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from '../support/mariadb.js';
import { runHelperAsync, type CliRun } from '../support/helper-run.js';
import { startS3, S3_BUCKET, type S3Server } from '../destinations/servers.js';

const civibackup = (args: string[], env: NodeJS.ProcessEnv = {}, json = true) => runHelperAsync(args, env, { json });

const sites = { a: uniqueName('cbt_share_a'), b: uniqueName('cbt_share_b') };
const S3_SECRET_ENV = 'CBT_SHARE_S3_SECRET';
let work: string;
let s3: S3Server;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cbt_share_'));
  for (const [site, database] of Object.entries(sites)) {
    mariadbCli(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4;`);
    mariadbCli(`CREATE TABLE civicrm_contact (id INT PRIMARY KEY, display_name VARCHAR(64)) ENGINE=InnoDB; INSERT INTO civicrm_contact VALUES (1, 'Contact of site ${site}');`, database);
  }
  s3 = await startS3();
});

after(async () => {
  for (const database of Object.values(sites)) dropDatabase(database);
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

type Site = keyof typeof sites;

function writeJob(name: string, site: Site, to: string, extra: Record<string, unknown> = {}): string {
  const file = join(work, `${name}.json`);
  // The same CiviCRM domain name on both: a copied database keeps it, so it cannot tell them apart.
  writeFileSync(file, JSON.stringify({ version: 1, command: 'backup', to, site: 'Default Domain Name', trigger: `test ${site}`, ...extra }), { mode: 0o600 });
  return file;
}

/** A backup in the default format (deduplicated sets: <to>/sets/<setId>/manifest.json); retention by source is the same for both formats. */
async function backup(job: string, site: Site): Promise<CliRun & { setId: string; manifest: ManifestV2 }> {
  const run = await civibackup(['backup', '--job', job], { CIVIBACKUP_DSN: dsnText(sites[site]), [S3_SECRET_ENV]: 'S3RVER' });
  assert.equal(run.status, 0, run.output);
  const setDir = String(run.last.set);
  const manifest = JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as ManifestV2;
  assert.equal(manifest.version, 2);
  return { ...run, setId: manifest.id, manifest };
}

const setsIn = (dir: string): string[] => readdirSync(join(dir, 'sets')).filter((n) => /^\d{8}T/.test(n)).sort();
const manifestOf = (dir: string, setId: string): ManifestV2 => JSON.parse(readFileSync(join(dir, 'sets', setId, 'manifest.json'), 'utf8')) as ManifestV2;
const warningsOf = (run: CliRun, code: string) => run.events.filter((e) => e.type === 'warning' && e.code === code);

describe('two sites, one local destination, keep-last 1 each', { timeout: 300_000 }, () => {
  let shared: string;
  const newest: Partial<Record<Site, string>> = {};

  test('interleaved runs: each site keeps its own newest set; the other site\'s sets are left alone and reported', async () => {
    shared = join(work, 'shared');
    const jobs = { a: writeJob('local-a', 'a', shared, { retention: { keepLast: 1 } }), b: writeJob('local-b', 'b', shared, { retention: { keepLast: 1 } }) };
    const a1 = await backup(jobs.a, 'a');
    const b1 = await backup(jobs.b, 'b');
    assert.notEqual(sourceIdentity(a1.manifest), sourceIdentity(b1.manifest));
    assert.deepEqual(setsIn(shared), [a1.setId, b1.setId].sort(), 'the first run of each site removes nothing of the other');
    const a2 = await backup(jobs.a, 'a');
    assert.deepEqual(setsIn(shared), [b1.setId, a2.setId].sort(), 'site A\'s keep-last 1 removed A\'s older set, not B\'s');
    const warning = warningsOf(a2, 'OTHER_SOURCES_LEFT_ALONE');
    assert.equal(warning.length, 1, a2.output);
    assert.match(String(warning[0]!.message), new RegExp(`^1 set from other sources at .* was left alone .*1 from host=.*\\|db=.*/${sites.b}\\.$`));
    const retention = (a2.last.summary as { retention: { removed: string[]; otherSources: number; source: string } }).retention;
    assert.deepEqual(retention.removed, [a1.setId]);
    assert.equal(retention.otherSources, 1);
    assert.equal(retention.source, sourceIdentity(a2.manifest));
    const b2 = await backup(jobs.b, 'b');
    assert.deepEqual(setsIn(shared), [a2.setId, b2.setId].sort(), 'both sites keep their own newest set');
    newest.a = a2.setId;
    newest.b = b2.setId;
  });

  test('list shows the source of every set and that the destination is shared', async () => {
    const run = await civibackup(['list', shared], {}, false);
    assert.equal(run.status, 0, run.output);
    assert.match(run.output, new RegExp(`${newest.a}.*source host=.*/${sites.a}$`, 'm'));
    assert.match(run.output, new RegExp(`${newest.b}.*source host=.*/${sites.b}$`, 'm'));
    assert.match(run.output, /2 sources share this destination/);
    const json = await civibackup(['list', shared]);
    const sets = (json.last.summary as { sets: Array<{ setId: string; source?: string }> }).sets;
    assert.match(String(sets.find((s) => s.setId === newest.a)?.source), new RegExp(`/${sites.a}$`));
    assert.equal('thisSite' in sets[0]!, false, 'without a DSN or source id the listing site is unknown');
  });

  test('list with a site\'s DSN (as the Backups page asks) marks which sets are that site\'s; with its source id, the sets of that name', async () => {
    for (const site of ['a', 'b'] as const) {
      const run = await civibackup(['list', shared], { CIVIBACKUP_DSN: dsnText(sites[site]) });
      assert.equal(run.status, 0, run.output);
      const summary = run.last.summary as { source: string; sets: Array<{ setId: string; thisSite: boolean; source: string }> };
      assert.equal(summary.source, sourceIdentity(manifestOf(shared, newest[site]!)));
      assert.deepEqual(
        summary.sets.filter((s) => s.thisSite).map((s) => s.setId),
        [newest[site]],
        `only site ${site}'s set is marked`,
      );
    }
    const named = await civibackup(['list', shared, '--source-id', 'no-set-has-this-name'], { CIVIBACKUP_DSN: dsnText(sites.a) });
    assert.equal(named.status, 0, named.output);
    assert.deepEqual((named.last.summary as { sets: Array<{ thisSite: boolean }> }).sets.map((s) => s.thisSite), [false, false]);
    const bad = await civibackup(['list', shared, '--source-id', 'a|b']);
    assert.equal(bad.status, 2, bad.output);
  });

  test('prune by hand: the newest set\'s source unless --source says otherwise, stated in its output', async () => {
    // A third set of site A from a job without retention, so the prune below has work to do.
    const a3 = await backup(writeJob('local-a-noret', 'a', shared), 'a');
    const sourceA = sourceIdentity(a3.manifest)!;
    const dry = await civibackup(['prune', shared, '--keep-last', '1', '--dry-run'], {}, false);
    assert.equal(dry.status, 0, dry.output);
    assert.ok(dry.output.includes(`source: ${sourceA} (of the newest complete set; pass --source to choose another)`), dry.output);
    assert.match(dry.output, new RegExp(`WOULD REMOVE\\s+${newest.a}`));
    assert.match(dry.output, new RegExp(`other\\s+${newest.b}\\s+source host=.*/${sites.b}: left alone`));

    // Site B's source given explicitly: its one set is kept, A's sets are left alone.
    const b = await civibackup(['prune', shared, '--keep-last', '1', '--source', sourceIdentity(manifestOf(shared, newest.b!))!]);
    assert.equal(b.status, 0, b.output);
    assert.deepEqual((b.last.summary as { removed: string[] }).removed, []);
    assert.equal((b.last.summary as { sourceChosen: string }).sourceChosen, 'given');
    assert.deepEqual(setsIn(shared), [newest.a!, newest.b!, a3.setId].sort());

    // A mistyped source counts nothing and removes nothing, and says so.
    const typo = await civibackup(['prune', shared, '--keep-last', '1', '--source', 'no-such-site'], {}, false);
    assert.equal(typo.status, 0, typo.output);
    assert.match(typo.output, /no complete set of source no-such-site here/);
    assert.deepEqual(setsIn(shared), [newest.a!, newest.b!, a3.setId].sort());

    const run = await civibackup(['prune', shared, '--keep-last', '1']);
    assert.equal(run.status, 0, run.output);
    assert.deepEqual((run.last.summary as { removed: string[] }).removed, [newest.a]);
    assert.equal(warningsOf(run, 'OTHER_SOURCES_LEFT_ALONE').length, 1);
    assert.deepEqual(setsIn(shared), [newest.b!, a3.setId].sort());
    newest.a = a3.setId;
  });

  test('an explicit source id (job sourceId) is a source of its own, even for the same database on the same machine', async () => {
    const job = writeJob('local-a-copy', 'a', shared, { retention: { keepLast: 1 }, sourceId: 'site-a-copy' });
    const c1 = await backup(job, 'a');
    const c2 = await backup(job, 'a');
    assert.equal(c2.manifest.source.id, 'site-a-copy');
    assert.deepEqual((c2.last.summary as { retention: { removed: string[]; otherSources: number } }).retention, {
      removed: [c1.setId],
      kept: 1,
      source: 'site-a-copy',
      otherSources: 2,
    });
    assert.deepEqual(setsIn(shared), [newest.a!, newest.b!, c2.setId].sort());
    // prune --job uses the job's sourceId.
    const prune = await civibackup(['prune', '--job', job, '--dry-run'], {}, false);
    assert.equal(prune.status, 0, prune.output);
    assert.match(prune.output, /source: site-a-copy \(the job's sourceId\)/);
    const bad = await civibackup(['backup', '--job', job, '--source-id', 'not valid'], { CIVIBACKUP_DSN: dsnText(sites.a) });
    assert.equal(bad.status, 2, bad.output);
  });
});

describe('two sites, one S3 bucket prefix (s3rver), keep-last 1 each', { timeout: 300_000 }, () => {
  test('interleaved runs: each site keeps its own newest set offsite, as well as locally', async () => {
    const offsite = [{ type: 's3', name: 'objects', endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'civicrm/', forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: S3_SECRET_ENV }];
    // Separate local directories: only the offsite prefix is shared.
    const local = { a: join(work, 's3-local-a'), b: join(work, 's3-local-b') };
    for (const dir of Object.values(local)) mkdirSync(dir);
    const jobs = {
      a: writeJob('s3-a', 'a', local.a, { retention: { keepLast: 1 }, offsite }),
      b: writeJob('s3-b', 'b', local.b, { retention: { keepLast: 1 }, offsite }),
    };
    const a1 = await backup(jobs.a, 'a');
    const b1 = await backup(jobs.b, 'b');
    const a2 = await backup(jobs.a, 'a');
    const offsiteOf = (run: CliRun) => (run.last.summary as { offsite: Array<{ name: string; uploaded: boolean; removed?: string[]; otherSources?: number }> }).offsite[0]!;
    assert.deepEqual(offsiteOf(a2).removed, [a1.setId]);
    assert.equal(offsiteOf(a2).otherSources, 1);
    assert.equal(warningsOf(a2, 'OTHER_SOURCES_LEFT_ALONE').filter((w) => w.item === 'objects').length, 1, a2.output);
    const b2 = await backup(jobs.b, 'b');
    assert.deepEqual(offsiteOf(b2).removed, [b1.setId]);

    const destination = new S3Destination({ endpoint: s3.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'civicrm/', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    try {
      const remote = await listRemoteV2Sets(destination);
      assert.deepEqual(remote.map((s) => s.setId).sort(), [a2.setId, b2.setId].sort(), 'both sites keep their own newest set offsite');
      assert.ok(remote.every((s) => s.manifest && !s.problem));
    } finally {
      await destination.close();
    }
    assert.deepEqual(setsIn(local.a), [a2.setId]);
    assert.deepEqual(setsIn(local.b), [b2.setId]);

    // list --remote shows both sources.
    const list = await civibackup(['list', '--job', jobs.a, '--remote', 'objects'], { [S3_SECRET_ENV]: 'S3RVER' }, false);
    assert.equal(list.status, 0, list.output);
    assert.match(list.output, /2 sources share this destination/);
  });
});
