/**
 * The SQL text of the set's fixed db/ files: prelude, schema, routines, views, triggers and
 * events, postlude. Stored objects keep the sql_mode, character set and collation they were
 * created with (the restoring session's own mode would otherwise leak into them), and lose
 * their DEFINER (the account rarely exists on the server a backup is restored to).
 */
import type { Connection } from 'mysql2';
import { BackupError } from '../core/errors.js';
import { query } from './connection.js';
import { orderViews, showCreate, type ObjectNames, type TableInfo } from './introspect.js';
import { accountName } from './grants.js';
import { quoteIdentifier, quoteString } from './sql-literal.js';

/** The session settings every db/ file assumes; a restorer runs these on each connection. */
export const PRELUDE_STATEMENTS = [
  'SET NAMES utf8mb4;',
  'SET @OLD_FK=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0;',
  'SET @OLD_UQ=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0;',
  "SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';",
  "SET @OLD_TZ=@@TIME_ZONE, TIME_ZONE='+00:00';",
] as const;

export const POSTLUDE_STATEMENTS = [
  'SET FOREIGN_KEY_CHECKS=@OLD_FK;',
  'SET UNIQUE_CHECKS=@OLD_UQ;',
  'SET SQL_MODE=@OLD_SQL_MODE;',
  'SET TIME_ZONE=@OLD_TZ;',
] as const;

/** A comment line; names in it may hold anything, so newlines are flattened. */
export function comment(text: string): string {
  return `-- ${text.replace(/[\r\n]+/g, ' ')}\n`;
}

export function preludeSql(header: string): string {
  return `${comment(header)}${comment('Restore: zcat db/*.sql.gz | mariadb TARGET_DATABASE (files in name order).')}${PRELUDE_STATEMENTS.join('\n')}\n`;
}

export function postludeSql(): string {
  return `${comment('CiviBackup: restore the session settings changed by the prelude')}${POSTLUDE_STATEMENTS.join('\n')}\n`;
}

const QUOTED_NAME = "(?:`(?:[^`]|``)*`|'(?:[^'\\\\]|\\\\.|'')*'|\"(?:[^\"\\\\]|\\\\.)*\"|[A-Za-z0-9_$.%-]+)";
const DEFINER_CLAUSE = new RegExp(`\\s+DEFINER\\s*=\\s*(?:CURRENT_USER(?:\\s*\\(\\s*\\))?|${QUOTED_NAME}(?:\\s*@\\s*${QUOTED_NAME})?)(?=\\s|$)`, 'i');

/**
 * Removes the DEFINER clause from the head of a CREATE statement (before the object keyword),
 * never from the body. Throws when a DEFINER is left, so no set carries one by accident.
 */
export function stripDefiner(statement: string, objectKeyword: 'VIEW' | 'FUNCTION' | 'PROCEDURE' | 'TRIGGER' | 'EVENT'): string {
  const keyword = new RegExp(`\\s${objectKeyword}\\s`, 'i').exec(statement);
  if (!keyword) throw new BackupError('DB_QUERY', `Unexpected SHOW CREATE output for a ${objectKeyword.toLowerCase()}: ${statement.slice(0, 80)}`);
  const head = statement.slice(0, keyword.index);
  const body = statement.slice(keyword.index);
  const stripped = head.replace(DEFINER_CLAUSE, '');
  if (/\bDEFINER\s*=/i.test(stripped)) {
    throw new BackupError('INTERNAL', `Could not remove the DEFINER from: ${statement.slice(0, 120)}`);
  }
  return stripped + body;
}

/**
 * Drops a FOLLOWS/PRECEDES clause: it may name a trigger not created yet. Triggers are
 * written in their ACTION_ORDER, so creating them in file order gives the same order.
 */
export function stripTriggerOrder(statement: string): string {
  return statement.replace(/(\bFOR\s+EACH\s+ROW)\s+(?:FOLLOWS|PRECEDES)\s+(?:`(?:[^`]|``)*`|"(?:[^"]|"")*"|[A-Za-z0-9_$]+)(?=\s)/i, '$1');
}

/** A delimiter that does not occur in the statement (the client splits on it blindly). */
export function pickDelimiter(statement: string): string {
  for (const candidate of [';;', '$$', '//', '@@@@', '~~~~']) if (!statement.includes(candidate)) return candidate;
  throw new BackupError('INTERNAL', 'No safe DELIMITER found for a stored object.');
}

interface ObjectContext {
  sqlMode: string;
  characterSetClient: string;
  collationConnection: string;
  timeZone?: string;
}

/** One stored object wrapped in its own session settings and a DELIMITER block. */
export function storedObjectSql(title: string, statement: string, context: ObjectContext): string {
  const delimiter = pickDelimiter(statement);
  const lines = [
    comment(title).trimEnd(),
    'SET @cb_saved_cs_client = @@character_set_client, @cb_saved_cs_results = @@character_set_results, @cb_saved_col_connection = @@collation_connection, @cb_saved_sql_mode = @@sql_mode, @cb_saved_tz = @@time_zone;',
    `SET character_set_client = ${context.characterSetClient}, character_set_results = ${context.characterSetClient}, collation_connection = ${context.collationConnection};`,
    `SET sql_mode = ${quoteString(context.sqlMode)};`,
  ];
  if (context.timeZone) lines.push(`SET time_zone = ${quoteString(context.timeZone)};`);
  lines.push(`DELIMITER ${delimiter}`, `${statement} ${delimiter}`, 'DELIMITER ;');
  lines.push(
    'SET character_set_client = @cb_saved_cs_client, character_set_results = @cb_saved_cs_results, collation_connection = @cb_saved_col_connection, sql_mode = @cb_saved_sql_mode, time_zone = @cb_saved_tz;',
  );
  return `${lines.join('\n')}\n\n`;
}

function required(row: Record<string, string | null>, key: string, what: string): string {
  const value = row[key];
  if (value === null || value === undefined) {
    throw new BackupError(
      'DB_PRIVILEGE',
      `The server did not show the definition of ${what} (column "${key}" is empty): the user may see the object but not its body. Grant SELECT on mysql.proc, or back up as the object's definer.`,
    );
  }
  return value;
}

/**
 * A routine the user may list but whose body the server hides: MariaDB shows it only to its
 * definer or to an account that may read mysql.proc. Leaving it out would make a set that
 * restores without it, so the backup stops and says who defined it and what to grant.
 */
async function hiddenRoutine(connection: Connection, kind: 'FUNCTION' | 'PROCEDURE', name: string): Promise<BackupError> {
  const [row] = await query<{ user: string; db: string | null; definer: string | null }>(
    connection,
    'SELECT CURRENT_USER() AS user, DATABASE() AS db, (SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = ? AND ROUTINE_TYPE = ?) AS definer',
    [name, kind],
  ).catch(() => [{ user: 'user@host', db: null, definer: null }]);
  const account = accountName(row.user);
  const definer = row.definer ? accountName(row.definer) : 'another account';
  const what = `${kind.toLowerCase()} ${row.db ? `${quoteIdentifier(row.db)}.` : ''}${quoteIdentifier(name)}`;
  return new BackupError(
    'DB_PRIVILEGE',
    `The database user ${account} cannot see the body of the ${what}: it was created by ${definer}, and MariaDB/MySQL show a routine's body only to its definer or to an account that may read mysql.proc. The backup stops rather than leave it out. Run as an administrator: GRANT SELECT ON mysql.proc TO ${account}; (MySQL 8: GRANT SHOW_ROUTINE ON *.* TO ${account};) or re-create the ${kind.toLowerCase()} as ${account}, then back up again.`,
  );
}

export async function schemaSql(connection: Connection, tables: TableInfo[]): Promise<string> {
  let out = comment('CiviBackup: tables and sequences, in name order');
  for (const table of tables) {
    const name = quoteIdentifier(table.name);
    if (table.type === 'SEQUENCE') {
      const row = await showCreate(connection, `SHOW CREATE SEQUENCE ${name}`);
      const create = required(row, 'Create Table', `sequence ${name}`);
      const [state] = await query<{ next: string; round: string }>(connection, `SELECT next_not_cached_value AS next, cycle_count AS round FROM ${name}`);
      out += `\n${comment(`Sequence ${name}`)}${create};\nDO SETVAL(${name}, ${state.next}, 0, ${state.round});\n`;
    } else {
      const row = await showCreate(connection, `SHOW CREATE TABLE ${name}`);
      out += `\n${comment(`Table ${name}`)}${required(row, 'Create Table', `table ${name}`)};\n`;
    }
  }
  return out;
}

export async function routinesSql(connection: Connection, objects: ObjectNames): Promise<string> {
  let out = comment('CiviBackup: stored functions and procedures (before views, which may call functions)');
  for (const [kind, names] of [
    ['FUNCTION', objects.functions],
    ['PROCEDURE', objects.procedures],
  ] as const) {
    for (const name of names) {
      const what = `${kind.toLowerCase()} ${quoteIdentifier(name)}`;
      const row = await showCreate(connection, `SHOW CREATE ${kind} ${quoteIdentifier(name)}`);
      const column = kind === 'FUNCTION' ? 'Create Function' : 'Create Procedure';
      if (row[column] === null || row[column] === undefined) throw await hiddenRoutine(connection, kind, name);
      const create = required(row, column, what);
      out += storedObjectSql(`${kind === 'FUNCTION' ? 'Function' : 'Procedure'} ${quoteIdentifier(name)}`, stripDefiner(create, kind), {
        sqlMode: row.sql_mode ?? '',
        characterSetClient: required(row, 'character_set_client', what),
        collationConnection: required(row, 'collation_connection', what),
      });
    }
  }
  return out;
}

/** True when the server reports the view as invalid (it reads a table or function that is gone). */
async function viewIsInvalid(connection: Connection, name: string): Promise<boolean> {
  try {
    await query(connection, `SELECT * FROM ${quoteIdentifier(name)} LIMIT 0`);
    return false;
  } catch (error) {
    if ((error as { errno?: number }).errno === 1356) return true;
    // Other errors (e.g. a definer account that no longer exists, 1449) do not make the
    // definition unusable: the dump drops the DEFINER anyway.
    return false;
  }
}

export interface ViewsOutput {
  sql: string;
  written: string[];
  /** Invalid views left out, with the reason, for the run's warnings. */
  skipped: string[];
}

/**
 * Views in dependency order. An invalid view (its table or function was dropped) would stop
 * a plain `zcat | mariadb` restore with an error, so it is left out with a warning instead.
 */
export async function viewsSql(connection: Connection, objects: ObjectNames): Promise<ViewsOutput> {
  const rows = new Map<string, Record<string, string | null>>();
  const definitions = new Map<string, string>();
  const skipped: string[] = [];
  for (const name of objects.views) {
    if (await viewIsInvalid(connection, name)) {
      skipped.push(`View ${quoteIdentifier(name)} is invalid (it references a table, column or function that no longer exists) and is not in the backup; fix or drop it.`);
      continue;
    }
    const row = await showCreate(connection, `SHOW CREATE VIEW ${quoteIdentifier(name)}`);
    rows.set(name, row);
    definitions.set(name, required(row, 'Create View', `view ${quoteIdentifier(name)}`));
  }
  let out = comment('CiviBackup: views, each after the views it reads');
  for (const name of orderViews(definitions)) {
    const row = rows.get(name)!;
    const statement = stripDefiner(definitions.get(name)!, 'VIEW').replace(/^CREATE\s+/i, 'CREATE OR REPLACE ');
    out += [
      comment(`View ${quoteIdentifier(name)}`).trimEnd(),
      'SET @cb_saved_cs_client = @@character_set_client, @cb_saved_cs_results = @@character_set_results, @cb_saved_col_connection = @@collation_connection;',
      `SET character_set_client = ${row.character_set_client ?? 'utf8mb4'}, character_set_results = ${row.character_set_client ?? 'utf8mb4'}, collation_connection = ${row.collation_connection ?? 'utf8mb4_general_ci'};`,
      `${statement};`,
      'SET character_set_client = @cb_saved_cs_client, character_set_results = @cb_saved_cs_results, collation_connection = @cb_saved_col_connection;',
    ].join('\n');
    out += '\n\n';
  }
  return { sql: out, written: [...definitions.keys()].sort(), skipped };
}

export async function triggersEventsSql(connection: Connection, objects: ObjectNames): Promise<string> {
  let out = comment('CiviBackup: triggers (per table in action order), then events');
  for (const trigger of objects.triggers) {
    const what = `trigger ${quoteIdentifier(trigger.name)}`;
    const row = await showCreate(connection, `SHOW CREATE TRIGGER ${quoteIdentifier(trigger.name)}`);
    const create = stripTriggerOrder(required(row, 'SQL Original Statement', what));
    out += storedObjectSql(`Trigger ${quoteIdentifier(trigger.name)} on ${quoteIdentifier(trigger.table)}`, stripDefiner(create, 'TRIGGER'), {
      sqlMode: row.sql_mode ?? '',
      characterSetClient: required(row, 'character_set_client', what),
      collationConnection: required(row, 'collation_connection', what),
    });
  }
  for (const name of objects.events) {
    const what = `event ${quoteIdentifier(name)}`;
    const row = await showCreate(connection, `SHOW CREATE EVENT ${quoteIdentifier(name)}`);
    out += storedObjectSql(`Event ${quoteIdentifier(name)}`, stripDefiner(required(row, 'Create Event', what), 'EVENT'), {
      sqlMode: row.sql_mode ?? '',
      characterSetClient: required(row, 'character_set_client', what),
      collationConnection: required(row, 'collation_connection', what),
      timeZone: row.time_zone ?? undefined,
    });
  }
  return out;
}
