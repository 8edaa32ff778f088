import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOOL_VERSION } from '../../ts-src/helper/version.js';
import { HELPER_BUNDLE } from './support/paths.js';

test('the helper bundle runs alone in an empty folder with no node_modules above it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'civibackup-bundle-'));
  try {
    copyFileSync(HELPER_BUNDLE, join(dir, 'civibackup.mjs'));
    const version = spawnSync(process.execPath, ['civibackup.mjs', '--version'], { cwd: dir, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), TOOL_VERSION);
    // a command that loads the bundled libraries (age) works too
    const keygen = spawnSync(process.execPath, ['civibackup.mjs', 'keygen', '--out', 'key.txt', '--json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(keygen.status, 0, keygen.stderr);
    const result = keygen.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; summary?: { recipient: string } }).at(-1);
    assert.equal(result?.type, 'result');
    assert.match(result?.summary?.recipient ?? '', /^age1[0-9a-z]{58}$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 2 with a stable code in the last JSON line', () => {
  const run = spawnSync(process.execPath, [HELPER_BUNDLE, 'list', '/nonexistent/civibackup', '--json'], { encoding: 'utf8' });
  assert.equal(run.status, 2);
  const last = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { type: string; code: string; hint: string };
  assert.equal(last.type, 'error');
  assert.equal(last.code, 'USAGE');
  assert.ok(last.hint.length > 0);
});
