/**
 * The extension on a real site, as an administrator handles it: the release zip unpacked into
 * the extensions directory, Extensions » Refresh, Install (API3 Extension.refresh/install,
 * what that page calls), a backup through the Backup API, cron, disable and uninstall.
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildReleaseZip } from '../../helper/support/release-zip.js';
import { phpString, runProcess, type CiviSite } from './site.js';

export const EXTENSION_KEY = 'civibackup';

/** The release zip as `npm run package` builds it (from the dist/ already built by npm test). */
export function releaseZip(outDir: string): string {
  return buildReleaseZip(outDir);
}

/** A copy of the release zip without one of its files: a broken release. */
export async function zipWithout(zip: string, memberPath: string, outPath: string): Promise<string> {
  copyFileSync(zip, outPath);
  const run = await runProcess('zip', ['-q', '-d', outPath, memberPath]);
  if (run.status !== 0) throw new Error(`zip -d ${memberPath} failed: ${run.output}`);
  return outPath;
}

/**
 * Unzips into the extensions directory, refreshes, installs; points the destination at
 * `destination` (outside the web root). Returns the extension's status.
 */
export async function installFromZip(site: CiviSite, zip: string, destination: string): Promise<string> {
  const target = join(site.facts.extensionsDir, EXTENSION_KEY);
  rmSync(target, { recursive: true, force: true });
  const unzip = await runProcess('unzip', ['-q', '-o', zip, '-d', site.facts.extensionsDir]);
  if (unzip.status !== 0) throw new Error(`unzip failed: ${unzip.output}`);
  if (!existsSync(join(target, 'info.xml'))) throw new Error(`the zip did not unpack into ${target}`);
  return site.php<string>(`
    civicrm_api3('Extension', 'refresh', []);
    civicrm_api3('Extension', 'install', ['keys' => ['${EXTENSION_KEY}']]);
    \\Civi\\Api4\\Setting::set(FALSE)->addValue('civibackup_destination', ${phpString(destination)})->execute();
    return CRM_Extension_System::singleton()->getManager()->getStatus('${EXTENSION_KEY}');`);
}

export interface ApiRunResult {
  runId: string;
  result?: { type: string; code?: string; message?: string; set?: string; summary?: Record<string, unknown> };
}

/**
 * The check after an install: a backup through the Backup API (attached, as cron runs it)
 * must end in a `result` event. Throws with what the site said otherwise.
 */
export async function checkBackupRuns(site: CiviSite): Promise<ApiRunResult> {
  const run = await site.php<ApiRunResult | { error: string; code: string }>(`
    try {
      return civicrm_api4('Backup', 'run', ['checkPermissions' => FALSE])->first();
    }
    catch (\\Throwable $e) {
      return ['error' => $e->getMessage(), 'code' => method_exists($e, 'getErrorCode') ? $e->getErrorCode() : get_class($e)];
    }`);
  if ('error' in run) throw new Error(`Backup.run failed on the ${site.kind} site [${run.code}]: ${run.error}`);
  if (run.result?.type !== 'result') throw new Error(`Backup.run on the ${site.kind} site ended in ${JSON.stringify(run.result)}`);
  return run;
}

/** Disables, then uninstalls, the way Administer » Extensions does. */
export async function disableAndUninstall(site: CiviSite): Promise<string> {
  return site.php<string>(`
    $manager = CRM_Extension_System::singleton()->getManager();
    if ($manager->getStatus('${EXTENSION_KEY}') === 'installed') civicrm_api3('Extension', 'disable', ['keys' => ['${EXTENSION_KEY}']]);
    if ($manager->getStatus('${EXTENSION_KEY}') === 'disabled') civicrm_api3('Extension', 'uninstall', ['keys' => ['${EXTENSION_KEY}']]);
    return $manager->getStatus('${EXTENSION_KEY}');`);
}

/** Everything of the extension that could stay in the site's database or private directory. */
export interface Leftovers {
  status: string;
  settings: string[];
  jobs: number;
  navigation: number;
  menu: number;
  managed: number;
  tables: string[];
  runsDirectory: boolean;
  changesDirectory: boolean;
}

export async function leftovers(site: CiviSite): Promise<Leftovers> {
  return site.php<Leftovers>(`
    $count = fn(string $sql) => (int) CRM_Core_DAO::singleValueQuery($sql);
    $settings = [];
    $dao = CRM_Core_DAO::executeQuery("SELECT name FROM civicrm_setting WHERE name LIKE 'civibackup%'");
    while ($dao->fetch()) $settings[] = $dao->name;
    $tables = [];
    $dao = CRM_Core_DAO::executeQuery("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '%civibackup%'");
    while ($dao->fetch()) $tables[] = $dao->TABLE_NAME;
    return [
      'status' => CRM_Extension_System::singleton()->getManager()->getStatus('${EXTENSION_KEY}'),
      'settings' => $settings,
      'jobs' => $count("SELECT COUNT(*) FROM civicrm_job WHERE api_action = 'civibackup_run' OR name LIKE 'CiviBackup%'"),
      'navigation' => $count("SELECT COUNT(*) FROM civicrm_navigation WHERE name = 'civibackup_backups' OR url LIKE '%civibackup%'"),
      'menu' => $count("SELECT COUNT(*) FROM civicrm_menu WHERE path LIKE 'civicrm/admin/setting/civibackup%'"),
      'managed' => $count("SELECT COUNT(*) FROM civicrm_managed WHERE module = '${EXTENSION_KEY}'"),
      'tables' => $tables,
      'runsDirectory' => is_dir(Civi::paths()->getPath('[civicrm.private]/civibackup/runs')),
      'changesDirectory' => is_dir(Civi::paths()->getPath('[civicrm.private]/civibackup/changes')),
    ];`);
}
