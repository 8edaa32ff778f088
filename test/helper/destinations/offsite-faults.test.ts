/**
 * Offsite copies under load and under faults, on the real servers: a set of several hundred
 * MB uploaded to S3 with multipart and verified back; connections cut in the middle of an
 * upload (s3rver closed, sshd and its sessions killed) are retried when the server comes back,
 * fail clearly when it does not, and the remote never shows a complete set without its manifest.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DestinationError } from '../../../ts-src/helper/destinations/destination.js';
import { RetryingDestination } from '../../../ts-src/helper/destinations/retry.js';
import { S3Destination } from '../../../ts-src/helper/destinations/s3.js';
import { SftpDestination } from '../../../ts-src/helper/destinations/sftp.js';
import { listRemoteSets, listAllRemoteSets, uploadSet, verifyRemoteSet } from '../../../ts-src/helper/destinations/remote-sets.js';
import { makeFakeSet } from './fixtures.js';
import { startS3, startSshd, S3_BUCKET, type S3Server, type SshServer } from './servers.js';

const MiB = 1024 * 1024;
let local: string;
before(() => {
  local = mkdtempSync(join(tmpdir(), 'cbt_offsite_faults_'));
});
after(() => rmSync(local, { recursive: true, force: true }));

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function s3Destination(server: S3Server): S3Destination {
  return new S3Destination({
    endpoint: server.endpoint,
    region: 'us-east-1',
    bucket: S3_BUCKET,
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    partSize: 8 * MiB,
    maxAttempts: 2,
  });
}

describe('S3 (s3rver): large set and cuts', () => {
  let server: S3Server;
  before(async () => {
    server = await startS3();
  });
  after(async () => server.stop());

  test('a 300 MB set goes up with multipart and verifies back by SHA-256', async (t) => {
    const set = await makeFakeSet(local, [150 * MiB, 100 * MiB, 50 * MiB, 1000]);
    const destination = s3Destination(server);
    try {
      const before = server.requests.length;
      const started = Date.now();
      const result = await uploadSet(set.dir, set.manifest, destination);
      const uploadSeconds = (Date.now() - started) / 1000;
      const requests = server.requests.slice(before);
      const partUploads = requests.filter((r) => r.startsWith('PUT') && /partNumber=\d+/.test(r)).length;
      assert.ok(requests.some((r) => r.startsWith('POST') && /\?uploads/.test(r)), 'CreateMultipartUpload was used');
      assert.ok(partUploads >= 300 / 8, `at least 38 parts of 8 MiB, saw ${partUploads}`);
      assert.equal(result.bytes, 300 * MiB + 1000);
      const verifyStarted = Date.now();
      const verified = await verifyRemoteSet(destination, set.setId);
      const verifySeconds = (Date.now() - verifyStarted) / 1000;
      assert.equal(verified.bytes, 300 * MiB + 1000);
      t.diagnostic(`300 MB: upload ${uploadSeconds.toFixed(1)} s (${partUploads} multipart parts), download+verify ${verifySeconds.toFixed(1)} s`);
      const remote = await listRemoteSets(destination);
      assert.deepEqual(remote.map((s) => s.setId), [set.setId]);
      for (const key of remote[0]!.keys) await destination.remove(key);
    } finally {
      await destination.close();
      rmSync(set.dir, { recursive: true, force: true });
    }
  });

  test('server cut mid-upload: retried once it is back; the set completes and verifies', async () => {
    const set = await makeFakeSet(local, [2 * MiB, 40 * MiB, 1 * MiB]);
    const destination = s3Destination(server);
    const retries: string[] = [];
    let restarted: Promise<void> | undefined;
    // The server stays down until our wrapper's first retry (the SDK's own quick retries fail
    // meanwhile), then comes back on the same port and directory.
    const retrying = new RetryingDestination(destination, {
      attempts: 4,
      baseDelayMs: 200,
      onRetry: (info) => {
        retries.push(`${info.operation} ${info.key}: ${info.error.message}`);
        restarted ??= server.restart();
      },
      sleep: async (ms) => {
        await restarted;
        await new Promise((r) => setTimeout(r, ms));
      },
    });
    try {
      const before = server.requests.length;
      const uploading = uploadSet(set.dir, set.manifest, retrying).then(() => undefined, (error: unknown) => error);
      // Cut while the big part's multipart upload is under way (its 2nd part has been sent).
      await until(() => server.requests.slice(before).some((r) => /partNumber=2(&|$)/.test(r)), 'multipart part 2');
      await server.cut();
      assert.equal(await uploading, undefined, 'the upload completed after the retry');
      assert.ok(retries.length >= 1, 'the cut was retried by the wrapper');
      assert.ok(retries.every((r) => r.startsWith('save ')), retries.join('\n'));
      assert.deepEqual((await listRemoteSets(destination)).map((s) => s.setId), [set.setId]);
      await verifyRemoteSet(destination, set.setId);
      for (const { key } of await destination.list(`${set.setId}/`)) await destination.remove(key);
    } finally {
      await destination.close();
      rmSync(set.dir, { recursive: true, force: true });
    }
  });

  test('server gone for good: bounded attempts, a clear DESTINATION error, no manifest remotely', async () => {
    const set = await makeFakeSet(local, [1 * MiB, 30 * MiB]);
    const destination = s3Destination(server);
    const retrying = new RetryingDestination(destination, { attempts: 3, baseDelayMs: 100 });
    try {
      const before = server.requests.length;
      const uploading = uploadSet(set.dir, set.manifest, retrying).then(() => undefined, (error: unknown) => error);
      await until(() => server.requests.slice(before).some((r) => /partNumber=1/.test(r)), 'multipart part 1');
      await server.cut();
      await assert.rejects(uploading.then((e) => Promise.reject(e ?? new Error('the upload succeeded'))), (e: unknown) => {
        assert.ok(e instanceof DestinationError, String(e));
        assert.equal(e.code, 'DESTINATION');
        assert.equal(e.kind, 'transient');
        assert.match(e.message, /gave up after 3 attempts/);
        return true;
      });
      await server.restart();
      const remote = await listAllRemoteSets(destination);
      assert.ok(remote.every((s) => !s.complete), 'no complete set after the failed upload');
      assert.ok(remote.every((s) => !s.keys.some((k) => k.endsWith('/manifest.json'))));
      for (const s of remote) for (const key of s.keys) await destination.remove(key);
    } finally {
      await destination.close();
      rmSync(set.dir, { recursive: true, force: true });
    }
  });
});

describe('SFTP (sshd): cut mid-upload', () => {
  let server: SshServer;
  before(async () => {
    server = await startSshd();
  });
  after(() => server.stop());

  const partFileSize = (setId: string): number => {
    try {
      const dir = join(server.root, setId, 'db');
      const part = readdirSync(dir).find((n) => n.endsWith('.part'));
      return part ? statSync(join(dir, part)).size : 0;
    } catch {
      return 0;
    }
  };

  test('sshd and its sessions killed during a part: retried after restart; the set completes', async () => {
    const set = await makeFakeSet(local, [1 * MiB, 60 * MiB]);
    const destination = new SftpDestination({ host: '127.0.0.1', port: server.port, username: 'root', path: server.root, privateKey: server.privateKey });
    let restarted: Promise<void> | undefined;
    const retrying = new RetryingDestination(destination, {
      attempts: 6,
      baseDelayMs: 300,
      onRetry: () => {
        restarted ??= server.restart();
      },
      sleep: async (ms) => {
        await restarted;
        await new Promise((r) => setTimeout(r, ms));
      },
    });
    try {
      const uploading = uploadSet(set.dir, set.manifest, retrying).then(() => undefined, (error: unknown) => error);
      await until(() => partFileSize(set.setId) > 4 * MiB, 'the big part to be under way');
      server.kill();
      assert.equal(await uploading, undefined, 'the upload completed after the retry');
      assert.ok(restarted, 'the cut was retried');
      assert.equal(server.port, destination['options'].port, 'sshd came back on the same port');
      assert.deepEqual((await listRemoteSets(destination)).map((s) => s.setId), [set.setId]);
      await verifyRemoteSet(destination, set.setId);
    } finally {
      await destination.close();
      rmSync(set.dir, { recursive: true, force: true });
    }
  });

  test('sshd gone for good: a clear DESTINATION error and no manifest remotely', async () => {
    const set = await makeFakeSet(local, [1 * MiB, 40 * MiB]);
    const destination = new SftpDestination({ host: '127.0.0.1', port: server.port, username: 'root', path: server.root, privateKey: server.privateKey, readyTimeout: 5000 });
    const retrying = new RetryingDestination(destination, { attempts: 3, baseDelayMs: 100 });
    try {
      const uploading = uploadSet(set.dir, set.manifest, retrying).then(() => undefined, (error: unknown) => error);
      await until(() => partFileSize(set.setId) > 2 * MiB, 'the big part to be under way');
      server.kill();
      await assert.rejects(uploading.then((e) => Promise.reject(e ?? new Error('the upload succeeded'))), (e: unknown) => e instanceof DestinationError && e.kind === 'transient' && /gave up after 3 attempts/.test(e.message));
      const files = readdirSync(join(server.root, set.setId), { recursive: true }) as string[];
      assert.ok(!files.includes('manifest.json'), 'no manifest on the server');
    } finally {
      await destination.close();
      rmSync(set.dir, { recursive: true, force: true });
    }
  });
});
