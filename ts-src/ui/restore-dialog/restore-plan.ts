/**
 * What a restore from the page will do, as pure functions of the administrator's choices,
 * the set and the site's configuration: which choices are offered, what is wrong with them,
 * the Backup.restore params they make, and the plain statement of what will be replaced.
 * The dialog renders these; tests check them without a browser round trip.
 */
import type { BackupConfig, RestoreParams, RestoreScope } from '../../protocol/api.js';
import type { SetSummary } from '../../protocol/sets.js';
import { ts } from '../i18n.js';
import { formatBytes, formatDateTime } from '../shared/format.js';

export type RestoreTarget = 'live' | 'new-database';

export interface RestoreChoices {
  target: RestoreTarget;
  /** Over the live site: restore the database. */
  database: boolean;
  scope: RestoreScope;
  /** Over the live site: labels of the set's directories to restore. */
  directories: string[];
  /** Into a new database: its name. */
  newDatabase: string;
}

/** A database name PHP accepts for a new database (CRM_Civibackup_Dsn::isDatabaseName). */
export const DATABASE_NAME_PATTERN = /^[A-Za-z0-9_$]{1,64}$/;

type SetDatabase = SetSummary['databases'][number];

export function mainDatabase(set: SetSummary): SetDatabase | undefined {
  return set.databases.find((d) => d.role === 'main');
}

/** The scope matters (and is offered) only when the set's database holds tables that are not CiviCRM's. */
export function offersScope(set: SetSummary): boolean {
  return (mainDatabase(set)?.otherTables ?? 0) > 0;
}

/** The first choice shown: the database over the live site when the set has one, else nothing chosen yet. */
export function defaultChoices(set: SetSummary): RestoreChoices {
  return { target: 'live', database: mainDatabase(set) !== undefined, scope: 'civicrm', directories: [], newDatabase: '' };
}

/** The site's path for a directory label (the Directories settings), null when it has none. */
export function directoryPath(config: BackupConfig | null, label: string): string | null {
  return config?.directories.find((d) => d.key === label)?.path ?? null;
}

/** Why the choices cannot be started yet (empty: they can). */
export function choiceProblems(choices: RestoreChoices, set: SetSummary): string[] {
  if (choices.target === 'new-database') {
    if (!mainDatabase(set)) return [ts('This set holds no database.')];
    if (!DATABASE_NAME_PATTERN.test(choices.newDatabase)) return [ts('Name the new database: letters, digits and _, at most 64.')];
    return [];
  }
  if (!choices.database && choices.directories.length === 0) return [ts('Choose the database, a directory, or both.')];
  return [];
}

/** The Backup.restore params (without run id and identity, which the dialog adds as it starts). */
export function restoreParams(choices: RestoreChoices, set: SetSummary, confirm: string): RestoreParams {
  if (choices.target === 'new-database') return { setId: set.setId, newDatabase: choices.newDatabase, confirm, async: true };
  return {
    setId: set.setId,
    database: choices.database,
    ...(choices.database ? { scope: choices.scope } : {}),
    directories: choices.directories,
    confirm,
    async: true,
  };
}

export interface PlanLine {
  id: string;
  text: string;
  /** Something the administrator must know before going on (shown as a warning). */
  caution?: boolean;
}

/**
 * What will be replaced, what the safety backup is, and what happens afterwards, one line
 * each. `config` (Backup.getConfig) adds the paths and whether the safety backup holds what
 * is restored; null while it loads.
 */
export function describePlan(choices: RestoreChoices, set: SetSummary, config: BackupConfig | null): PlanLine[] {
  const when = formatDateTime(set.createdAt);
  const main = mainDatabase(set);
  if (choices.target === 'new-database') {
    return [
      {
        id: 'new-database',
        text: ts('The set\u2019s database (%1 tables from %2) is restored into the new database %3 on the same server, with the same credentials as CiviCRM\u2019s. It must not exist yet, or be empty; the database user needs the CREATE privilege for it.', {
          1: main?.tables ?? 0,
          2: when,
          3: choices.newDatabase || '\u2026',
        }),
      },
      { id: 'nothing-live', text: ts('Nothing of this site is changed, so there is no safety backup. The logging database and the directories are not restored. Drop the new database when you are done with it.') },
    ];
  }
  const lines: PlanLine[] = [];
  if (choices.database && main) {
    const other = main.otherTables ?? 0;
    if (choices.scope === 'all') {
      lines.push({
        id: 'database',
        text: ts('This site\u2019s database becomes exactly the set\u2019s from %1: all %2 of its tables, the %3 that are not CiviCRM\u2019s included (a CMS\u2019s users, pages and settings), and tables the set does not hold are removed. Everything changed since then is lost.', { 1: when, 2: main.tables, 3: other }),
        caution: other > 0,
      });
    } else if (other > 0) {
      lines.push({
        id: 'database',
        text: ts('CiviCRM\u2019s tables in this site\u2019s database (%1 of the set\u2019s %2, named civicrm_\u2026 and log_civicrm_\u2026) are replaced by the set\u2019s copy from %3; every contact, contribution and setting changed since then is lost. The other tables (%4 in the set, such as the CMS\u2019s users and content) are left as they are.', {
          1: main.tables - other,
          2: main.tables,
          3: when,
          4: other,
        }),
      });
    } else {
      lines.push({
        id: 'database',
        text: ts('CiviCRM\u2019s database (%1 tables) is replaced by the set\u2019s copy from %2; every contact, contribution and setting changed since then is lost.', { 1: main.tables, 2: when }),
      });
    }
    if (set.databases.some((d) => d.role === 'logging') && config?.loggingDatabaseSeparate) {
      lines.push({ id: 'logging', text: ts('The separate logging database is replaced by the set\u2019s copy too.') });
    }
    lines.push({ id: 'swap', text: ts('The set is loaded and checked beside the live database first; the tables are swapped in at once at the end, so CiviCRM never shows half-restored data, and a restore that fails leaves the database as it was.') });
  }
  for (const label of choices.directories) {
    const directory = set.directories.find((d) => d.label === label);
    const path = directoryPath(config, label);
    lines.push({
      id: `directory-${label}`,
      text: ts('The directory %1 (%2) is replaced by the set\u2019s copy (%3 files, %4); files added since %5 are removed.', {
        1: label,
        2: path ?? ts('its path in the Directories settings'),
        3: (directory?.files ?? 0).toLocaleString(),
        4: formatBytes(directory?.bytes ?? 0),
        5: when,
      }),
    });
  }
  lines.push({
    id: 'safety',
    text: ts('First, a safety backup of this site as it is now is written to %1, as the settings define a backup (without removing old sets). If the restore fails the site stays as it is; if it succeeds, restoring that safety backup undoes it ("Undo" at the end, while the set exists).', {
      1: config?.destination || ts('the backup destination'),
    }),
  });
  if (config) {
    if (choices.database && !config.includeDatabase) {
      lines.push({ id: 'safety-no-database', text: ts('The settings leave the database out of backups, so the safety backup holds no database and undo cannot bring it back.'), caution: true });
    }
    for (const label of choices.directories) {
      if (!config.directories.find((d) => d.key === label)?.included) {
        lines.push({ id: `safety-no-${label}`, text: ts('The settings leave the directory %1 out of backups, so the safety backup does not hold its current files and undo cannot bring them back.', { 1: label }), caution: true });
      }
    }
  }
  if (choices.database) {
    lines.push({ id: 'after', text: ts('Afterwards CiviCRM\u2019s triggers are rebuilt and its caches cleared. The site may be slow for a moment; people who are logged in may have to log in again.') });
  }
  return lines;
}

/** A run id in PHP's format (RUN_ID_PATTERN), so the page can follow the run it is about to start. */
export function newRunId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-11-26T06:31:41.123Z
  const random = crypto.getRandomValues(new Uint8Array(4));
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}-${hex}`;
}
