/**
 * Real CiviCRM 6.17 sites for helper tests, built by the shared scripts (CiviCRM's own
 * installer) from the archive in CIVIBACKUP_CIVICRM_ARCHIVE (the WordPress plugin build; the
 * scripts beside it, or in CIVIBACKUP_CIVICRM_SCRIPTS). The same variables as test/e2e.
 * Nothing of CiviCRM is copied into the project: the sites live in temporary roots.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { dropDatabase, uniqueName } from './mariadb.js';

export const ARCHIVE_VARIABLE = 'CIVIBACKUP_CIVICRM_ARCHIVE';

export interface CivicrmSource {
  archive: string;
  scripts: string;
}

/** The archive and scripts, or the one-line reason the tests that need them are skipped. */
export function civicrmSource(): CivicrmSource | string {
  const given = process.env[ARCHIVE_VARIABLE];
  if (!given) return `${ARCHIVE_VARIABLE} is not set (the CiviCRM 6.17 WordPress plugin archive, e.g. ../shared/civicrm/civicrm-6.17.2-wordpress.tar.xz)`;
  const archive = resolve(given);
  if (!existsSync(archive)) return `${ARCHIVE_VARIABLE}=${given}: no such file`;
  const scripts = resolve(process.env.CIVIBACKUP_CIVICRM_SCRIPTS ?? dirname(archive));
  if (!existsSync(join(scripts, 'setup-standalone.sh'))) return `no setup-standalone.sh in ${scripts} (set CIVIBACKUP_CIVICRM_SCRIPTS)`;
  return { archive, scripts };
}

export interface SiteOptions {
  /** The database user the site is installed as (and writes into its settings file); root by default. */
  user?: string;
  password?: string;
  /** A prefix for the database name (made unique). */
  prefix: string;
  /** The database name itself, when the test made and granted it beforehand. */
  database?: string;
}

export interface BuiltSite {
  kind: 'standalone' | 'wordpress';
  root: string;
  database: string;
  settingsFile: string;
  /** The installer's output, for a failure message. */
  log: string;
  remove(): Promise<void>;
}

function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (log += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(log) : reject(new Error(`${script} failed (${code}):\n${log.slice(-4000)}`))));
  });
}

/**
 * Builds a Standalone or WordPress + CiviCRM site in a temporary root with the shared script,
 * without apt (the CI machine's setup installed PHP), HTTP checks or sample data: what the
 * tests need is the installer's database and settings file.
 */
export async function buildSite(kind: 'standalone' | 'wordpress', source: CivicrmSource, options: SiteOptions): Promise<BuiltSite> {
  const root = await mkdtemp(join(tmpdir(), `cbt-${kind}-`));
  const database = options.database ?? uniqueName(options.prefix);
  const user = options.user ?? 'root';
  const password = options.password ?? '';
  const env: NodeJS.ProcessEnv =
    kind === 'standalone'
      ? { CIVI_DB_NAME: database, CIVI_DB_USER: user, CIVI_DB_PASS: password, CIVI_SKIP_APT: '1', CIVI_SKIP_HTTP: '1', CIVI_SKIP_VERIFY: '1', CIVI_SAMPLE_CONTACTS: '3' }
      : { WPCIVI_DB_NAME: database, WPCIVI_DB_USER: user, WPCIVI_DB_PASS: password, WPCIVI_SKIP_APT: '1', WPCIVI_SKIP_HTTP: '1', WPCIVI_SKIP_VERIFY: '1', WPCIVI_SAMPLE_CONTACTS: '3' };
  const script = join(source.scripts, kind === 'standalone' ? 'setup-standalone.sh' : 'setup-wordpress.sh');
  const remove = async () => {
    dropDatabase(database);
    await rm(root, { recursive: true, force: true });
  };
  let log: string;
  try {
    log = await runScript(script, [root, source.archive], env);
  } catch (error) {
    await remove();
    throw error;
  }
  const settingsFile =
    kind === 'standalone'
      ? join(root, 'private', 'civicrm.settings.php')
      : (/^WPCIVI_SETTINGS_FILE='([^']*)'/m.exec(readFileSync(join(root, '.wp-setup-info'), 'utf8'))?.[1] ?? join(root, 'wp-content/uploads/civicrm/civicrm.settings.php'));
  return { kind, root, database, settingsFile, log, remove };
}
