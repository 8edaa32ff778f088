import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatSetId, isSafeRelativePath, newSetId, setIdTime, SET_ID_PATTERN, validateManifest, type Manifest } from '../../ts-src/protocol/manifest.js';
import { countOtherTables, isCiviCrmTable } from '../../ts-src/protocol/civicrm-tables.js';
import { summarizeSet } from '../../ts-src/helper/set/set-store.js';
import { parseEventLine } from '../../ts-src/protocol/events.js';
import { ERROR_CODES, exitCodeFor } from '../../ts-src/protocol/errors.js';
import { validateJob } from '../../ts-src/protocol/job.js';
import { TOOL_VERSION } from '../../ts-src/helper/version.js';

test('set ids sort by time and round-trip their timestamp', () => {
  const a = formatSetId(new Date('2026-01-02T03:04:05.678Z'), 'abc123');
  assert.equal(a, '20260102T030405Z-abc123');
  assert.match(a, SET_ID_PATTERN);
  assert.equal(setIdTime(a)?.toISOString(), '2026-01-02T03:04:05.000Z');
  const b = formatSetId(new Date('2026-01-02T03:04:06Z'), 'aaaa');
  assert.ok(a < b);
  assert.equal(setIdTime('not-a-set'), null);
});

test('new set ids of the same second sort in the order they were made, whatever their random part', () => {
  const earlier = newSetId(new Date('2026-01-02T03:04:05.009Z'), 'ffffff');
  const later = newSetId(new Date('2026-01-02T03:04:05.010Z'), '000000');
  assert.equal(earlier, '20260102T030405Z-009ffffff');
  assert.match(later, SET_ID_PATTERN);
  assert.ok(earlier < later);
});

test('manifest paths must stay inside the set', () => {
  for (const bad of ['', '/etc/passwd', '../x', 'db/../../x', 'db//x', 'a\\b', './x', 'x\0']) assert.equal(isSafeRelativePath(bad), false, bad);
  for (const good of ['manifest.json', 'db/000-prelude.sql.gz', 'files/custom.tar.gz.age']) assert.equal(isSafeRelativePath(good), true, good);
  const problems = validateManifest({ format: 'civibackup-set', formatVersion: 1, setId: '20260102T030405Z-abcd', parts: [{ path: '../x', bytes: 1, sha256: 'z' }], databases: [], files: [] });
  assert.deepEqual(problems, ['parts[0].path unsafe or missing', 'parts[0].sha256 invalid']);
});

test('event lines parse, non-events are ignored', () => {
  assert.equal(parseEventLine('PHP Warning: something'), null);
  assert.equal(parseEventLine('{"v":2,"seq":1,"type":"start"}'), null);
  assert.equal(parseEventLine('{"v":1,"seq":3,"runId":"r","time":"t","type":"phase","phase":"data"}')?.type, 'phase');
});

test('error codes map to the documented exit codes', () => {
  assert.equal(exitCodeFor('SET_DAMAGED'), 3);
  assert.equal(exitCodeFor('USAGE'), 2);
  assert.equal(exitCodeFor('DB_LOST'), 1);
  for (const [code, info] of Object.entries(ERROR_CODES)) assert.ok(info.hint.length > 20, `${code} has a hint`);
});

test('job validation names each problem', () => {
  assert.deepEqual(validateJob({ version: 1, command: 'backup', to: '/b', files: [{ label: 'Bad Label', path: 'rel' }] }), [
    'directory label "Bad Label" must match /^[a-z0-9][a-z0-9_-]{0,63}$/',
    'directory "Bad Label" needs an absolute path',
  ]);
  assert.deepEqual(validateJob({ version: 1, command: 'backup', to: '/b' }), []);
});

test('tool version matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(TOOL_VERSION, pkg.version);
});

test('CiviCRM\'s tables are civicrm_* and log_civicrm_*; a set summary counts the others (a CMS sharing the database) and names its trigger', () => {
  for (const name of ['civicrm_contact', 'civicrm_value_extra_1', 'log_civicrm_contact', 'CiviCRM_Contact']) assert.equal(isCiviCrmTable(name), true, name);
  for (const name of ['wp_users', 'wp_posts', 'users', 'xcivicrm_x', 'log_wp_users', 'civicrm']) assert.equal(isCiviCrmTable(name), false, name);
  assert.equal(countOtherTables(['civicrm_contact', 'wp_users', 'wp_options', 'log_civicrm_contact']), 2);
  const table = (name: string) => ({ name, engine: 'InnoDB', rows: 1, snapshot: true, parts: [] });
  const manifest = {
    setId: '20260102T030405Z-abcd',
    createdAt: 'c',
    finishedAt: 'f',
    source: { hostname: 'web1' },
    parts: [],
    encryption: null,
    files: [],
    trigger: 'safety-before-restore',
    databases: [{ role: 'main', name: 'wpcivi', host: 'localhost', tables: [table('civicrm_contact'), table('wp_users'), table('wp_posts')] }],
  } as unknown as Manifest;
  const summary = summarizeSet(manifest, '/x', { state: 'unverified', at: '' });
  assert.deepEqual(summary.databases, [{ role: 'main', name: 'wpcivi', tables: 3, rows: 3, otherTables: 2 }]);
  assert.equal(summary.trigger, 'safety-before-restore');
  assert.equal('trigger' in summarizeSet({ ...manifest, trigger: undefined }, '/x', { state: 'unverified', at: '' }), false);
});
