/** Reads the job file that names offsite destinations (and the env vars holding their secrets). */
import { readFile } from 'node:fs/promises';
import { validateJob, type BackupJob, type DestinationSpec } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';

export async function readJobFile(path: string): Promise<BackupJob> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new BackupError('CONFIG', `Cannot read the job file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const problems = validateJob(parsed);
  if (problems.length > 0) throw new BackupError('CONFIG', `The job file ${path} is invalid: ${problems.join('; ')}`);
  return parsed as BackupJob;
}

export function findOffsite(job: BackupJob, name: string): DestinationSpec {
  const spec = (job.offsite ?? []).find((d) => d.name === name);
  if (!spec) {
    throw new BackupError('USAGE', `The job file has no offsite destination named "${name}" (it has: ${(job.offsite ?? []).map((d) => d.name).join(', ') || 'none'}).`);
  }
  return spec;
}
