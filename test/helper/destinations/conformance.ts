/**
 * The destination conformance suite (restic's internal/backend/test): the same tests run
 * against every Destination implementation. Call inside a describe() whose before() has made
 * the destination; `get()` returns it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { DestinationError, type Destination } from '../../../ts-src/helper/destinations/destination.js';
import { RetryingDestination } from '../../../ts-src/helper/destinations/retry.js';
import { applyRemoteRetention } from '../../../ts-src/helper/destinations/remote-retention.js';
import {
  listRemoteSets,
  listAllRemoteSets,
  uploadSet,
  verifyRemoteSet,
} from '../../../ts-src/helper/destinations/remote-sets.js';
import { bufferSource, FaultyDestination, makeFakeSet, readAll } from './fixtures.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

async function rejectsWith(promise: Promise<unknown>, check: (error: unknown) => boolean, what: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(check(error), `${what}: got ${String(error)}`);
    return true;
  });
}

const notFound = (e: unknown): boolean => e instanceof DestinationError && e.kind === 'not-found';

export function conformanceSuite(get: () => Destination): void {
  test('an empty prefix lists nothing; missing objects: stat null, load NOT_FOUND, remove is a no-op', async () => {
    const d = get();
    assert.deepEqual(await d.list('conf-empty/'), []);
    assert.equal(await d.stat('conf-empty/nothing'), null);
    await rejectsWith(d.load('conf-empty/nothing'), notFound, 'load of a missing key');
    await d.remove('conf-empty/nothing');
  });

  test('save, stat, load and list round trip (0 bytes, small, 1 MiB + 1)', async () => {
    const d = get();
    const big = Buffer.alloc(1024 * 1024 + 1, 7);
    const objects: Array<[string, Buffer]> = [
      ['conf-rt/empty', Buffer.alloc(0)],
      ['conf-rt/small.txt', Buffer.from('hello offsite\n')],
      ['conf-rt/deep/er/big.bin', big],
    ];
    for (const [key, data] of objects) await d.save(key, bufferSource(data), { size: data.length, sha256: sha(data) });
    for (const [key, data] of objects) {
      assert.deepEqual(await d.stat(key), { key, size: data.length });
      assert.ok((await readAll(d, key)).equals(data), `content of ${key}`);
    }
    assert.deepEqual(
      await d.list('conf-rt/'),
      objects.map(([key, data]) => ({ key, size: data.length })).sort((a, b) => (a.key < b.key ? -1 : 1)),
    );
    for (const [key] of objects) await d.remove(key);
    assert.deepEqual(await d.list('conf-rt/'), []);
  });

  test('list filters by prefix exactly and sorts by key', async () => {
    const d = get();
    for (const key of ['conf-ls/a/2', 'conf-ls/a/1', 'conf-ls/ab/x', 'conf-ls/b']) await d.save(key, bufferSource(key));
    assert.deepEqual((await d.list('conf-ls/a/')).map((o) => o.key), ['conf-ls/a/1', 'conf-ls/a/2']);
    assert.deepEqual((await d.list('conf-ls/a')).map((o) => o.key), ['conf-ls/a/1', 'conf-ls/a/2', 'conf-ls/ab/x']);
    assert.deepEqual((await d.list('conf-ls/')).map((o) => o.key), ['conf-ls/a/1', 'conf-ls/a/2', 'conf-ls/ab/x', 'conf-ls/b']);
    for (const { key } of await d.list('conf-ls/')) await d.remove(key);
  });

  test('save replaces an existing object', async () => {
    const d = get();
    await d.save('conf-ow/x', bufferSource('first version'));
    await d.save('conf-ow/x', bufferSource('second'));
    assert.equal((await readAll(d, 'conf-ow/x')).toString(), 'second');
    await d.remove('conf-ow/x');
  });

  test('bytes that do not match the expected SHA-256 or size are refused and not published', async () => {
    const d = get();
    await rejectsWith(d.save('conf-bad/x', bufferSource('abc'), { sha256: sha('abd') }), (e) => e instanceof BackupError && e.code === 'SET_DAMAGED', 'hash mismatch');
    await rejectsWith(d.save('conf-bad/y', bufferSource('abc'), { size: 4 }), (e) => e instanceof BackupError && e.code === 'SET_DAMAGED', 'size mismatch');
    assert.equal(await d.stat('conf-bad/x'), null);
    assert.equal(await d.stat('conf-bad/y'), null);
    assert.deepEqual(await d.list('conf-bad/'), []);
  });

  test('a source that breaks mid-stream fails the save and leaves no object (no temp files listed)', async () => {
    const d = get();
    await d.save('conf-cut/x', bufferSource('old content'));
    const breaking = (): Readable =>
      Readable.from(
        (async function* () {
          yield Buffer.alloc(200 * 1024, 1);
          throw new Error('source broke');
        })(),
      );
    await assert.rejects(d.save('conf-cut/x', breaking), /source broke/);
    await assert.rejects(d.save('conf-cut/y', breaking), /source broke/);
    assert.equal(await d.stat('conf-cut/y'), null);
    assert.equal((await readAll(d, 'conf-cut/x')).toString(), 'old content', 'the old object is intact');
    assert.deepEqual((await d.list('conf-cut/')).map((o) => o.key), ['conf-cut/x']);
    await d.remove('conf-cut/x');
  });

  test('unsafe keys are refused', async () => {
    const d = get();
    for (const key of ['../escape', '/abs', 'a/../../b', 'a\\b', '']) {
      await assert.rejects(d.save(key, bufferSource('x')), BackupError, key);
    }
  });

  test('uploadSet publishes parts then the manifest; list, verify, tamper detection and remote retention', async () => {
    const d = get();
    const local = mkdtempSync(join(tmpdir(), 'cbt_offsite_sets_'));
    try {
      const older = await makeFakeSet(local, [1000, 0, 300_000], new Date(Date.now() - 3 * 86_400_000));
      const newer = await makeFakeSet(local, [5000, 70_000], new Date(Date.now() - 60_000));
      const up = await uploadSet(older.dir, older.manifest, d);
      assert.equal(up.alreadyPresent, false);
      assert.equal(up.parts, 3);
      await uploadSet(newer.dir, newer.manifest, d);
      assert.equal((await uploadSet(newer.dir, newer.manifest, d)).alreadyPresent, true);
      const complete = await listRemoteSets(d);
      assert.deepEqual(complete.map((s) => s.setId), [newer.setId, older.setId]);
      assert.deepEqual(complete[1]!.manifest, older.manifest);
      const verified = await verifyRemoteSet(d, older.setId);
      assert.equal(verified.bytes, 301_000);

      // Tamper: replace one part with other bytes of the same size.
      const part = older.manifest.parts[2]!;
      await d.save(`${older.setId}/${part.path}`, bufferSource(Buffer.alloc(part.bytes, 9)));
      await rejectsWith(verifyRemoteSet(d, older.setId), (e) => e instanceof BackupError && e.code === 'SET_DAMAGED' && e.message.includes(part.path), 'tampered part');
      await d.remove(`${older.setId}/${part.path}`);
      await rejectsWith(verifyRemoteSet(d, older.setId), (e) => e instanceof BackupError && e.code === 'SET_DAMAGED' && /missing/.test(e.message), 'missing part');

      // Retention with the same policy function: keep-last 1 removes the older set, manifest included.
      // Both fake sets share one source: the newest set's, which prune picks when given none.
      const dry = await applyRemoteRetention(d, { keepLast: 1 }, new Date(), {}, { dryRun: true });
      assert.deepEqual(dry.removed, []);
      assert.equal(dry.decisions.find((x) => x.id === older.setId)?.action, 'remove');
      const pruned = await applyRemoteRetention(d, { keepLast: 1 }, new Date(), {});
      assert.deepEqual(pruned.removed, [older.setId]);
      assert.deepEqual((await listAllRemoteSets(d)).map((s) => s.setId), [newer.setId]);
      assert.deepEqual(await d.list(`${older.setId}/`), []);
      for (const { key } of await d.list(`${newer.setId}/`)) await d.remove(key);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });

  test('an upload that fails part way never shows a complete set; a retried transient failure completes it', async () => {
    const d = get();
    const local = mkdtempSync(join(tmpdir(), 'cbt_offsite_sets_'));
    try {
      const set = await makeFakeSet(local, [10_000, 200_000, 3000]);
      // Auth failure on the 3rd save (a part): not retried, upload fails, nothing complete remotely.
      const denied = new RetryingDestination(new FaultyDestination(d, new Map([[3, { kind: 'auth' as const }]])), { baseDelayMs: 1 });
      await rejectsWith(uploadSet(set.dir, set.manifest, denied), (e) => e instanceof DestinationError && e.kind === 'auth', 'auth failure');
      let remote = await listAllRemoteSets(d);
      assert.deepEqual(remote.map((s) => [s.setId, s.complete]), [[set.setId, false]]);
      assert.deepEqual(await listRemoteSets(d), []);

      // Resume: a plain upload now sends only the missing part and the manifest.
      const counting = new FaultyDestination(d, new Map());
      const resumed = await uploadSet(set.dir, set.manifest, counting);
      assert.equal(resumed.resumedParts, 2);
      assert.equal(counting.saves, 2, 'only the missing part and the manifest were sent');
      assert.deepEqual((await listRemoteSets(d)).map((s) => s.setId), [set.setId]);
      await verifyRemoteSet(d, set.setId);

      // A transient cut in the middle of part 2's bytes, then a transient failure of the manifest: both retried.
      const set2 = await makeFakeSet(local, [10_000, 200_000, 3000]);
      const retries: string[] = [];
      const flaky = new FaultyDestination(
        d,
        new Map([
          [2, { kind: 'transient' as const, midStream: true }],
          [5, { kind: 'transient' as const }],
        ]),
      );
      const retrying = new RetryingDestination(flaky, { baseDelayMs: 1, onRetry: (info) => retries.push(`${info.operation} ${info.key.split('/').slice(1).join('/')}`) });
      await uploadSet(set2.dir, set2.manifest, retrying);
      assert.deepEqual(retries, [`save ${set2.manifest.parts[1]!.path}`, 'save manifest.json']);
      remote = await listAllRemoteSets(d);
      assert.deepEqual(remote.filter((s) => s.complete).map((s) => s.setId).sort(), [set.setId, set2.setId].sort());
      await verifyRemoteSet(d, set2.setId);
      for (const { key } of await d.list(`${set2.setId}/`)) await d.remove(key);

      // Persistent transient failures: bounded attempts, then a clear error.
      const down = new RetryingDestination(new FaultyDestination(d, new Map([1, 2, 3].map((n) => [n, { kind: 'transient' as const }]))), { attempts: 3, baseDelayMs: 1 });
      await rejectsWith(down.save(`${set.setId}/extra`, bufferSource('x')), (e) => e instanceof DestinationError && /gave up after 3 attempts/.test(e.message), 'bounded attempts');
      for (const { key } of await d.list(`${set.setId}/`)) await d.remove(key);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });
}
