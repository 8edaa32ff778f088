/** The retry wrapper alone: which failures are retried, how long it waits, and that it stops. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { DestinationError, type Destination, type ObjectInfo } from '../../../ts-src/helper/destinations/destination.js';
import { RetryingDestination } from '../../../ts-src/helper/destinations/retry.js';

/** A destination whose stat() fails with the queued errors, then answers. */
function scripted(errors: Error[]): Destination & { calls: number } {
  const d = {
    location: 'memory://scripted',
    calls: 0,
    async stat(key: string): Promise<ObjectInfo | null> {
      d.calls += 1;
      const next = errors.shift();
      if (next) throw next;
      return { key, size: 1 };
    },
    async save() {},
    async load() {
      return Readable.from([]);
    },
    async list() {
      return [];
    },
    async remove() {},
    async close() {},
  };
  return d;
}

test('transient failures are retried with growing, jittered, capped delays', async () => {
  const inner = scripted([1, 2, 3, 4].map((n) => new DestinationError('transient', `cut ${n}`)));
  const slept: number[] = [];
  const retried: number[] = [];
  const d = new RetryingDestination(inner, {
    attempts: 5,
    baseDelayMs: 100,
    maxDelayMs: 500,
    random: () => 1,
    sleep: async (ms) => void slept.push(ms),
    onRetry: (info) => retried.push(info.attempt),
  });
  assert.deepEqual(await d.stat('k'), { key: 'k', size: 1 });
  assert.equal(inner.calls, 5);
  assert.deepEqual(slept, [100, 200, 400, 500]);
  assert.deepEqual(retried, [1, 2, 3, 4]);
  const low = new RetryingDestination(inner, { baseDelayMs: 100, random: () => 0 });
  assert.deepEqual([1, 2, 3].map((n) => low.delayFor(n)), [50, 100, 200], 'equal jitter: at least half the ceiling');
});

test('auth, not-found, damage and non-destination errors are not retried', async () => {
  for (const error of [
    new DestinationError('auth', 'denied'),
    new DestinationError('not-found', 'gone'),
    new DestinationError('permanent', 'bad request'),
    new BackupError('SET_DAMAGED', 'local part changed'),
    new Error('bug'),
  ]) {
    const inner = scripted([error]);
    const d = new RetryingDestination(inner, { sleep: async () => assert.fail('no sleep expected') });
    await assert.rejects(d.stat('k'), (e: unknown) => e === error);
    assert.equal(inner.calls, 1, error.message);
  }
});

test('attempts are bounded and the final error says so', async () => {
  const inner = scripted([1, 2, 3, 4, 5, 6].map((n) => new DestinationError('transient', `cut ${n}`)));
  const d = new RetryingDestination(inner, { attempts: 3, sleep: async () => undefined });
  await assert.rejects(d.stat('k'), /cut 3 \(gave up after 3 attempts\)/);
  assert.equal(inner.calls, 3);
});

test('cancellation stops the waiting', async () => {
  const controller = new AbortController();
  const inner = scripted([new DestinationError('transient', 'cut')]);
  const d = new RetryingDestination(inner, { baseDelayMs: 60_000, signal: controller.signal });
  const pending = d.stat('k');
  controller.abort(new Error('stop'));
  // Whether it stops in the wait or before it, it does not wait the 60 s.
  await assert.rejects(pending, /stop|cut/);
  assert.equal(inner.calls, 1);
});
