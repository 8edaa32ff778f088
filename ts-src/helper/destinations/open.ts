/**
 * Builds a destination from the job file's DestinationSpec. Secrets are read from the
 * environment variables the spec NAMES (secretEnv, privateKeyEnv): never from argv or the
 * job file itself, and they never appear in `location` or in messages.
 */
import type { DestinationSpec } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';
import type { Destination } from './destination.js';
import { LocalDestination } from './local.js';
import { RetryingDestination, type RetryOptions } from './retry.js';
import { S3Destination } from './s3.js';
import { SftpDestination } from './sftp.js';

function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined, what: string, destination: string): string {
  if (!name) throw new BackupError('CONFIG', `Offsite destination "${destination}" names no environment variable for its ${what}.`);
  const value = env[name];
  if (value === undefined || value === '') {
    throw new BackupError('CONFIG', `Offsite destination "${destination}": the environment variable ${name} (${what}) is not set.`);
  }
  return value;
}

/** The bare destination, without the retry wrapper. */
export function createDestination(spec: DestinationSpec, env: NodeJS.ProcessEnv = process.env): Destination {
  switch (spec.type) {
    case 'local':
      return new LocalDestination(spec.path);
    case 's3':
      return new S3Destination({
        bucket: spec.bucket,
        prefix: spec.prefix,
        region: spec.region || 'us-east-1',
        endpoint: spec.endpoint,
        forcePathStyle: spec.forcePathStyle,
        accessKeyId: spec.accessKeyId,
        secretAccessKey: secretFromEnv(env, spec.secretEnv, 'secret access key', spec.name),
      });
    case 'sftp':
      return new SftpDestination({
        host: spec.host,
        port: spec.port,
        username: spec.username,
        path: spec.path,
        privateKey: secretFromEnv(env, spec.privateKeyEnv, 'private key', spec.name),
        hostKey: spec.hostKey,
      });
    default:
      throw new BackupError('CONFIG', `Unknown offsite destination type "${(spec as { type?: string }).type}".`);
  }
}

/** The destination a run uses: wrapped so transient failures are retried. */
export function openDestination(spec: DestinationSpec, env: NodeJS.ProcessEnv = process.env, retry: RetryOptions = {}): Destination {
  return new RetryingDestination(createDestination(spec, env), retry);
}
