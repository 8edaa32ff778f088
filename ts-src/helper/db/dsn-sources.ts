/**
 * Where the helper finds a database DSN: --db, then the environment (the job's dsnEnv or
 * CIVIBACKUP_DSN), then a civicrm.settings.php (settings-file.ts). TLS files named by the
 * DSN are read here, once, so an unusable one is a CONFIG error before anything is written.
 */
import { ENV } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';
import { parseDsn, tlsWarnings, type Dsn } from './dsn.js';
import { readSettingsDsns } from './settings-file.js';
import { loadTlsOptions } from './tls.js';

export interface DsnSources {
  /** --db (a password here is visible in the process list). */
  flag?: string;
  env: NodeJS.ProcessEnv;
  /** Name of the environment variable to read (job's dsnEnv, else CIVIBACKUP_DSN). */
  envName?: string;
  settingsFile?: string;
  /** Which constant of the settings file: main or logging DSN. */
  role: 'main' | 'logging';
}

export interface ResolvedDsn {
  dsn: Dsn;
  /** Where it came from, for messages: "--db", "env CIVIBACKUP_DSN", "settings file". */
  source: string;
  warnings: string[];
}

/**
 * Resolution order: --db, then the environment variable (the job's dsnEnv or
 * CIVIBACKUP_DSN), then the settings file. Returns undefined when none is given, and for the
 * logging role when the settings file defines CIVICRM_LOGGING_DSN as CIVICRM_DSN (CiviCRM's
 * default: the logging tables live in the main database).
 *
 * CIVICRM_UF_DSN (the CMS's database) is never taken for CiviCRM's: a settings file without
 * a usable CIVICRM_DSN is a CONFIG error even when it defines CIVICRM_UF_DSN.
 */
export async function resolveDsn(sources: DsnSources): Promise<ResolvedDsn | undefined> {
  const warnings: string[] = [];
  const defaultEnv = sources.role === 'main' ? ENV.DSN : ENV.LOGGING_DSN;
  let text: string | undefined;
  let source = '';
  if (sources.flag) {
    text = sources.flag;
    source = sources.role === 'main' ? '--db' : '--logging-db';
    if (parseDsn(text).password !== '') {
      warnings.push(`A password given on the command line (${source}) is visible to other users of this server; set ${defaultEnv} in the environment instead.`);
    }
  } else if (sources.env[sources.envName ?? defaultEnv]) {
    source = `environment variable ${sources.envName ?? defaultEnv}`;
    text = sources.env[sources.envName ?? defaultEnv];
  } else if (sources.settingsFile) {
    const found = await readSettingsDsns(sources.settingsFile);
    const constant = sources.role === 'main' ? 'CIVICRM_DSN' : 'CIVICRM_LOGGING_DSN';
    if (sources.role === 'logging' && found.loggingIsMain) return undefined;
    const error = found.errors[constant];
    if (error) throw error;
    text = sources.role === 'main' ? found.dsn : found.loggingDsn;
    source = `${constant} in ${sources.settingsFile}`;
    if (text === undefined && sources.role === 'main') {
      const uf = found.ufDsn !== undefined || found.errors.CIVICRM_UF_DSN ? ' It defines CIVICRM_UF_DSN, which is the CMS\'s database, not CiviCRM\'s: the helper never backs that up in its place.' : '';
      throw new BackupError(
        'CONFIG',
        `${sources.settingsFile} does not define CIVICRM_DSN.${uf} Give the civicrm.settings.php of the site (the one CiviCRM loads), or pass CiviCRM's DSN in the environment variable ${ENV.DSN}.`,
      );
    }
  }
  if (text === undefined) return undefined;
  const dsn = parseDsn(text);
  warnings.push(...tlsWarnings(dsn, source));
  // Unreadable or unusable TLS files fail now (CONFIG), before anything is written.
  if (dsn.tls) loadTlsOptions(dsn);
  return { dsn, source, warnings };
}
