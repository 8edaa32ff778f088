/**
 * Source identity and the source filter that runs before the pure retention policy: at a
 * destination shared by two sites, each site's retention counts and removes only its own sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceIdentity, validateManifest } from '../../../ts-src/protocol/manifest.js';
import { validateJob } from '../../../ts-src/protocol/job.js';
import { applySourcedRetention, describeLeftAlone, selectSource, type SourcedRetentionSet } from '../../../ts-src/helper/retention/source.js';
import { applyRetention } from '../../../ts-src/protocol/retention-policy.js';

const db = (host: string, name: string, role = 'main') => ({ role, host, name });

test('sourceIdentity: an explicit source.id wins; otherwise host name and main database together', () => {
  assert.equal(sourceIdentity({ source: { hostname: 'web1', id: 'example-prod' }, databases: [db('localhost', 'civicrm')] }), 'example-prod');
  assert.equal(
    sourceIdentity({ source: { hostname: 'web1', site: 'Example Org' }, databases: [db('localhost', 'civicrm_log', 'logging'), db('localhost', 'civicrm')] }),
    'host=web1|db=localhost/civicrm',
  );
  assert.equal(sourceIdentity({ source: { hostname: 'web1' }, databases: [db('db.internal:3306', 'civicrm')] }), 'host=web1|db=db.internal:3306/civicrm');
});

test('sourceIdentity: a staging copy (same database name, same domain name) on another machine is another source', () => {
  const production = { source: { hostname: 'web1', site: 'Default Domain Name' }, databases: [db('localhost', 'civicrm')] };
  const staging = { source: { hostname: 'staging1', site: 'Default Domain Name' }, databases: [db('localhost', 'civicrm')] };
  const otherSiteSameServer = { source: { hostname: 'web1', site: 'Default Domain Name' }, databases: [db('localhost', 'civicrm_b')] };
  const ids = new Set([production, staging, otherSiteSameServer].map(sourceIdentity));
  assert.equal(ids.size, 3);
  // The same site run from the command line (no site recorded) or after renaming its domain
  // is still the same source: its sets keep being pruned.
  const fromCli = { source: { hostname: 'web1' }, databases: [db('localhost', 'civicrm')] };
  const renamed = { source: { hostname: 'web1', site: 'Example Org' }, databases: [db('localhost', 'civicrm')] };
  assert.equal(sourceIdentity(fromCli), sourceIdentity(production));
  assert.equal(sourceIdentity(renamed), sourceIdentity(production));
});

test('sourceIdentity: older or odd manifests are read defensively; the site alone never identifies a set', () => {
  assert.equal(sourceIdentity({ source: undefined, databases: undefined }), undefined);
  assert.equal(sourceIdentity({ source: null, databases: [] }), undefined);
  assert.equal(sourceIdentity({ source: { site: 'Example Org' }, databases: [] }), undefined);
  assert.equal(sourceIdentity({ source: { hostname: '' }, databases: [db('h', '', 'main')] }), undefined);
  // A non-string id (a damaged or foreign manifest) falls back to the derived key.
  assert.equal(sourceIdentity({ source: { hostname: 'web1', id: 42 as unknown as string }, databases: [] }), 'host=web1');
});

test('manifests and job files without the new source.id / sourceId stay valid; a bad sourceId is refused', () => {
  const manifest = {
    format: 'civibackup-set',
    formatVersion: 1,
    setId: '20261126T010000Z-abcd',
    source: { hostname: 'web1' },
    parts: [],
    databases: [],
    files: [],
  };
  assert.deepEqual(validateManifest(manifest), []);
  assert.deepEqual(validateManifest({ ...manifest, source: { hostname: 'web1', id: 'example-prod' } }), []);
  const job = { version: 1, command: 'backup', to: '/var/backups/civicrm' };
  assert.deepEqual(validateJob(job), []);
  assert.deepEqual(validateJob({ ...job, sourceId: 'example-prod' }), []);
  assert.equal(validateJob({ ...job, sourceId: 'has space|pipe' }).length, 1);
});

const NOW = new Date('2026-11-26T12:00:00Z');
const at = (hoursAgo: number): string => new Date(NOW.getTime() - hoursAgo * 3_600_000).toISOString();
const set = (id: string, hoursAgo: number, source: string | undefined, extra: Partial<SourcedRetentionSet> = {}): SourcedRetentionSet => ({
  id,
  time: at(hoursAgo),
  complete: true,
  ...(source !== undefined ? { source } : {}),
  ...extra,
});

// Two sites sharing one destination, their runs interleaved; one older set without identity,
// an incomplete leftover and an old incomplete one.
const shared: SourcedRetentionSet[] = [
  set('b3', 1, 'B'),
  set('a3', 2, 'A'),
  set('b2', 25, 'B'),
  set('a2', 26, 'A'),
  set('a1', 50, 'A'),
  set('old', 100, undefined),
  { id: 'young-incomplete', time: at(3), complete: false },
  { id: 'old-incomplete', time: at(48), complete: false },
];

test('the defect: the policy over every set at a shared destination removes the other site\'s newest set', () => {
  const removed = applyRetention(shared, { keepLast: 1 }, NOW).filter((d) => d.action === 'remove').map((d) => d.id);
  assert.ok(removed.includes('a3'), 'site B\'s keep-last 1 removes site A\'s only recent set');
});

test('keep-last 1 for each source keeps each source\'s own newest set; other sources are left alone and reported', () => {
  const a = applySourcedRetention(shared, { keepLast: 1 }, NOW, { source: 'A' });
  assert.equal(a.source, 'A');
  assert.equal(a.chosen, 'given');
  const removedA = a.decisions.filter((d) => d.action === 'remove').map((d) => d.id).sort();
  assert.deepEqual(removedA, ['a1', 'a2', 'old-incomplete']);
  assert.deepEqual(a.decisions.find((d) => d.id === 'a3')?.reasons, ['newest complete set', 'last 1/1']);
  assert.deepEqual(a.leftAlone.map((s) => s.id).sort(), ['b2', 'b3', 'old']);
  assert.equal(a.leftAlone.find((s) => s.id === 'old')?.source, undefined);
  // Nothing left alone gets a decision, so nothing left alone can be removed.
  for (const other of a.leftAlone) assert.equal(a.decisions.find((d) => d.id === other.id), undefined);

  assert.equal(a.completeCounted, 3);
  assert.equal(applySourcedRetention(shared, { keepLast: 1 }, NOW, { source: 'no-such-site' }).completeCounted, 0);

  const b = applySourcedRetention(shared, { keepLast: 1 }, NOW, { source: 'B' });
  assert.deepEqual(b.decisions.filter((d) => d.action === 'remove').map((d) => d.id).sort(), ['b2', 'old-incomplete']);
  assert.equal(b.decisions.find((d) => d.id === 'b3')?.action, 'keep');
  assert.ok(!b.decisions.some((d) => d.id.startsWith('a')));

  assert.equal(
    describeLeftAlone(a.leftAlone, '/backups'),
    '3 sets from other sources at /backups were left alone (not counted, not removed): 2 from B; 1 from (no source identity: made by an older helper?).',
  );
  assert.equal(describeLeftAlone([], '/backups'), undefined);
});

test('without a source, the newest complete set\'s source is pruned (the id breaks a tie)', () => {
  const chosen = selectSource(shared, {});
  assert.equal(chosen.source, 'B');
  assert.equal(chosen.chosen, 'newest complete set');
  const tie = selectSource([set('20261126T110000Z-aaaa', 1, 'X'), set('20261126T110000Z-bbbb', 1, 'Y')], {});
  assert.equal(tie.source, 'Y');
  // Only sets without identity: no source; they are left alone unless the person opts in.
  const legacy = [set('l2', 1, undefined), set('l1', 30, undefined)];
  const none = applySourcedRetention(legacy, { keepLast: 1 }, NOW, {});
  assert.equal(none.chosen, 'none');
  assert.deepEqual(none.decisions, []);
  assert.equal(none.leftAlone.length, 2);
  const optedIn = applySourcedRetention(legacy, { keepLast: 1 }, NOW, { includeUnidentified: true });
  assert.deepEqual(optedIn.decisions.map((d) => [d.id, d.action]), [['l2', 'keep'], ['l1', 'remove']]);
});

test('opting in counts sets without identity with the chosen source; damaged sets keep their rule', () => {
  const withOld = applySourcedRetention(shared, { keepLast: 1 }, NOW, { source: 'A', includeUnidentified: true });
  assert.equal(withOld.decisions.find((d) => d.id === 'old')?.action, 'remove');
  assert.deepEqual(withOld.leftAlone.map((s) => s.id).sort(), ['b2', 'b3']);

  const damaged = applySourcedRetention([set('a2', 1, 'A', { verification: 'damaged' }), set('a1', 30, 'A'), set('b1', 2, 'B', { verification: 'damaged' })], { keepLast: 1 }, NOW, { source: 'A' });
  assert.deepEqual(damaged.decisions.map((d) => [d.id, d.action]), [['a2', 'keep'], ['a1', 'keep']]);
  assert.match(damaged.decisions[0]!.reasons.join(), /damaged/);
  assert.deepEqual(damaged.leftAlone.map((s) => s.id), ['b1']);
});
