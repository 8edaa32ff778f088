/**
 * The conformance suite against every destination, on real servers started here: a local
 * directory, s3rver (S3 API) and a private OpenSSH sshd (SFTP), all on 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Destination } from '../../../ts-src/helper/destinations/destination.js';
import { DestinationError } from '../../../ts-src/helper/destinations/destination.js';
import { LocalDestination } from '../../../ts-src/helper/destinations/local.js';
import { S3Destination } from '../../../ts-src/helper/destinations/s3.js';
import { SftpDestination } from '../../../ts-src/helper/destinations/sftp.js';
import { createDestination } from '../../../ts-src/helper/destinations/open.js';
import { conformanceSuite } from './conformance.js';
import { startS3, startSshd, S3_BUCKET, type S3Server, type SshServer } from './servers.js';
import { bufferSource } from './fixtures.js';

describe('local directory destination', () => {
  let root: string;
  let destination: Destination;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'cbt_offsite_local_'));
    destination = new LocalDestination(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  conformanceSuite(() => destination);
});

describe('S3 destination (s3rver)', () => {
  let server: S3Server;
  let destination: S3Destination;
  before(async () => {
    server = await startS3();
    destination = new S3Destination({
      endpoint: server.endpoint,
      region: 'us-east-1',
      bucket: S3_BUCKET,
      prefix: 'site1/',
      forcePathStyle: true,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      partSize: 5 * 1024 * 1024,
    });
  });
  after(async () => {
    await destination.close();
    await server.stop();
  });
  conformanceSuite(() => destination);

  test('an unknown access key is an auth failure (not retried)', async () => {
    const bad = new S3Destination({ endpoint: server.endpoint, region: 'us-east-1', bucket: S3_BUCKET, forcePathStyle: true, accessKeyId: 'NOPE', secretAccessKey: 'x' });
    await assert.rejects(bad.save('x', bufferSource('x')), (e: unknown) => e instanceof DestinationError && e.kind === 'auth');
    await bad.close();
  });
});

describe('SFTP destination (OpenSSH sshd)', () => {
  let server: SshServer;
  let destination: SftpDestination;
  before(async () => {
    server = await startSshd();
    destination = new SftpDestination({ host: '127.0.0.1', port: server.port, username: 'root', path: server.root, privateKey: server.privateKey, hostKey: server.hostKeyFingerprint });
  });
  after(async () => {
    await destination.close();
    server.stop();
  });
  conformanceSuite(() => destination);

  test('a wrong host key fingerprint or an unknown key is refused as auth (not retried)', async () => {
    const wrongHost = new SftpDestination({ host: '127.0.0.1', port: server.port, username: 'root', path: server.root, privateKey: server.privateKey, hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    await assert.rejects(wrongHost.list(''), (e: unknown) => e instanceof DestinationError && e.kind === 'auth');
    await wrongHost.close();
    const { execFileSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(server.dir, 'stranger')]);
    const stranger = readFileSync(join(server.dir, 'stranger'), 'utf8');
    const wrongKey = new SftpDestination({ host: '127.0.0.1', port: server.port, username: 'root', path: server.root, privateKey: stranger });
    await assert.rejects(wrongKey.list(''), (e: unknown) => e instanceof DestinationError && e.kind === 'auth');
    await wrongKey.close();
  });
});

describe('destinations from the job spec', () => {
  test('secrets come from the named environment variables, never appear in location', () => {
    const s3 = createDestination(
      { type: 's3', name: 'b2', endpoint: 'https://s3.example.test', region: 'eu', bucket: 'bk', accessKeyId: 'AKID', secretEnv: 'MY_S3_SECRET' },
      { MY_S3_SECRET: 'topsecret' },
    );
    assert.doesNotMatch(s3.location, /topsecret/);
    assert.throws(
      () => createDestination({ type: 's3', name: 'b2', region: 'eu', bucket: 'bk', accessKeyId: 'AKID', secretEnv: 'MISSING_SECRET' }, {}),
      /MISSING_SECRET.*not set/,
    );
    assert.throws(() => createDestination({ type: 'sftp', name: 'box', host: 'h', username: 'u', path: '/p', privateKeyEnv: 'NO_KEY' }, {}), /NO_KEY/);
  });
});
