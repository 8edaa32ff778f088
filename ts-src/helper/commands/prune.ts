/**
 * civibackup prune: apply a retention policy to a local destination directory (under its lock)
 * or to an offsite destination named in a job file, printing every decision and its reasons.
 * Only the sets of one source are counted and removed (retention/source.ts): `--source` names
 * it, else it is the source of the newest complete set, and the output says which.
 */
import { stat } from 'node:fs/promises';
import type { RetentionPolicy } from '../../protocol/job.js';
import { findOffsite, readJobFile } from '../destinations/job-file.js';
import { parseCommandArgs } from '../core/args.js';
import { formatBytes } from '../core/reporter.js';
import { BackupError } from '../core/errors.js';
import { openDestination } from '../destinations/open.js';
import { applyRemoteRetention } from '../destinations/remote-retention.js';
import { applyLocalRetention, pruneRepositoryData, type LocalPruneResult, type RepositoryPruneResult } from '../retention/local.js';
import { policyIsEmpty, type RetentionDecision } from '../../protocol/retention-policy.js';
import { describeLeftAlone, type SourceScope } from '../retention/source.js';
import { acquireLock } from '../set/set-store.js';
import type { CommandModule } from './command.js';

const KEEP_OPTIONS = {
  'keep-last': 'keepLast',
  'keep-hourly': 'keepHourly',
  'keep-daily': 'keepDaily',
  'keep-weekly': 'keepWeekly',
  'keep-monthly': 'keepMonthly',
  'keep-yearly': 'keepYearly',
} as const satisfies Record<string, keyof RetentionPolicy>;

export function describeDecision(decision: RetentionDecision, dryRun: boolean): string {
  const verb = decision.action === 'keep' ? 'keep  ' : dryRun ? 'WOULD REMOVE' : 'remove';
  return `${verb.padEnd(12)} ${decision.id}  ${decision.reasons.join('; ')}`;
}

export const pruneCommand: CommandModule = {
  name: 'prune',
  summary: 'Remove the sets a retention policy does not keep (restic-style keep rules), locally or on an offsite destination',
  usage:
    'civibackup prune [DIR | --job FILE --remote NAME] [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--source SOURCE] [--include-unidentified] [--dry-run] [--json]',
  async run({ args, reporter, env, signal, print }) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        ...Object.fromEntries(Object.keys(KEEP_OPTIONS).map((name) => [name, { type: 'string' as const }])),
        'dry-run': { type: 'boolean' },
        job: { type: 'string' },
        remote: { type: 'string' },
        source: { type: 'string' },
        'include-unidentified': { type: 'boolean' },
      },
      this.usage,
    );
    const dryRun = values['dry-run'] === true;
    const policy: RetentionPolicy = {};
    for (const [option, field] of Object.entries(KEEP_OPTIONS)) {
      const text = (values as Record<string, string | boolean | undefined>)[option];
      if (typeof text !== 'string') continue;
      const n = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new BackupError('USAGE', `--${option} needs a whole number, not "${text}".\nusage: ${this.usage}`);
      policy[field] = n;
    }
    const job = values.job ? await readJobFile(values.job) : undefined;
    const effective = policyIsEmpty(policy) && job?.retention ? job.retention : policy;
    if (policyIsEmpty(effective)) {
      throw new BackupError('USAGE', `prune needs at least one --keep-* rule above 0 (or a job file with a retention policy); it never removes everything.\nusage: ${this.usage}`);
    }

    if (values.source === '') throw new BackupError('USAGE', `--source needs a source as \`civibackup list\` shows it.\nusage: ${this.usage}`);
    // A job that names its source (sourceId) prunes that source's sets, as its backup runs do.
    const givenSource = values.source ?? job?.sourceId;
    const scope: SourceScope = { ...(givenSource !== undefined ? { source: givenSource } : {}), includeUnidentified: values['include-unidentified'] === true };

    reporter.emit({ type: 'phase', phase: 'prune' });
    let result: Omit<LocalPruneResult, 'decisions'> & { decisions: RetentionDecision[] };
    let repositoryResult: RepositoryPruneResult | undefined;
    if (values.remote !== undefined) {
      if (!job) throw new BackupError('USAGE', `--remote NAME needs --job FILE (the job file names the destination and its credential variables).\nusage: ${this.usage}`);
      const spec = findOffsite(job, values.remote);
      const destination = openDestination(spec, env, { signal });
      try {
        result = await applyRemoteRetention(destination, effective, new Date(), scope, { dryRun });
      } finally {
        await destination.close();
      }
    } else {
      const dir = positionals[0] ?? job?.to;
      if (!dir || positionals.length > 1) throw new BackupError('USAGE', `prune takes one destination directory (or --job FILE).\nusage: ${this.usage}`);
      if (!(await stat(dir).then((info) => info.isDirectory(), () => false))) throw new BackupError('USAGE', `The destination ${dir} does not exist or is not a directory.`);
      // Under the destination lock: a backup run in progress is never pruned under its feet.
      const lock = await acquireLock(dir, reporter.runId);
      try {
        result = await applyLocalRetention(dir, effective, new Date(), scope, { dryRun });
        // Then the deduplicated data no remaining set of any source needs (retention/local.ts).
        repositoryResult = await pruneRepositoryData(dir, reporter.runId, reporter, { dryRun });
      } finally {
        await lock.release();
      }
    }
    const { location, decisions, removed, source, sourceChosen, leftAlone, completeCounted } = result;
    // Say whose sets were pruned before what was done to them: on a shared destination the
    // person must be able to see that the right site's sets were counted.
    if (sourceChosen === 'none') print(`source: none (no complete set here records a source)${scope.includeUnidentified ? '; sets without a source identity are pruned' : ''}`);
    else print(`source: ${source} (${sourceChosen === 'given' ? (values.source !== undefined ? 'given by --source' : "the job's sourceId") : 'of the newest complete set; pass --source to choose another'})${scope.includeUnidentified ? ', and sets without a source identity' : ''}`);
    // A mistyped --source counts nothing (safe), but say so rather than look like a no-op.
    if (source !== undefined && completeCounted === 0) {
      print(`no complete set of source ${source} here (\`civibackup list\` shows the sources)`);
    }
    for (const decision of decisions) print(describeDecision(decision, dryRun));
    for (const set of leftAlone) print(`${'other'.padEnd(12)} ${set.id}  ${set.source === undefined ? 'no source identity (--include-unidentified counts it)' : `source ${set.source}`}: left alone`);
    const leftAloneLine = describeLeftAlone(leftAlone, location);
    if (leftAloneLine) reporter.emit({ type: 'warning', code: 'OTHER_SOURCES_LEFT_ALONE', message: leftAloneLine });
    const toRemove = decisions.filter((d) => d.action === 'remove').length;
    print(dryRun ? `dry run: ${toRemove} of ${decisions.length} sets would be removed from ${location}` : `removed ${removed.length} of ${decisions.length} sets from ${location}`);
    if (repositoryResult) {
      const { removedPacks, freedBytes, keptPacks, skipped } = repositoryResult;
      if (skipped) print(`deduplicated data: not pruned: ${skipped}`);
      else print(`deduplicated data: ${dryRun ? 'would remove' : 'removed'} ${removedPacks} packs (${formatBytes(freedBytes)}) no kept set of any source needs; ${keptPacks} packs kept`);
    }
    return {
      set: location,
      summary: { location, dryRun, policy: effective, source: source ?? null, sourceChosen, completeCounted, decisions, removed, leftAlone, ...(repositoryResult ? { repository: repositoryResult } : {}) },
    };
  },
};
