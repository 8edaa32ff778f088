/**
 * What the end-to-end suite needs from outside the project: the CiviCRM archive
 * (CIVIBACKUP_CIVICRM_ARCHIVE, the WordPress plugin build of CiviCRM 6.17) and the scripts
 * that build real sites from it (the folder of the archive, ../shared/civicrm in CI, or
 * CIVIBACKUP_CIVICRM_SCRIPTS). Nothing of CiviCRM is copied into the project.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

export const ARCHIVE_VARIABLE = 'CIVIBACKUP_CIVICRM_ARCHIVE';

export interface E2eEnvironment {
  archive: string;
  scripts: string;
  /**
   * CIVIBACKUP_E2E_KEEP=1 (or a name of letters and digits): fixed names, sites kept and
   * re-used by the next run (for developing the suite). A name keeps apart the kept sites of
   * people sharing a machine.
   */
  keep: boolean;
  /** '' for CIVIBACKUP_E2E_KEEP=1, else its name: part of the kept sites' folder and database names. */
  keepName: string;
}

/** The environment, or the one-line reason the suite is skipped. */
export function e2eEnvironment(): E2eEnvironment | string {
  const given = process.env[ARCHIVE_VARIABLE];
  if (!given) return `${ARCHIVE_VARIABLE} is not set (the CiviCRM 6.17 WordPress plugin archive, e.g. ../shared/civicrm/civicrm-6.17.2-wordpress.tar.xz)`;
  const archive = resolve(given);
  if (!existsSync(archive)) return `${ARCHIVE_VARIABLE}=${given}: no such file`;
  const scripts = resolve(process.env.CIVIBACKUP_CIVICRM_SCRIPTS ?? dirname(archive));
  for (const script of ['setup-standalone.sh', 'setup-wordpress.sh', 'civi-bootstrap.inc.php', 'wp-bootstrap.inc.php']) {
    if (!existsSync(join(scripts, script))) return `${join(scripts, script)} is missing: set CIVIBACKUP_CIVICRM_SCRIPTS to the folder of the site build scripts`;
  }
  const keepValue = process.env.CIVIBACKUP_E2E_KEEP ?? '';
  const keep = keepValue !== '' && keepValue !== '0';
  if (keep && !/^[a-z0-9]{1,16}$/i.test(keepValue)) return `CIVIBACKUP_E2E_KEEP=${keepValue}: use 1, or a name of at most 16 letters and digits`;
  return { archive, scripts, keep, keepName: keep && keepValue !== '1' ? keepValue.toLowerCase() : '' };
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no free port'))));
    });
  });
}
