/**
 * `civibackup list --job FILE --remote NAME`: the complete sets on an offsite destination, in
 * the same SetSummary shape as a local list (verification is 'unverified': remote sets carry
 * no verification record; `verify --remote` checks them).
 */
import type { SetSummary } from '../../protocol/sets.js';
import { summarizeSet } from '../set/set-store.js';
import { summarizeV2 } from '../set/set-reader.js';
import { findOffsite, readJobFile } from './job-file.js';
import { openDestination } from './open.js';
import { listRemoteSets } from './remote-sets.js';
import { listRemoteV2Sets } from './remote-repository.js';

export async function listRemoteSummaries(jobFile: string, remote: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<SetSummary[]> {
  const spec = findOffsite(await readJobFile(jobFile), remote);
  const destination = openDestination(spec, env, { signal });
  try {
    const unverified = { state: 'unverified' as const, at: '' };
    // Both formats, newest first: 0.1.0 set folders and deduplicated sets (sets/<id>/).
    const sets = [
      ...(await listRemoteSets(destination)).map((set) => summarizeSet(set.manifest!, `${destination.location}/${set.setId}`, unverified)),
      ...(await listRemoteV2Sets(destination)).flatMap((set) => (set.manifest ? [summarizeV2(set.manifest, `${destination.location}/sets/${set.setId}`, unverified)] : [])),
    ];
    return sets.sort((a, b) => (a.setId < b.setId ? 1 : a.setId > b.setId ? -1 : 0));
  } finally {
    await destination.close();
  }
}
