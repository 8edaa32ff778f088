/**
 * The exact shell commands to restore one set by hand, with the helper and with plain tools
 * (zcat, age, tar, mariadb) for the day the helper is not at hand. Pure: the page renders
 * them, tests check them. They follow docs/format.md section 8 ("Restoring with plain
 * tools"): byte-wise name order (LC_ALL=C) is restore order, one age file per part, and the
 * connection options live in ~/.my.cnf so no password is on a command line. The set is named
 * once ($SET) and only read: extracted directories land under ./restored of the shell's own
 * working directory, never inside the backup set, and key.txt is where the admin keeps it.
 */
import type { SetSummary } from '../../protocol/sets.js';
import { ts } from '../i18n.js';

export interface RestoreCommand {
  id: string;
  title: string;
  command: string;
}

/** Quotes a value for POSIX sh: 'it'\''s'. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Creates the empty target database, then pipes every part of `folder` into it in name order. */
function dbPipeline(folder: string, encrypted: boolean, target: string): string {
  const create = `mariadb -e 'CREATE DATABASE ${target} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'`;
  const load = encrypted
    ? `for f in "$SET"/${folder}/*.sql.gz.age; do age -d -i key.txt "$f" | zcat || exit 1; done | mariadb ${target}`
    : `zcat "$SET"/${folder}/*.sql.gz | mariadb ${target}`;
  return `export LC_ALL=C${encrypted ? '\nset -o pipefail' : ''}\n${create}\n${load}`;
}

/**
 * @param helperPath where the extension's helper bundle is on this server (boot data), so the
 *   command runs as `node <path>`; without it, `civibackup` as installed from the package.
 */
export function restoreCommands(set: SetSummary, helperPath = ''): RestoreCommand[] {
  const dir = shellQuote(set.location);
  const setVariable = `SET=${dir}`;
  const helper = helperPath ? `node ${shellQuote(helperPath)}` : 'civibackup';
  const identity = set.encrypted ? ' --identity key.txt' : '';
  const hasLogging = set.databases.some((d) => d.role === 'logging');
  const helperFiles = set.directories.map((d) => ` \\\n  --files ${d.label}=/path/to/${d.label}`).join('');
  const commands: RestoreCommand[] = [
    {
      id: 'helper',
      title: ts('With the CiviBackup helper: checks every part first, then restores (the DSN is read from the environment, so the password stays off the command line; --db DSN also works)'),
      command:
        `export CIVIBACKUP_DSN='mysql://USER:PASSWORD@localhost/DBNAME'\n` +
        (hasLogging ? `export CIVIBACKUP_LOGGING_DSN='mysql://USER:PASSWORD@localhost/LOGGING_DBNAME'\n` : '') +
        `${helper} restore ${dir}${identity}${helperFiles}`,
    },
  ];
  if (set.format === 2) {
    // A deduplicated set is pieces in shared packs: the plain-tool way is the recipe of
    // docs/disaster-recovery.md (age, gzip, jq, tar, mariadb), too long to paste here.
    commands.push({
      id: 'plain-recipe',
      title: ts('Without the helper: a deduplicated set is rebuilt with plain tools (age, gzip, jq, mariadb) by the recipe in docs/disaster-recovery.md, section \u201cA deduplicated set with plain tools\u201d'),
      command: `# docs/disaster-recovery.md: A deduplicated set with plain tools\nDEST=${shellQuote(set.location.replace(/\/sets\/[^/]+\/?$/, ''))}\nSET_ID=${shellQuote(set.setId)}`,
    });
    return commands;
  }
  commands.push({
    id: 'plain-db',
    title: set.encrypted
      ? ts('Database, with plain tools (age, zcat, mariadb; key.txt is your secret key file)')
      : ts('Database, with plain tools (zcat and mariadb)'),
    command: `${setVariable}\n${dbPipeline('db', set.encrypted, 'DBNAME')}`,
  });
  if (hasLogging) {
    commands.push({
      id: 'plain-logdb',
      title: ts('Logging database, with plain tools'),
      command: `${setVariable}\n${dbPipeline('logdb', set.encrypted, 'LOGGING_DBNAME')}`,
    });
  }
  for (const directory of set.directories) {
    const label = directory.label;
    const archive = `"$SET"/files/${label}.tar.gz${set.encrypted ? '.age' : ''}`;
    const extract = set.encrypted
      ? `age -d -i key.txt ${archive} | tar -xzf - -C restored/${label}`
      : `tar -xzf ${archive} -C restored/${label}`;
    commands.push({
      id: `plain-files-${label}`,
      title: ts('Directory \u201c%1\u201d, with plain tools (extracts into restored/%1; move it into place after checking)', { 1: label }),
      command: `${setVariable}\nmkdir -p restored/${label}\n${extract}`,
    });
  }
  return commands;
}
