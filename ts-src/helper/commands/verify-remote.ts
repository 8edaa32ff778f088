/**
 * `civibackup verify SET --job FILE --remote NAME`: checks a set on an offsite destination by
 * downloading every part and comparing size and SHA-256 with its manifest (streaming). SET may
 * be a set id or "latest" (the newest complete set there).
 */
import { BackupError } from '../core/errors.js';
import type { CommandContext, CommandResult } from './command.js';
import { findOffsite, readJobFile } from '../destinations/job-file.js';
import { openDestination } from '../destinations/open.js';
import { listRemoteSets, verifyRemoteSet } from '../destinations/remote-sets.js';
import { listRemoteV2Sets, verifyRemoteRepositorySet } from '../destinations/remote-repository.js';

export async function verifyRemote(context: CommandContext, options: { jobFile?: string; remote: string; set: string }): Promise<CommandResult> {
  const { reporter, env, signal, print } = context;
  if (!options.jobFile) throw new BackupError('USAGE', '--remote NAME needs --job FILE (the job file names the destination and its credential variables).');
  const spec = findOffsite(await readJobFile(options.jobFile), options.remote);
  const destination = openDestination(spec, env, { signal });
  try {
    // Both formats: 0.1.0 set folders and deduplicated sets (sets/<id>/).
    const deduplicated = new Set((await listRemoteV2Sets(destination)).filter((s) => s.manifest).map((s) => s.setId));
    let setId = options.set;
    if (setId === 'latest') {
      const newest = [...deduplicated, ...(await listRemoteSets(destination)).map((s) => s.setId)].sort().at(-1);
      if (!newest) throw new BackupError('SET_INCOMPLETE', `${destination.location} holds no complete set.`);
      setId = newest;
    }
    reporter.emit({ type: 'phase', phase: 'verify' });
    let bytes = 0;
    const onBytes = (n: number): void => {
      bytes += n;
      reporter.emit({ type: 'progress', phase: 'verify', item: setId, bytes });
    };
    const result = deduplicated.has(setId) ? await verifyRemoteRepositorySet(destination, setId, { signal, onBytes }) : await verifyRemoteSet(destination, setId, { signal, onBytes });
    print(`${setId} on ${destination.location}: ${result.parts} ${deduplicated.has(setId) ? 'packs' : 'parts'} intact (hashes-ok)`);
    return { set: `${destination.location}/${setId}`, summary: { state: 'hashes-ok', location: destination.location, setId, parts: result.parts, bytes: result.bytes } };
  } finally {
    await destination.close();
  }
}
