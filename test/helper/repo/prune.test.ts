/**
 * Prune and locks on a real directory: unneeded packs (index first), packs without index and
 * temp packs of killed runs go, needed packs stay readable; prune refuses while a backup holds
 * its shared lock (LOCKED, saying what to do), also when that backup is another process; stale
 * locks (dead process on this host, or not refreshed for too long) do not block; and a prune
 * killed with SIGKILL before each of its deletions in turn leaves every needed blob readable
 * and intact, with a later prune finishing the job.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { createReporter } from '../../../ts-src/helper/core/reporter.js';
import { checkBlobs } from '../../../ts-src/helper/repo/check.js';
import { indexPath, packPath } from '../../../ts-src/helper/repo/layout.js';
import { acquireLock } from '../../../ts-src/helper/repo/lock.js';
import { pruneRepository } from '../../../ts-src/helper/repo/prune.js';
import { openRepository, type Repository } from '../../../ts-src/helper/repo/repository.js';

const CHILD = fileURLToPath(new URL('./prune-child.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_repo_prune_'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const open = (root: string): Promise<Repository> => openRepository(root, { create: true, compression: 'gzip', level: 6, packTargetBytes: 64 * 1024 });
const reporter = () => createReporter({ mode: 'silent', keep: true });

function packsOnDisk(root: string): string[] {
  const data = join(root, 'data');
  if (!existsSync(data)) return [];
  return readdirSync(data).flatMap((shard) => readdirSync(join(data, shard))).sort();
}

/** Two "backups": an old one whose packs are unneeded except one, and a kept one. */
async function buildRepository(root: string): Promise<{ needed: Set<string>; neededIds: string[]; contents: Map<string, Buffer>; unneeded: string[] }> {
  const repo = await open(root);
  const contents = new Map<string, Buffer>();
  const run = async (blobs: number): Promise<{ packs: string[]; ids: string[] }> => {
    const writer = await repo.writer();
    const ids: string[] = [];
    for (let i = 0; i < blobs; i += 1) {
      const content = randomBytes(20_000);
      const id = await writer.put(content);
      contents.set(id, content);
      ids.push(id);
    }
    return { packs: await writer.finish(), ids };
  };
  const old = await run(12);
  const kept = await run(12);
  const needed = new Set([...kept.packs, old.packs[0]]);
  const reader = repo.reader();
  const neededIds = [...old.ids, ...kept.ids].filter((id) => needed.has(reader.packOf(id) as string));
  return { needed, neededIds, contents, unneeded: old.packs.slice(1) };
}

async function assertNeededIntact(root: string, neededIds: string[], contents: Map<string, Buffer>, what: string): Promise<void> {
  const repo = await open(root);
  const reader = repo.reader();
  for (const id of neededIds) assert.ok((await reader.get(id)).equals(contents.get(id) as Buffer), `${what}: blob ${id} readable`);
  assert.deepEqual(await checkBlobs(repo, neededIds), [], `${what}: quick check finds nothing`);
}

describe('prune', () => {
  test('removes unneeded packs (index first), packs without index and temp packs; keeps needed ones', async () => {
    const root = join(dir, 'basic');
    const { needed, neededIds, contents, unneeded } = await buildRepository(root);
    assert.ok(unneeded.length >= 2);
    // Leftovers of killed runs: a temp pack, a pack whose index was never written.
    mkdirSync(join(root, 'tmp'), { recursive: true });
    writeFileSync(join(root, 'tmp', 'deadbeef.pack'), randomBytes(1000));
    const orphan = 'ab'.repeat(32);
    mkdirSync(join(root, 'data', 'ab'), { recursive: true });
    writeFileSync(packPath(root, orphan), randomBytes(3000));

    const repo = await open(root);
    const rep = reporter();
    await assert.rejects(pruneRepository(repo, needed, rep), (e: unknown) => e instanceof BackupError && e.code === 'INTERNAL' && /exclusive lock/.test(e.message));
    const lock = await repo.lockExclusive(rep.runId);
    const result = await pruneRepository(repo, needed, rep);
    await lock.release();
    assert.equal(result.removedPacks, unneeded.length + 1);
    assert.ok(result.freedBytes >= unneeded.length * 64 * 1024 + 3000 + 1000);
    assert.deepEqual(packsOnDisk(root), [...needed].sort());
    for (const pack of unneeded) assert.equal(existsSync(indexPath(root, pack)), false);
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    assert.deepEqual(readdirSync(join(root, 'locks')), [], 'the lock is released');
    assert.equal(repo.packs().size, needed.size, 'the open repository forgets the removed packs');
    await assertNeededIntact(root, neededIds, contents, 'after prune');
  });

  test('a needed pack that lost its index file is kept, and a needed pack that is gone is reported (warnings)', async () => {
    const root = join(dir, 'warnings');
    const { needed } = await buildRepository(root);
    const [unindexed, missing] = [...needed];
    rmSync(indexPath(root, unindexed));
    rmSync(packPath(root, missing));
    const repo = await open(root);
    const rep = reporter();
    const lock = await repo.lockExclusive(rep.runId);
    await pruneRepository(repo, needed, rep);
    await lock.release();
    assert.ok(existsSync(packPath(root, unindexed)), 'never deleted: a kept set needs it');
    const warnings = rep.events.filter((e) => e.type === 'warning').map((e) => (e.type === 'warning' ? `${e.code} ${e.message}` : ''));
    assert.ok(warnings.some((w) => w.startsWith('PACK_UNINDEXED') && w.includes(unindexed)), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.startsWith('PACK_MISSING') && w.includes(missing)), warnings.join('\n'));
  });

  test('a backup opened before a prune does not dedup against what the prune deleted (its shared lock reloads the index)', async () => {
    const root = join(dir, 'stale-index');
    const { needed, unneeded, contents } = await buildRepository(root);
    const backup = await open(root); // index loaded now, with the unneeded packs
    const pruner = await open(root);
    const rep = reporter();
    const lock = await pruner.lockExclusive(rep.runId);
    await pruneRepository(pruner, needed, rep);
    await lock.release();
    const shared = await backup.lockShared('late-backup');
    const writer = await backup.writer();
    const goneId = [...contents.keys()].find((id) => backup.reader().packOf(id) === undefined);
    assert.ok(goneId && unneeded.length > 0, 'the backup\'s index no longer lists the pruned packs');
    assert.equal(writer.has(goneId), false, 'a pruned blob is not "known"');
    await writer.put(contents.get(goneId) as Buffer);
    assert.equal(writer.stats.newBlobs, 1, 'so it is stored again');
    await writer.finish();
    await shared.release();
    assert.ok((await (await open(root)).reader().get(goneId)).equals(contents.get(goneId) as Buffer));
  });

  test('refuses while a backup holds its shared lock (another process), LOCKED saying what to do; stale locks do not block', async () => {
    const root = join(dir, 'locked');
    await buildRepository(root);
    const repo = await open(root);
    // A backup in another process: it takes its shared lock and waits.
    const backup = spawn(process.execPath, ['--import', 'tsx', '-e', `
      const { acquireLock } = await import(${JSON.stringify(join(PROJECT_ROOT, 'ts-src/helper/repo/lock.ts'))});
      await acquireLock(${JSON.stringify(root)}, 'backuprun1', 'shared');
      process.stdout.write('locked\\n');
      setTimeout(() => {}, 60000);
    `], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        backup.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        backup.on('exit', (code) => reject(new Error(`backup child exited ${code}`)));
      });
      await assert.rejects(repo.lockExclusive('prunerun1'), (e: unknown) => {
        assert.ok(e instanceof BackupError && e.code === 'LOCKED', String(e));
        assert.match(e.message, /a backup \(shared lock\) of run backuprun1/);
        assert.match(e.message, /wait until that run has finished and run prune again/);
        assert.match(e.message, new RegExp(`pid ${backup.pid}`));
        return true;
      });
      assert.equal(readdirSync(join(root, 'locks')).length, 1, 'the refused prune left no lock behind');
      // A second backup may run beside the first (shared + shared).
      const second = await repo.lockShared('backuprun2');
      await second.release();
    } finally {
      backup.kill('SIGKILL');
      await new Promise((resolve) => backup.once('close', resolve));
    }
    // The backup died without releasing: same host, dead pid -> stale, prune proceeds and removes it.
    assert.equal(readdirSync(join(root, 'locks')).length, 1);
    const lock = await repo.lockExclusive('prunerun2');
    assert.equal(readdirSync(join(root, 'locks')).length, 1, 'the stale lock was removed');
    // While prune holds the exclusive lock, a backup is refused.
    await assert.rejects(repo.lockShared('backuprun3'), (e: unknown) => e instanceof BackupError && e.code === 'LOCKED' && /wait until the prune has finished/.test(e.message));
    await lock.release();

    // A lock from another host is only stale when not refreshed for the stale time.
    const foreign = await acquireLock(root, 'otherhost', 'shared', { host: 'not-this-host' });
    await assert.rejects(repo.lockExclusive('prunerun3'), (e: unknown) => e instanceof BackupError && e.code === 'LOCKED');
    await assert.rejects(acquireLock(root, 'prunerun4', 'exclusive', { staleMs: 60_000 }), (e: unknown) => e instanceof BackupError && e.code === 'LOCKED');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(foreign.file, old, old);
    const rewritten = JSON.parse((await import('node:fs')).readFileSync(foreign.file, 'utf8')) as { refreshedAt: string };
    rewritten.refreshedAt = old.toISOString();
    writeFileSync(foreign.file, JSON.stringify(rewritten));
    const afterStale = await acquireLock(root, 'prunerun5', 'exclusive', { staleMs: 60_000 });
    await afterStale.release();
    assert.notEqual(hostname(), 'not-this-host');
  });

  test('the refresh timer keeps a long run\'s lock fresh', async () => {
    const root = join(dir, 'refresh');
    mkdirSync(root);
    const lock = await acquireLock(root, 'longrun', 'shared', { refreshMs: 50 });
    const { readFileSync } = await import('node:fs');
    const first = (JSON.parse(readFileSync(lock.file, 'utf8')) as { refreshedAt: string }).refreshedAt;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const later = (JSON.parse(readFileSync(lock.file, 'utf8')) as { refreshedAt: string }).refreshedAt;
    assert.ok(Date.parse(later) > Date.parse(first), `${first} -> ${later}`);
    await lock.release();
    assert.deepEqual(readdirSync(join(root, 'locks')), []);
  });

  test('a prune killed (SIGKILL) before each of its deletions leaves every needed blob readable; a later prune finishes', async () => {
    const template = join(dir, 'template');
    const { needed, neededIds, contents, unneeded } = await buildRepository(template);
    mkdirSync(join(template, 'tmp'), { recursive: true });
    writeFileSync(join(template, 'tmp', 'cafe.pack'), randomBytes(500));
    const keep = [...needed].join(',');
    // Deletions: per unneeded pack its index then the pack, then the temp pack.
    const total = unneeded.length * 2 + 1;
    for (let killAt = 1; killAt <= total; killAt += 1) {
      const root = join(dir, `killed-${killAt}`);
      cpSync(template, root, { recursive: true });
      const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, root, keep, String(killAt)], { cwd: PROJECT_ROOT, encoding: 'utf8' });
      assert.equal(child.signal, 'SIGKILL', `kill point ${killAt}: ${child.stderr}${child.stdout}`);
      await assertNeededIntact(root, neededIds, contents, `killed before deletion ${killAt}`);
      // The next prune (the killed one's lock is stale: dead pid on this host) cleans up.
      const repo = await open(root);
      const rep = reporter();
      const lock = await repo.lockExclusive(rep.runId);
      await pruneRepository(repo, needed, rep);
      await lock.release();
      assert.deepEqual(packsOnDisk(root), [...needed].sort(), `kill point ${killAt}: only needed packs remain`);
      await assertNeededIntact(root, neededIds, contents, `pruned again after kill ${killAt}`);
      rmSync(root, { recursive: true, force: true });
    }
    const never = spawnSync(process.execPath, ['--import', 'tsx', CHILD, template, keep, '0'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    assert.equal((JSON.parse(never.stdout) as { deletions: number }).deletions, total, 'every deletion point was tried');
  });
});
