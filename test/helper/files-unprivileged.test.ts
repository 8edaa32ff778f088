/**
 * Permission failures, seen by an unprivileged user (root reads everything): an unreadable
 * directory to back up is DIR_MISSING naming it; an unreadable file or subdirectory inside is
 * a warning and the archive stays valid; a restore by a non-root user keeps the modes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, scratchDir, snapshotTree } from './support/files-fixtures.js';
import { PROJECT_ROOT } from './support/paths.js';

const CHILD = fileURLToPath(new URL('./support/files-unprivileged-child.ts', import.meta.url));
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

let scratch: { dir: string; cleanup: () => Promise<void> };
let result: Record<string, { ok: boolean; code?: string; message?: string; archive?: string; setDir?: string; warnings?: string[][]; files?: number }>;

before(async () => {
  if (!isRoot) return;
  scratch = await scratchDir('unpriv');
  await chmod(scratch.dir, 0o755);
  const destination = join(scratch.dir, 'dest');
  await mkdir(destination, { mode: 0o777 });
  await chmod(destination, 0o777);
  const locked = join(scratch.dir, 'locked');
  await mkdir(locked);
  await writeFile(join(locked, 'x.txt'), 'x');
  await chmod(locked, 0o000);
  const tree = join(scratch.dir, 'tree');
  await mkdir(join(tree, 'closed'), { recursive: true });
  await writeFile(join(tree, 'closed/hidden.txt'), 'hidden');
  await writeFile(join(tree, 'private.txt'), 'root only');
  await writeFile(join(tree, 'public.txt'), 'everyone', { mode: 0o640 });
  await chmod(join(tree, 'public.txt'), 0o644);
  await chmod(join(tree, 'private.txt'), 0o600);
  await chmod(join(tree, 'closed'), 0o700);
  const restoreParent = join(scratch.dir, 'restore');
  await mkdir(restoreParent);
  await chown(restoreParent, NOBODY, NOBODY);
  const child = spawnSync(
    'setpriv',
    ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, '--import', 'tsx', CHILD, destination, join(restoreParent, 'tree'), `locked=${locked}`, `tree=${tree}`],
    { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, HOME: scratch.dir } },
  );
  assert.equal(child.status, 0, child.stderr);
  result = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as typeof result;
});

after(async () => {
  await scratch?.cleanup();
});

test('an unreadable directory is DIR_MISSING and names it', { skip: !isRoot && 'needs root to switch to user nobody' }, () => {
  assert.equal((result as unknown as { uid: number }).uid, NOBODY, 'the child really ran as nobody');
  assert.equal(result.locked.ok, false);
  assert.equal(result.locked.code, 'DIR_MISSING');
  assert.match(result.locked.message ?? '', /locked cannot be read by this user/);
});

test('unreadable files and subdirectories inside are warnings; the archive stays valid', { skip: !isRoot && 'needs root to switch to user nobody' }, async () => {
  assert.equal(result.tree.ok, true, result.tree.message);
  assert.deepEqual(result.tree.warnings, [
    ['UNREADABLE', 'closed'],
    ['FILE_UNREADABLE', 'private.txt'],
  ]);
  const { stdout } = await run('tar', ['-tzf', join(result.tree.setDir ?? '', result.tree.archive ?? '')]);
  assert.deepEqual(stdout.split('\n').filter(Boolean), ['./', 'closed/', 'public.txt']);
});

test('a restore by a non-root user keeps modes', { skip: !isRoot && 'needs root to switch to user nobody' }, async () => {
  const restored = await snapshotTree(join(scratch.dir, 'restore/tree'));
  assert.equal(restored.get('public.txt')?.mode, 0o644);
  assert.equal(restored.get('closed')?.mode, 0o700);
});
