import { resolve } from 'node:path';
import { ENV } from '../../protocol/job.js';
import type { DatabaseRecord, PartRecord } from '../../protocol/manifest.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { formatBytes } from '../core/reporter.js';
import { describeDsn, resolveDsn, type Dsn } from '../db/dsn.js';
import { checkPartsBeforeRestore, defaultJobs, restoreDatabase, type RestoreDatabaseResult, type RestoreProgress } from '../db/restore.js';
import { planRestore } from '../db/restore-plan.js';
import { findFilesRecord, restoreDirectory, type RestoreDirectoryResult } from '../files/index.js';
import { openSet, restoreTreeOf } from '../set/set-reader.js';
import type { CommandModule } from './command.js';
import { readDecryptionKeys } from './decryption-keys.js';

export function parseJobs(text: string | undefined): number {
  if (text === undefined) return defaultJobs();
  const jobs = Number(text);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) throw new BackupError('USAGE', `--jobs must be a whole number from 1 to 16, not "${text}".`);
  return jobs;
}

function parseFilesTargets(values: string[]): Array<{ label: string; path: string }> {
  return values.map((value) => {
    const eq = value.indexOf('=');
    if (eq <= 0 || eq === value.length - 1) throw new BackupError('USAGE', `--files takes LABEL=PATH, not "${value}".`);
    return { label: value.slice(0, eq), path: resolve(value.slice(eq + 1)) };
  });
}

export const restoreCommand: CommandModule = {
  name: 'restore',
  summary: 'Restore a set: its database into an empty (or, with --force, replaced) database, and directories',
  usage:
    'civibackup restore SET --db DSN [--logging-db DSN] [--force] [--identity FILE] [--passphrase-file FILE] [--files LABEL=PATH]... [--jobs N] [--no-defer-indexes] [--json]',
  async run({ args, reporter, env, signal, print }) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        db: { type: 'string' },
        'logging-db': { type: 'string' },
        force: { type: 'boolean' },
        identity: { type: 'string' },
        'passphrase-file': { type: 'string' },
        files: { type: 'string', multiple: true },
        jobs: { type: 'string' },
        'no-defer-indexes': { type: 'boolean' },
      },
      this.usage,
    );
    if (positionals.length !== 1) throw new BackupError('USAGE', `restore takes one set directory.\nusage: ${this.usage}`);
    const jobs = parseJobs(values.jobs);
    const codec = await readDecryptionKeys(values, env);
    // Either format (set/set-reader.ts): a v1 set directory or a v2 set (sets/<id>).
    const reader = await openSet(positionals[0], codec);
    const setDir = reader.path;
    if (reader.encrypted && !codec.decryption) {
      throw new BackupError('WRONG_KEY', 'This set is encrypted; pass --identity FILE or --passphrase-file FILE (or set CIVIBACKUP_IDENTITY / CIVIBACKUP_PASSPHRASE).');
    }
    const manifest = reader.manifest;

    // What to restore where.
    const databases: Array<{ record: DatabaseRecord; dsn: Dsn }> = [];
    const main = await resolveDsn({ flag: values.db, env, role: 'main' });
    const mainRecord = manifest.databases.find((d) => d.role === 'main');
    if (main) {
      if (!mainRecord) throw new BackupError('USAGE', 'This set holds no main database; leave out --db.');
      for (const warning of main.warnings) reporter.emit({ type: 'warning', code: 'DSN', message: warning });
      databases.push({ record: mainRecord, dsn: main.dsn });
    }
    const logging = await resolveDsn({ flag: values['logging-db'], env, envName: ENV.LOGGING_DSN, role: 'logging' });
    const loggingRecord = manifest.databases.find((d) => d.role === 'logging');
    if (logging && !loggingRecord && values['logging-db']) {
      throw new BackupError('USAGE', 'This set holds no separate logging database; leave out --logging-db.');
    }
    if (logging && loggingRecord) {
      for (const warning of logging.warnings) reporter.emit({ type: 'warning', code: 'DSN', message: warning });
      databases.push({ record: loggingRecord, dsn: logging.dsn });
    } else if (loggingRecord && main) {
      reporter.emit({ type: 'warning', code: 'LOGDB_SKIPPED', message: `The set also holds the logging database ${loggingRecord.name} (logdb/); pass --logging-db DSN to restore it.` });
    }
    if (databases.length === 2 && describeDsn(databases[0].dsn) === describeDsn(databases[1].dsn)) {
      throw new BackupError('USAGE', '--db and --logging-db name the same database; restore the logging database into its own database.');
    }
    const filesTargets = parseFilesTargets(values.files ?? []);
    if (databases.length === 0 && filesTargets.length === 0) {
      throw new BackupError('USAGE', `Nothing to restore: give --db DSN (or ${ENV.DSN}) and/or --files LABEL=PATH.\nusage: ${this.usage}`);
    }

    // Every part used is proven intact before anything is written.
    const parts = new Map<string, PartRecord>();
    const plans = databases.map((d) => planRestore(manifest, d.record));
    for (const plan of plans) for (const part of plan.all) parts.set(part.path, part);
    for (const target of filesTargets) {
      const { part } = findFilesRecord(manifest, target.label);
      parts.set(part.path, part);
    }
    if (reader.format === 2) await reader.checkNeeded([...parts.keys()].filter((path) => !path.startsWith('files/')), filesTargets.map((t) => t.label));
    else await checkPartsBeforeRestore(setDir, manifest, [...parts.values()], codec, reporter);

    const progress: RestoreProgress = { totalBytes: plans.reduce((sum, p) => sum + p.rawBytes, 0), doneBytes: 0 };
    const restored: RestoreDatabaseResult[] = [];
    if (databases.length > 0) {
      reporter.emit({ type: 'phase', phase: 'restore', totalBytes: progress.totalBytes, totalItems: plans.reduce((sum, p) => sum + p.all.length, 0) });
      for (const { record, dsn } of databases) {
        const result = await restoreDatabase({
          source: reader.restoreSource(record),
          database: record,
          target: dsn,
          force: values.force ?? false,
          jobs,
          deferIndexes: !values['no-defer-indexes'],
          reporter,
          signal,
          progress,
        });
        restored.push(result);
        print(`restored ${record.role} database ${record.name} into ${describeDsn(dsn)}: ${result.statements} statements, ${formatBytes(result.rawBytes)} of SQL in ${result.seconds.toFixed(1)} s (${result.jobs} connections)`);
      }
    }

    const directories: RestoreDirectoryResult[] = [];
    if (filesTargets.length > 0) {
      reporter.emit({ type: 'phase', phase: 'files' });
      for (const target of filesTargets) {
        const options = { force: values.force ?? false, decryption: codec.decryption, reporter, signal, hashChecked: true };
        const result = reader.format === 2 ? await restoreTreeOf(reader, target.label, target.path, options) : await restoreDirectory(setDir, manifest, target.label, target.path, options);
        directories.push(result);
        print(`restored ${target.label} into ${result.target}`);
      }
    }
    return { set: setDir, summary: { databases: restored, directories } };
  },
};
