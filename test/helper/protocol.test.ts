import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatSetId, isSafeRelativePath, setIdTime, SET_ID_PATTERN, validateManifest } from '../../ts-src/protocol/manifest.js';
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
