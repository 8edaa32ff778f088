import { hostname } from 'node:os';
import { ENV } from '../../protocol/job.js';
import { SOURCE_ID_PATTERN, sourceIdentity } from '../../protocol/manifest.js';
import { formatBytes } from '../core/reporter.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { dsnHostLabel, parseDsn } from '../db/dsn.js';
import { listDestination } from '../set/set-reader.js';
import { listRemoteSummaries } from '../destinations/list-remote.js';
import type { CommandModule } from './command.js';

/**
 * The source identity the backups of the site listing the sets record (manifest.ts
 * sourceIdentity): its --source-id, else this machine's host name and the main database the
 * DSN in the environment names. Undefined when neither is given: the listing site is unknown.
 */
function listingSource(sourceId: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (sourceId !== undefined && !SOURCE_ID_PATTERN.test(sourceId)) {
    throw new BackupError('USAGE', `--source-id "${sourceId}" is not a source name (letters, digits, . _ -; at most 64).`);
  }
  const text = env[ENV.DSN];
  const dsn = text ? parseDsn(text) : undefined;
  if (sourceId === undefined && dsn === undefined) return undefined;
  return sourceIdentity({
    source: { hostname: hostname(), ...(sourceId !== undefined ? { id: sourceId } : {}) },
    databases: dsn ? [{ role: 'main', name: dsn.database, host: dsnHostLabel(dsn) }] : [],
  });
}

export const listCommand: CommandModule = {
  name: 'list',
  summary: 'List the complete backup sets in a destination, newest first',
  usage: 'civibackup list DIR [--source-id ID] [--json] | civibackup list --job FILE --remote NAME [--json]',
  async run({ args, env, signal, print }) {
    const { values, positionals } = parseCommandArgs(args, { job: { type: 'string' }, remote: { type: 'string' }, 'source-id': { type: 'string' } }, this.usage);
    // An offsite destination named in a job file (destinations/list-remote.ts).
    const remote = values.remote !== undefined;
    if (remote && (!values.job || positionals.length > 0)) throw new BackupError('USAGE', `list --remote NAME needs --job FILE and no directory.\nusage: ${this.usage}`);
    if (!remote && positionals.length !== 1) throw new BackupError('USAGE', `list takes one destination directory.\nusage: ${this.usage}`);
    // A local destination holds v1 set directories and v2 sets side by side (set/set-reader.ts).
    const local = remote ? undefined : await listDestination(positionals[0]!);
    const listed = local ? local.sets : await listRemoteSummaries(values.job!, values.remote!, env, signal);
    // With the listing site's DSN (CIVIBACKUP_DSN) or source id, each set says whether it is that site's.
    const own = listingSource(values['source-id'], env);
    const sets = own === undefined ? listed : listed.map((set) => ({ ...set, thisSite: set.source === own }));
    // The source of each set, so a person sees when a destination is shared by several sites
    // (retention counts and removes only the sets of its own source).
    const sources = new Set(sets.map((s) => s.source ?? 'none'));
    for (const set of sets) {
      const what = [
        ...set.databases.map((d) => `${d.role === 'main' ? 'db' : 'logdb'} ${d.name} (${d.tables} tables, ${d.rows} rows)`),
        ...set.directories.map((d) => `${d.label} (${d.files} files)`),
      ].join(', ');
      // A v2 set shares pieces with others: what it added, and what it needs kept.
      const size = set.format === 2 ? `added ${formatBytes(set.addedBytes ?? 0)}, references ${formatBytes(set.referencedBytes ?? set.bytes)}` : formatBytes(set.bytes).padStart(9);
      print(`${set.setId}  ${size}  ${set.encrypted ? 'encrypted ' : ''}${set.verification.state}  ${what}  source ${set.source ?? 'none'}${set.thisSite ? ' (this site)' : ''}`);
    }
    if (sets.length === 0) print('no complete backup sets');
    if (local) {
      const parts = [...(local.packs > 0 ? [`${local.packs} packs ${formatBytes(local.packBytes)}`] : []), ...(local.v1Bytes > 0 ? [`version 1 sets ${formatBytes(local.v1Bytes)}`] : [])];
      print(`destination total: ${formatBytes(local.totalBytes)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`);
    }
    if (sources.size > 1) print(`${sources.size} sources share this destination; retention counts and removes each source's sets separately`);
    // destinationBytes: protocol/sets.ts SetListing (the page's "Space used").
    const totals = local ? { destinationBytes: local.totalBytes, packBytes: local.packBytes, packs: local.packs, v1Bytes: local.v1Bytes } : {};
    return { summary: { sets, ...totals, ...(own !== undefined ? { source: own } : {}) } };
  },
};
