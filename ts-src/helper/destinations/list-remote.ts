/**
 * `civibackup list --job FILE --remote NAME`: the complete sets on an offsite destination, in
 * the same SetSummary shape as a local list (verification is 'unverified': remote sets carry
 * no verification record; `verify --remote` checks them).
 */
import type { SetSummary } from '../../protocol/sets.js';
import { summarizeSet } from '../set/set-store.js';
import { findOffsite, readJobFile } from './job-file.js';
import { openDestination } from './open.js';
import { listRemoteSets } from './remote-sets.js';

export async function listRemoteSummaries(jobFile: string, remote: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<SetSummary[]> {
  const spec = findOffsite(await readJobFile(jobFile), remote);
  const destination = openDestination(spec, env, { signal });
  try {
    return (await listRemoteSets(destination)).map((set) => summarizeSet(set.manifest!, `${destination.location}/${set.setId}`, { state: 'unverified', at: '' }));
  } finally {
    await destination.close();
  }
}
