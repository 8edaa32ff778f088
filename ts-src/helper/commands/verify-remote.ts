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

export async function verifyRemote(context: CommandContext, options: { jobFile?: string; remote: string; set: string }): Promise<CommandResult> {
  const { reporter, env, signal, print } = context;
  if (!options.jobFile) throw new BackupError('USAGE', '--remote NAME needs --job FILE (the job file names the destination and its credential variables).');
  const spec = findOffsite(await readJobFile(options.jobFile), options.remote);
  const destination = openDestination(spec, env, { signal });
  try {
    let setId = options.set;
    if (setId === 'latest') {
      const newest = (await listRemoteSets(destination))[0];
      if (!newest) throw new BackupError('SET_INCOMPLETE', `${destination.location} holds no complete set.`);
      setId = newest.setId;
    }
    reporter.emit({ type: 'phase', phase: 'verify' });
    let bytes = 0;
    const result = await verifyRemoteSet(destination, setId, {
      signal,
      onBytes: (n) => {
        bytes += n;
        reporter.emit({ type: 'progress', phase: 'verify', item: setId, bytes });
      },
    });
    print(`${setId} on ${destination.location}: ${result.parts} parts intact (hashes-ok)`);
    return { set: `${destination.location}/${setId}`, summary: { state: 'hashes-ok', location: destination.location, setId, parts: result.parts, bytes: result.bytes } };
  } finally {
    await destination.close();
  }
}
