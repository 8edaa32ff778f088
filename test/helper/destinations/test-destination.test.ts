/**
 * `civibackup test-destination` through the built bundle, against the real servers: a probe
 * object goes to s3rver and to a private sshd and is removed again; wrong credentials, a
 * missing bucket and a port nobody listens on fail with DESTINATION and a message naming the
 * step and the cause; the secret never shows in the output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationSpec } from '../../../ts-src/protocol/job.js';
import type { HelperEvent } from '../../../ts-src/protocol/events.js';
import { assertBundleBuilt, parseEvents } from '../support/helper-run.js';
import { HELPER_BUNDLE } from '../support/paths.js';
import { freePort, startS3, startSshd, S3_BUCKET, type S3Server, type SshServer } from './servers.js';

interface CliRun {
  status: number;
  output: string;
  events: HelperEvent[];
}

/** Asynchronous on purpose: s3rver runs in this process, so a blocking spawnSync would starve it. */
function civibackup(args: string[], env: NodeJS.ProcessEnv, json = true): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HELPER_BUNDLE, ...args, ...(json ? ['--json'] : [])], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, output: stdout + stderr, events: parseEvents(stdout) }));
  });
}

const S3_SECRET_ENV = 'CBT_TESTDEST_S3_SECRET';
const SFTP_KEY_ENV = 'CBT_TESTDEST_SFTP_KEY';
let work: string;

function writeJob(offsite: DestinationSpec[]): string {
  const file = join(work, `job-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ version: 1, command: 'backup', to: join(work, 'local'), offsite }), { mode: 0o600 });
  return file;
}

function s3Spec(server: { endpoint: string }, overrides: Partial<Extract<DestinationSpec, { type: 's3' }>> = {}): DestinationSpec {
  return { type: 's3', name: 'bucket', endpoint: server.endpoint, region: 'us-east-1', bucket: S3_BUCKET, prefix: 'site1', forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: S3_SECRET_ENV, ...overrides };
}

function finalEvent(run: CliRun): HelperEvent {
  const last = run.events.at(-1);
  assert.ok(last, `no events; output: ${run.output}`);
  return last;
}

function assertDestinationError(run: CliRun, pattern: RegExp): string {
  assert.equal(run.status, 1, run.output);
  const last = finalEvent(run);
  assert.equal(last.type, 'error', run.output);
  assert.equal(last.type === 'error' && last.code, 'DESTINATION', run.output);
  const message = last.type === 'error' ? last.message : '';
  assert.match(message, pattern);
  return message;
}

before(() => {
  assertBundleBuilt();
  work = mkdtempSync(join(tmpdir(), 'cbt_testdest_'));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('S3 (s3rver)', () => {
  let server: S3Server;
  before(async () => {
    server = await startS3();
  });
  after(async () => server.stop());

  test('writes, stats, reads back, lists and removes a probe; nothing is left behind', async () => {
    const run = await civibackup(['test-destination', '--job', writeJob([s3Spec(server)])], { [S3_SECRET_ENV]: 'S3RVER' });
    assert.equal(run.status, 0, run.output);
    const last = finalEvent(run);
    assert.equal(last.type, 'result', run.output);
    const summary = last.type === 'result' ? last.summary : {};
    assert.equal(summary.ok, true);
    assert.match(String(summary.destination), /^s3:\/\/offsite\/site1 at http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(typeof summary.latencyMs, 'number');
    assert.deepEqual((summary.steps as Array<{ step: string }>).map((s) => s.step), ['write', 'stat', 'read', 'list', 'remove']);
    assert.match(String(summary.message), /works/);
    const probeRequests = server.requests.filter((r) => r.includes('.civibackup-probe-'));
    assert.ok(probeRequests.some((r) => r.startsWith('PUT')), `the probe was written: ${probeRequests.join(', ')}`);
    assert.ok(probeRequests.some((r) => r.startsWith('DELETE')), 'the probe was removed');
    const left = await civibackup(['test-destination', '--job', writeJob([s3Spec(server)])], { [S3_SECRET_ENV]: 'S3RVER' });
    assert.equal(left.status, 0, left.output);
    // The bucket's store on disk holds no probe object after two runs.
    const stored = readdirSync(server.directory, { recursive: true }).map(String);
    assert.deepEqual(stored.filter((p) => p.includes('civibackup-probe') && !p.endsWith('/')), [], stored.join('\n'));
    assert.doesNotMatch(run.output, /S3RVER/, 'neither the key id nor the secret is printed');
  });

  test('human output lists the steps', async () => {
    const run = await civibackup(['test-destination', '--job', writeJob([s3Spec(server)])], { [S3_SECRET_ENV]: 'S3RVER' }, false);
    assert.equal(run.status, 0, run.output);
    for (const step of ['write', 'stat', 'read', 'list', 'remove']) assert.match(run.output, new RegExp(`^${step}\\s+ok\\s+\\d+ ms$`, 'm'));
    assert.match(run.output, /works: a probe object was written, read back, listed and removed/);
  });

  test('--name picks the destination; an unknown name is a usage error', async () => {
    const job = writeJob([s3Spec({ endpoint: 'http://127.0.0.1:9' }, { name: 'dead' }), s3Spec(server, { name: 'alive' })]);
    const run = await civibackup(['test-destination', '--job', job, '--name', 'alive'], { [S3_SECRET_ENV]: 'S3RVER' });
    assert.equal(run.status, 0, run.output);
    const missing = await civibackup(['test-destination', '--job', job, '--name', 'nope'], { [S3_SECRET_ENV]: 'S3RVER' });
    assert.equal(missing.status, 2, missing.output);
    const last = finalEvent(missing);
    assert.match(last.type === 'error' ? last.message : '', /no offsite destination named "nope" \(it has: dead, alive\)/);
  });

  test('an unknown access key id fails at the write step as DESTINATION, without the secret', async () => {
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY-cbt';
    const run = await civibackup(['test-destination', '--job', writeJob([s3Spec(server, { accessKeyId: 'AKIANOSUCHKEY0000000' })])], { [S3_SECRET_ENV]: secret });
    const message = assertDestinationError(run, /failed at step "write": the server refused the credentials/);
    assert.match(message, /InvalidAccessKeyId/);
    assert.ok(!run.output.includes(secret), 'the secret is not in stdout or stderr');
  });

  test('a bucket that does not exist is named', async () => {
    const run = await civibackup(['test-destination', '--job', writeJob([s3Spec(server, { bucket: 'cbt-no-such-bucket' })])], { [S3_SECRET_ENV]: 'S3RVER' });
    assertDestinationError(run, /step "write": the bucket "cbt-no-such-bucket" does not exist/);
  });

  test('a missing secret variable is a CONFIG error naming the variable', async () => {
    const run = await civibackup(['test-destination', '--job', writeJob([s3Spec(server)])], { [S3_SECRET_ENV]: '' });
    assert.equal(run.status, 2, run.output);
    const last = finalEvent(run);
    assert.equal(last.type === 'error' && last.code, 'CONFIG');
    assert.match(run.output, new RegExp(S3_SECRET_ENV));
  });
});

test('S3: a port nobody listens on fails as DESTINATION: the server could not be reached', async () => {
  const port = await freePort();
  const run = await civibackup(['test-destination', '--job', writeJob([s3Spec({ endpoint: `http://127.0.0.1:${port}` })])], { [S3_SECRET_ENV]: 'S3RVER' });
  assertDestinationError(run, /step "write": the server could not be reached.*ECONNREFUSED/s);
});

describe('SFTP (private sshd)', () => {
  let server: SshServer;
  before(async () => {
    server = await startSshd();
  });
  after(() => server.stop());

  const sftpSpec = (overrides: Partial<Extract<DestinationSpec, { type: 'sftp' }>> = {}): DestinationSpec => ({
    type: 'sftp',
    name: 'box',
    host: '127.0.0.1',
    port: server.port,
    username: 'root',
    path: server.root,
    privateKeyEnv: SFTP_KEY_ENV,
    hostKey: server.hostKeyFingerprint,
    ...overrides,
  });
  const keyBody = (): string => server.privateKey.split('\n')[1]!;

  test('writes, reads back, lists and removes a probe; the remote directory is empty afterwards', async () => {
    const run = await civibackup(['test-destination', '--job', writeJob([sftpSpec()])], { [SFTP_KEY_ENV]: server.privateKey });
    assert.equal(run.status, 0, run.output);
    const last = finalEvent(run);
    assert.equal(last.type === 'result' && last.summary.ok, true, run.output);
    assert.equal(last.type === 'result' && last.summary.destination, `sftp://root@127.0.0.1:${server.port}${server.root}`);
    assert.deepEqual(readdirSync(server.root), []);
    assert.ok(!run.output.includes(keyBody()), 'the private key is not printed');
    assert.ok(!run.events.some((e) => e.type === 'warning'), 'a pinned host key gives no warning');
  });

  test('an unpinned host key works and is reported with its fingerprint', async () => {
    const run = await civibackup(['test-destination', '--job', writeJob([sftpSpec({ hostKey: undefined })])], { [SFTP_KEY_ENV]: server.privateKey });
    assert.equal(run.status, 0, run.output);
    const warning = run.events.find((e) => e.type === 'warning');
    assert.ok(warning && warning.type === 'warning' && warning.code === 'SFTP_HOST_KEY_NOT_PINNED' && warning.message.includes(server.hostKeyFingerprint), run.output);
  });

  test('a key the server does not accept fails at the write step as DESTINATION, without the key', async () => {
    const { execFileSync } = await import('node:child_process');
    const keyFile = join(work, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const { readFileSync } = await import('node:fs');
    const stranger = readFileSync(keyFile, 'utf8');
    const run = await civibackup(['test-destination', '--job', writeJob([sftpSpec()])], { [SFTP_KEY_ENV]: stranger });
    assertDestinationError(run, /step "write": the server refused the login/);
    assert.ok(!run.output.includes(stranger.split('\n')[1]!), 'the private key is not printed');
  });

  test('a port nobody listens on fails as DESTINATION: the server could not be reached', async () => {
    const port = await freePort();
    const run = await civibackup(['test-destination', '--job', writeJob([sftpSpec({ port })])], { [SFTP_KEY_ENV]: server.privateKey });
    assertDestinationError(run, /step "write": the server could not be reached/);
    assert.ok(!run.output.includes(keyBody()), 'the private key is not printed');
  });
});
