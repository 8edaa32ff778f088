import { resolve } from 'node:path';
import type { DirectorySpec } from '../../protocol/job.js';
import { SOURCE_ID_PATTERN, type Compression } from '../../protocol/manifest.js';
import { runBackup } from '../backup/run-backup.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { formatBytes } from '../core/reporter.js';
import { resolveEncryptionKeys } from '../crypto/keys.js';
import { readJobFile } from '../destinations/job-file.js';
import { describeDsn } from '../db/dsn.js';
import { resolveDsn } from '../db/dsn-sources.js';
import { parseDirectoryArgs } from '../files/index.js';
import { DEFAULT_GZIP_LEVEL, type WriteCodec } from '../set/codec.js';
import type { CommandModule } from './command.js';

const DEFAULT_LEVELS: Record<Compression, number> = { gzip: DEFAULT_GZIP_LEVEL, zstd: 3, none: 0 };

function positiveInt(text: string | undefined): number | undefined {
  const n = Number(text);
  return text && Number.isInteger(n) && n > 0 ? n : undefined;
}


export const backupCommand: CommandModule = {
  name: 'backup',
  summary: 'Back up the CiviCRM database (one consistent snapshot), the logging database and directories into a new (deduplicated) set',
  usage:
    'civibackup backup --to DIR [--db DSN] [--logging-db DSN] [--settings civicrm.settings.php] [--job FILE] [--exclude-data TABLE_GLOB]... [--no-skip-cache-data] [--compression gzip|zstd|none] [--level N] [--files LABEL=PATH]... [--exclude PATTERN]... [--include-logs] [--exclude-upload-dir] [--recipient AGE_RECIPIENT]... [--passphrase-file FILE] [--source-id NAME] [--format 2|1] [--state-dir DIR] [--no-db] [--json]',
  async run({ args, reporter, env, signal, print }) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        to: { type: 'string' },
        db: { type: 'string' },
        'logging-db': { type: 'string' },
        settings: { type: 'string' },
        job: { type: 'string' },
        'exclude-data': { type: 'string', multiple: true },
        'no-skip-cache-data': { type: 'boolean' },
        compression: { type: 'string' },
        level: { type: 'string' },
        files: { type: 'string', multiple: true },
        exclude: { type: 'string', multiple: true },
        'include-logs': { type: 'boolean' },
        'exclude-upload-dir': { type: 'boolean' },
        recipient: { type: 'string', multiple: true },
        'passphrase-file': { type: 'string' },
        'source-id': { type: 'string' },
        format: { type: 'string' },
        'state-dir': { type: 'string' },
        'no-db': { type: 'boolean' },
      },
      this.usage,
    );
    if (positionals.length > 0) throw new BackupError('USAGE', `Unexpected argument "${positionals[0]}".\nusage: ${this.usage}`);
    const job = values.job ? await readJobFile(values.job) : undefined;
    const sourceId = values['source-id'] ?? job?.sourceId;
    if (sourceId !== undefined && !SOURCE_ID_PATTERN.test(sourceId)) {
      throw new BackupError('USAGE', `--source-id must be a short name matching ${SOURCE_ID_PATTERN} (letters, digits, '.', '_', '-'), not "${sourceId}".`);
    }

    const to = values.to ?? job?.to;
    if (!to) throw new BackupError('USAGE', `backup needs --to DIR (the destination directory).\nusage: ${this.usage}`);

    const formatText = values.format ?? (job?.format !== undefined ? String(job.format) : '2');
    if (formatText !== '1' && formatText !== '2') throw new BackupError('USAGE', `--format must be 2 (deduplicated sets, the default) or 1 (a set directory of parts, as version 0.1.0 wrote), not "${formatText}".`);
    const format = Number(formatText) as 1 | 2;
    const stateDir = values['state-dir'] ?? job?.stateDir;
    const noDb = values['no-db'] ?? false;
    if (noDb && (values.db || values['logging-db'])) throw new BackupError('USAGE', '--no-db backs up directories only; leave out --db and --logging-db.');
    if (noDb && (values.files ?? []).length === 0 && (job?.files ?? []).length === 0) throw new BackupError('USAGE', '--no-db needs at least one --files LABEL=PATH: there is nothing else to back up.');

    const main = noDb ? undefined : await resolveDsn({ flag: values.db, env, envName: job?.database?.dsnEnv, settingsFile: values.settings, role: 'main' });
    if (!main && !noDb) {
      throw new BackupError('USAGE', 'No database given: pass --settings civicrm.settings.php, set CIVIBACKUP_DSN in the environment, or use --db DSN (or --no-db for directories only).');
    }
    const logging = noDb
      ? undefined
      : await resolveDsn({
          flag: values['logging-db'],
          env,
          envName: job?.loggingDatabase?.dsnEnv,
          settingsFile: values.settings,
          role: 'logging',
        });
    const warnings = [...(main?.warnings ?? []), ...(logging?.warnings ?? [])];
    for (const message of warnings) reporter.emit({ type: 'warning', code: 'DSN', message });
    // A logging DSN naming the main database is CiviCRM's default: nothing separate to dump.
    const loggingDsn =
      main && logging && describeDsn(logging.dsn) !== describeDsn(main.dsn) && logging.dsn.database !== main.dsn.database ? logging.dsn : undefined;

    const compression = (values.compression ?? job?.compression?.algorithm ?? 'gzip') as Compression;
    if (!['gzip', 'zstd', 'none'].includes(compression)) throw new BackupError('USAGE', `--compression must be gzip, zstd or none, not "${compression}".`);
    const levelText = values.level ?? (job?.compression?.level !== undefined ? String(job.compression.level) : undefined);
    const level = levelText === undefined ? DEFAULT_LEVELS[compression] : Number(levelText);
    if (!Number.isInteger(level) || level < 0 || level > (compression === 'zstd' ? 19 : 9)) throw new BackupError('USAGE', `--level ${levelText} is out of range for ${compression}.`);

    const encryption = await resolveEncryptionKeys({
      recipients: [...(values.recipient ?? []), ...(job?.encryption?.recipients ?? [])],
      passphraseFile: values['passphrase-file'],
      passphraseEnv: job?.encryption?.passphraseEnv,
      env,
    });
    const codec: WriteCodec = { compression, level, ...(encryption ? { encryption } : {}) };

    const files: DirectorySpec[] = [...parseDirectoryArgs(values.files ?? []), ...(job?.files ?? [])];
    const summary = await runBackup({
      to,
      ...(main ? { dsn: main.dsn } : {}),
      format,
      ...(stateDir ? { stateDir: resolve(stateDir) } : {}),
      loggingDsn,
      codec,
      reporter,
      signal,
      excludeData: [...(values['exclude-data'] ?? []), ...(job?.database?.excludeData ?? [])],
      skipCacheData: values['no-skip-cache-data'] ? false : (job?.database?.skipCacheData ?? true),
      files,
      filesExclude: [...(values.exclude ?? []), ...(job?.exclude ?? [])],
      filesIncludeLogs: values['include-logs'] ?? job?.includeLogs ?? false,
      filesExcludeUploadDir: values['exclude-upload-dir'] ?? job?.excludeUploadDir ?? false,
      trigger: job?.trigger ?? 'cli',
      civicrmVersion: job?.civicrmVersion,
      site: job?.site,
      ...(sourceId !== undefined ? { sourceId } : {}),
      warnings,
      offsite: job?.offsite,
      retention: job?.retention,
      env,
      // Test-only knobs (like CIVIBACKUP_TEST_SCRYPT_LOG_N): small parts and statements make
      // the split paths run on small fixtures.
      partRawBytes: positiveInt(env.CIVIBACKUP_TEST_PART_RAW_BYTES),
      statementBytes: positiveInt(env.CIVIBACKUP_TEST_STATEMENT_BYTES),
      parallelMinBytes: positiveInt(env.CIVIBACKUP_TEST_PARALLEL_MIN_BYTES),
    });
    const seconds = (summary.durations.totalMs / 1000).toFixed(1);
    print(
      summary.dedup
        ? `${summary.set}: ${summary.tables} tables, ${summary.rows} rows, ${summary.directories} directories, ${formatBytes(summary.dedup.addedBytes)} added (${summary.dedup.newBlobs} new blobs), ${formatBytes(summary.dedup.referencedBytes)} referenced in ${seconds} s`
        : `${summary.set}: ${summary.tables} tables, ${summary.rows} rows, ${summary.directories} directories, ${summary.parts} parts, ${formatBytes(summary.bytes)} (${formatBytes(summary.rawBytes)} before compression) in ${seconds} s`,
    );
    const code = summary.codeChanges;
    if (code) {
      print(
        code.compared
          ? `CiviCRM code since ${code.previous?.setId ?? 'the previous set'}: ${code.counts.modified} modified, ${code.counts.added} added, ${code.counts.removed} removed`
          : 'CiviCRM code: no previous set to compare',
      );
    }
    return { set: summary.set, summary: { ...summary } };
  },
};
