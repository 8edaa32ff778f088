import { resolve } from 'node:path';
import { ENV } from '../../protocol/job.js';
import type { DatabaseRecord, PartRecord } from '../../protocol/manifest.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { formatBytes } from '../core/reporter.js';
import { describeDsn, type Dsn } from '../db/dsn.js';
import { resolveDsn } from '../db/dsn-sources.js';
import { atomicRestore, type AtomicRestoreResult } from '../db/atomic-restore.js';
import { checkPartsBeforeRestore, defaultJobs, inspectTarget, objectCount, restoreDatabase, type RestoreDatabaseResult, type RestoreProgress } from '../db/restore.js';
import { openRestoreConnection } from '../db/restore-exec.js';
import { RESTORE_SCOPES, type RestoreScope } from '../db/swap.js';
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

function parseScope(text: string | undefined): RestoreScope {
  if (text === undefined) return 'civicrm';
  if (!(RESTORE_SCOPES as readonly string[]).includes(text)) throw new BackupError('USAGE', `--scope takes civicrm (CiviCRM's tables only) or all (every table of the set), not "${text}".`);
  return text as RestoreScope;
}

function parseDatabaseName(option: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^[A-Za-z0-9_]{1,64}$/.test(text)) throw new BackupError('USAGE', `${option} takes a database name (letters, digits, _; at most 64), not "${text}".`);
  return text;
}

/** True when the target holds anything: the restore then replaces (with --force). */
async function targetHoldsObjects(target: Dsn): Promise<boolean> {
  const admin = await openRestoreConnection(target, null);
  try {
    return objectCount(await inspectTarget(admin, target.database)) > 0;
  } finally {
    await admin.close();
  }
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
    'civibackup restore SET --db DSN [--logging-db DSN] [--force [--scope civicrm|all] [--staging-db NAME] [--old-db NAME] [--keep-old] | --force --in-place] [--identity FILE] [--passphrase-file FILE] [--files LABEL=PATH]... [--jobs N] [--no-defer-indexes] [--json]',
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
        scope: { type: 'string' },
        'staging-db': { type: 'string' },
        'old-db': { type: 'string' },
        'keep-old': { type: 'boolean' },
        'in-place': { type: 'boolean' },
      },
      this.usage,
    );
    if (positionals.length !== 1) throw new BackupError('USAGE', `restore takes one set directory.\nusage: ${this.usage}`);
    const jobs = parseJobs(values.jobs);
    const scope = parseScope(values.scope);
    const stagingDatabase = parseDatabaseName('--staging-db', values['staging-db']);
    const oldDatabase = parseDatabaseName('--old-db', values['old-db']);
    if (values['in-place'] && (values.scope !== undefined || stagingDatabase || oldDatabase || values['keep-old'])) {
      throw new BackupError('USAGE', '--in-place replaces every table where it is; it takes no --scope, --staging-db, --old-db or --keep-old.');
    }
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
    if (databases.length === 2 && (stagingDatabase || oldDatabase)) {
      throw new BackupError('USAGE', '--staging-db and --old-db name the work databases of one database, and this restore replaces two; leave them out (each database gets <name>_cbstage and <name>_cbold).');
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
    const restored: Array<RestoreDatabaseResult | AtomicRestoreResult> = [];
    if (databases.length > 0) {
      reporter.emit({ type: 'phase', phase: 'restore', totalBytes: progress.totalBytes, totalItems: plans.reduce((sum, p) => sum + p.all.length, 0) });
      for (const { record, dsn } of databases) {
        const common = {
          source: reader.restoreSource(record),
          database: record,
          jobs,
          deferIndexes: !values['no-defer-indexes'],
          reporter,
          signal,
          progress,
        };
        // Over a live database (--force on one that holds anything): staged, checked, swapped.
        if (values.force && !values['in-place'] && (await targetHoldsObjects(dsn))) {
          const result = await atomicRestore({
            target: dsn,
            record,
            scope,
            stagingDatabase,
            oldDatabase,
            keepOld: values['keep-old'] ?? false,
            jobs,
            reporter,
            signal,
            load: (staging, hooks) => restoreDatabase({ ...common, target: staging, force: false, ...hooks }),
          });
          restored.push(result);
          print(
            `restored ${record.role} database ${record.name} into ${describeDsn(dsn)} (scope ${scope}): ${result.tablesIn} tables swapped in, ${result.tablesOut} replaced, ${result.untouchedTables} other tables untouched; load ${result.load.seconds.toFixed(1)} s, check ${result.checkSeconds.toFixed(1)} s, swap ${result.swapMs} ms, trigger gap ${result.triggerGapMs} ms`,
          );
          for (const note of result.leftovers) print(`  earlier restore: ${note}`);
          if (result.keptTables.length > 0) print(`  the ${result.keptTables.length} replaced tables are kept in ${result.oldDatabase} (--keep-old); DROP DATABASE \`${result.oldDatabase}\` when they are no longer needed`);
          continue;
        }
        const result = await restoreDatabase({ ...common, target: dsn, force: values.force ?? false });
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
