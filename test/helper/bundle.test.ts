import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOOL_VERSION } from '../../ts-src/helper/version.js';
import { HELPER_BUNDLE, HELPER_CHUNKS, HELPER_PACK_WORKER } from './support/paths.js';

test('the helper bundle (entry point, chunks, pack worker) runs alone in an empty folder with no node_modules above it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'civibackup-bundle-'));
  try {
    copyFileSync(HELPER_BUNDLE, join(dir, 'civibackup.mjs'));
    copyFileSync(HELPER_PACK_WORKER, join(dir, 'civibackup-pack-worker.mjs'));
    cpSync(HELPER_CHUNKS, join(dir, 'helper-chunks'), { recursive: true });
    const version = spawnSync(process.execPath, ['civibackup.mjs', '--version'], { cwd: dir, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), TOOL_VERSION);
    // a command that loads a bundled library from its chunk (age) works too
    const keygen = spawnSync(process.execPath, ['civibackup.mjs', 'keygen', '--out', 'key.txt', '--json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(keygen.status, 0, keygen.stderr);
    const result = keygen.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; summary?: { recipient: string } }).at(-1);
    assert.equal(result?.type, 'result');
    assert.match(result?.summary?.recipient ?? '', /^age1[0-9a-z]{58}$/);
    // an encrypted deduplicated backup starts the pack worker from beside the entry point
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree', 'note.txt'), 'attachment\n');
    const backup = spawnSync(process.execPath, ['civibackup.mjs', 'backup', '--no-db', '--to', 'dest', '--files', 'uploads=tree', '--recipient', result!.summary!.recipient, '--state-dir', 'state', '--json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(backup.status, 0, backup.stdout + backup.stderr);
    // without it, the first new blob fails with CONFIG saying what to do, not a stack trace
    rmSync(join(dir, 'civibackup-pack-worker.mjs'));
    writeFileSync(join(dir, 'tree', 'new.txt'), 'a new attachment\n');
    const broken = spawnSync(process.execPath, ['civibackup.mjs', 'backup', '--no-db', '--to', 'dest', '--files', 'uploads=tree', '--recipient', result!.summary!.recipient, '--state-dir', 'state', '--json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(broken.status, 2, broken.stdout + broken.stderr);
    const error = JSON.parse(broken.stdout.trim().split('\n').at(-1)!) as { type: string; code: string; message: string };
    assert.equal(error.code, 'CONFIG');
    assert.match(error.message, /civibackup-pack-worker\.mjs is missing .*release zip/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the entry point loads no chunk before a run needs one: a files-only backup and a list run without the chunks', () => {
  // mysql2, the AWS SDK, ssh2 and age live in dist/helper-chunks/ and are imported where a run
  // first uses them; a static import of any of them would make every command parse megabytes.
  const dir = mkdtempSync(join(tmpdir(), 'civibackup-entry-'));
  try {
    copyFileSync(HELPER_BUNDLE, join(dir, 'civibackup.mjs'));
    copyFileSync(HELPER_PACK_WORKER, join(dir, 'civibackup-pack-worker.mjs'));
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree', 'note.txt'), 'attachment\n');
    const run = (args: string[]) => spawnSync(process.execPath, ['civibackup.mjs', ...args, '--json'], { cwd: dir, encoding: 'utf8' });
    const backup = run(['backup', '--no-db', '--to', 'dest', '--files', 'uploads=tree', '--state-dir', 'state']);
    assert.equal(backup.status, 0, backup.stdout + backup.stderr);
    const list = run(['list', 'dest']);
    assert.equal(list.status, 0, list.stdout + list.stderr);
    const result = JSON.parse(list.stdout.trim().split('\n').at(-1)!) as { type: string };
    assert.equal(result.type, 'result');
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
