/**
 * civibackup test-destination: proves an offsite destination of a job file works before a
 * backup depends on it. Writes a small probe object under a `.civibackup-probe-<random>` key,
 * stats it, reads it back and compares, lists it and removes it, timing each step. A failure
 * names the step and the likely cause (credentials, missing bucket or directory, no
 * connection) as a DESTINATION error; secrets come from the environment variables the job
 * names and never appear in the output.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DestinationSpec } from '../../protocol/job.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { DestinationError, type Destination } from '../destinations/destination.js';
import { findOffsite, readJobFile } from '../destinations/job-file.js';
import { createDestination } from '../destinations/open.js';
import { readObject } from '../destinations/remote-sets.js';
import { RetryingDestination } from '../destinations/retry.js';
import { SftpDestination } from '../destinations/sftp.js';
import type { CommandModule } from './command.js';

export const PROBE_KEY_PREFIX = '.civibackup-probe-';

export type ProbeStep = 'write' | 'stat' | 'read' | 'list' | 'remove';

export interface ProbeStepResult {
  step: ProbeStep;
  ms: number;
}

/** What a failing step most likely means, in words an administrator can act on. */
function explain(error: unknown, spec: DestinationSpec): string {
  if (!(error instanceof DestinationError)) return (error as Error).message;
  const what = spec.type === 's3' ? `bucket "${spec.bucket}"` : `directory "${spec.path}"`;
  switch (error.kind) {
    case 'auth':
      return spec.type === 's3'
        ? `the server refused the credentials or access (check the access key ID, the secret key and the bucket's permissions): ${error.message}`
        : spec.type === 'sftp'
          ? `the server refused the login or its host key did not match (check the user name, the private key and the pinned fingerprint): ${error.message}`
          : `permission denied: ${error.message}`;
    case 'not-found':
      return `the ${what} was not found: ${error.message}`;
    case 'transient':
      return `the server could not be reached or the connection failed (check the host or endpoint, the port, and that the server is running and not blocked by a firewall): ${error.message}`;
    default:
      return /bucket .* does not exist|NoSuchBucket/i.test(error.message) ? `the ${what} does not exist: ${error.message}` : error.message;
  }
}

/** Removes every occurrence of the secret from a text (defence in depth: no message should hold it). */
function withoutSecret(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('***') : text;
}

function readBack(destination: Destination, key: string): Promise<Buffer> {
  // The probe is tiny; a destination returning far more is wrong, and memory stays bounded.
  return readObject(destination, key, {
    bytes: 64 * 1024,
    error: (size) => new DestinationError('permanent', `${key} came back larger than the probe that was written (${size} bytes so far).`),
  });
}

/**
 * Runs the probe against an open destination. Throws a DESTINATION error naming the failed
 * step; the probe is removed (best effort) whenever it may have been written.
 */
export async function probeDestination(
  destination: Destination,
  spec: DestinationSpec,
  options: { signal?: AbortSignal; secret?: string; onStep?: (result: ProbeStepResult) => void } = {},
): Promise<{ key: string; steps: ProbeStepResult[]; latencyMs: number }> {
  const key = `${PROBE_KEY_PREFIX}${randomBytes(8).toString('hex')}`;
  const content = Buffer.from(`CiviBackup destination probe ${new Date().toISOString()} ${randomBytes(16).toString('hex')}\n`);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const steps: ProbeStepResult[] = [];
  const started = Date.now();
  let written = false;
  const step = async <T>(name: ProbeStep, work: () => Promise<T>): Promise<T> => {
    const stepStarted = Date.now();
    try {
      const value = await work();
      const result = { step: name, ms: Date.now() - stepStarted };
      steps.push(result);
      options.onStep?.(result);
      return value;
    } catch (error) {
      if (options.signal?.aborted || (error instanceof BackupError && error.code === 'CANCELLED')) throw error;
      const reason = withoutSecret(explain(error, spec), options.secret);
      throw new DestinationError(
        error instanceof DestinationError ? error.kind : 'permanent',
        `Testing the offsite destination "${spec.name}" (${destination.location}) failed at step "${name}": ${reason}`,
        { cause: error },
      );
    }
  };
  try {
    // A failed save publishes nothing (see Destination.save), so only a completed one needs cleaning up.
    await step('write', async () => {
      await destination.save(key, () => Readable.from([content]), { size: content.length, sha256, signal: options.signal });
      written = true;
    });
    await step('stat', async () => {
      const info = await destination.stat(key);
      if (!info) throw new DestinationError('permanent', `the probe ${key} is missing right after it was written.`);
      if (info.size !== content.length) throw new DestinationError('permanent', `the probe ${key} has ${info.size} bytes, ${content.length} were written.`);
    });
    await step('read', async () => {
      const back = await readBack(destination, key);
      if (!back.equals(content)) throw new DestinationError('permanent', `the probe ${key} read back differs from what was written (${back.length} bytes, expected ${content.length}).`);
    });
    await step('list', async () => {
      const listed = await destination.list(PROBE_KEY_PREFIX);
      if (!listed.some((item) => item.key === key)) throw new DestinationError('permanent', `the probe ${key} is not in the listing of the destination.`);
    });
    await step('remove', async () => {
      await destination.remove(key);
      written = false;
      if (await destination.stat(key)) throw new DestinationError('permanent', `the probe ${key} is still there after it was removed.`);
    });
  } finally {
    // A failed step after the write leaves no probe behind when the destination still answers.
    if (written) await destination.remove(key).catch(() => undefined);
  }
  return { key, steps, latencyMs: Date.now() - started };
}

function secretOf(spec: DestinationSpec, env: NodeJS.ProcessEnv): string | undefined {
  if (spec.type === 's3') return env[spec.secretEnv];
  if (spec.type === 'sftp') return env[spec.privateKeyEnv];
  return undefined;
}

export const testDestinationCommand: CommandModule = {
  name: 'test-destination',
  summary: 'Try an offsite destination of a job file: write, stat, read back, list and remove a small probe object',
  usage: 'civibackup test-destination --job FILE [--name NAME] [--json]',
  async run({ args, reporter, env, signal, print }) {
    const { values, positionals } = parseCommandArgs(args, { job: { type: 'string' }, name: { type: 'string' } }, this.usage);
    if (!values.job || positionals.length > 0) throw new BackupError('USAGE', `test-destination needs --job FILE and takes no other arguments.\nusage: ${this.usage}`);
    const job = await readJobFile(values.job);
    let spec: DestinationSpec;
    if (values.name !== undefined) {
      spec = findOffsite(job, values.name);
    } else {
      const first = job.offsite?.[0];
      if (!first) throw new BackupError('USAGE', `The job file ${values.job} names no offsite destination to test.`);
      spec = first;
    }
    const inner = createDestination(spec, env);
    // One quick retry: a test should answer within seconds, not wait out a backup's backoff.
    const destination = new RetryingDestination(inner, { attempts: 2, baseDelayMs: 500, signal });
    reporter.emit({ type: 'phase', phase: 'verify' });
    let outcome;
    try {
      outcome = await probeDestination(destination, spec, {
        signal,
        secret: secretOf(spec, env),
        onStep: (result) => print(`${result.step.padEnd(6)} ok  ${result.ms} ms`),
      });
    } finally {
      await destination.close().catch(() => undefined);
    }
    const hostKey = inner instanceof SftpDestination && spec.type === 'sftp' && !spec.hostKey ? inner.seenHostKey : undefined;
    if (hostKey) {
      reporter.emit({
        type: 'warning',
        code: 'SFTP_HOST_KEY_NOT_PINNED',
        item: spec.name,
        message: `${spec.name}: the SFTP server's host key is not pinned, so any server answering at that address is trusted. Check and pin it: ${hostKey}`,
      });
    }
    const message = `${destination.location} works: a probe object was written, read back, listed and removed in ${outcome.latencyMs} ms.`;
    print(message);
    return {
      set: destination.location,
      summary: {
        ok: true,
        destination: destination.location,
        name: spec.name,
        latencyMs: outcome.latencyMs,
        steps: outcome.steps,
        message,
        ...(hostKey ? { hostKey } : {}),
      },
    };
  },
};
