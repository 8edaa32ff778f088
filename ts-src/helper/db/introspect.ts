/**
 * What a database holds, read from information_schema and SHOW statements: tables (engine,
 * size estimates), columns (generated, invisible, types), views and their dependencies,
 * routines, triggers, events, sequences; the server's version and packet limit; and a
 * privilege preflight, because without TRIGGER or EVENT the server silently hides those
 * objects and a dump would lose them without an error.
 */
import type { Connection } from 'mysql2';
import { BackupError } from '../core/errors.js';
import { query, queryArrays } from './connection.js';
import { quoteIdentifier, valueKind, selectExpression, type ColumnShape, type ValueKind } from './sql-literal.js';

export interface ServerInfo {
  version: string;
  flavor: 'mariadb' | 'mysql';
  maxAllowedPacket: number;
  /** CURRENT_USER() as 'user'@'host', for GRANT statements in messages. */
  currentUser: string;
}

export interface TableInfo {
  name: string;
  /** 'BASE TABLE', 'SEQUENCE' or 'SYSTEM VERSIONED'. */
  type: string;
  engine: string;
  /** Transactional engines are read inside the consistent snapshot. */
  transactional: boolean;
  rowsEstimate: number;
  dataLength: number;
}

export interface ColumnInfo extends ColumnShape {
  ordinal: number;
  columnType: string;
  generated: boolean;
  invisible: boolean;
  kind: ValueKind;
}

export interface ObjectNames {
  views: string[];
  functions: string[];
  procedures: string[];
  /** Triggers in the order to create them (per table, timing, event: action order). */
  triggers: { name: string; table: string }[];
  events: string[];
}

export async function serverInfo(connection: Connection): Promise<ServerInfo> {
  const [row] = await query<{ version: string; packet: string; user: string }>(
    connection,
    'SELECT VERSION() AS version, @@max_allowed_packet AS packet, CURRENT_USER() AS user',
  );
  const at = row.user.lastIndexOf('@');
  return {
    version: row.version,
    flavor: /mariadb/i.test(row.version) ? 'mariadb' : 'mysql',
    maxAllowedPacket: Number(row.packet),
    currentUser: `'${row.user.slice(0, at)}'@'${row.user.slice(at + 1)}'`,
  };
}

export async function listTables(connection: Connection, database: string): Promise<TableInfo[]> {
  const engines = await query<{ ENGINE: string; TRANSACTIONS: string | null }>(connection, 'SELECT ENGINE, TRANSACTIONS FROM information_schema.ENGINES');
  const transactional = new Set(engines.filter((e) => e.TRANSACTIONS === 'YES').map((e) => e.ENGINE.toLowerCase()));
  const rows = await query<{ TABLE_NAME: string; TABLE_TYPE: string; ENGINE: string | null; TABLE_ROWS: string | null; DATA_LENGTH: string | null }>(
    connection,
    "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW'",
    [database],
  );
  return rows
    .map((r) => ({
      name: r.TABLE_NAME,
      type: r.TABLE_TYPE,
      engine: r.ENGINE ?? '',
      transactional: transactional.has((r.ENGINE ?? '').toLowerCase()),
      rowsEstimate: Number(r.TABLE_ROWS ?? 0),
      dataLength: Number(r.DATA_LENGTH ?? 0),
    }))
    .sort((a, b) => compareNames(a.name, b.name));
}

/** Code-point order, independent of locale and server collation. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function listColumns(connection: Connection, database: string, table: string): Promise<ColumnInfo[]> {
  const rows = await query<{
    COLUMN_NAME: string;
    ORDINAL_POSITION: string;
    DATA_TYPE: string;
    COLUMN_TYPE: string;
    CHARACTER_SET_NAME: string | null;
    IS_GENERATED: string | null;
    EXTRA: string | null;
  }>(
    connection,
    'SELECT COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, IS_GENERATED, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [database, table],
  );
  return rows.map((r) => {
    const extra = (r.EXTRA ?? '').toUpperCase();
    const shape: ColumnShape = { name: r.COLUMN_NAME, dataType: r.DATA_TYPE.toLowerCase(), charset: r.CHARACTER_SET_NAME };
    return {
      ...shape,
      ordinal: Number(r.ORDINAL_POSITION),
      columnType: r.COLUMN_TYPE,
      generated: r.IS_GENERATED === 'ALWAYS' || /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/.test(extra),
      invisible: /\bINVISIBLE\b/.test(extra),
      kind: valueKind(shape),
    };
  });
}

/** The columns the dump writes and the digest covers: all but generated ones. */
export function storedColumns(columns: ColumnInfo[]): ColumnInfo[] {
  return columns.filter((c) => !c.generated);
}

/** SELECT list over stored columns; shared by dump and deep verify. */
export function selectList(columns: ColumnInfo[]): string {
  return storedColumns(columns).map(selectExpression).join(', ');
}

/** Primary key columns in key order (empty when the table has none). */
export async function primaryKey(connection: Connection, database: string, table: string): Promise<string[]> {
  const rows = await query<{ COLUMN_NAME: string }>(
    connection,
    "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
    [database, table],
  );
  return rows.map((r) => r.COLUMN_NAME);
}

/** The canonical SELECT the dump streams and deep verify digests. */
export function selectStatement(table: string, columns: ColumnInfo[], orderBy: string[]): string {
  const order = orderBy.length > 0 ? ` ORDER BY ${orderBy.map(quoteIdentifier).join(', ')}` : '';
  return `SELECT ${selectList(columns)} FROM ${quoteIdentifier(table)}${order}`;
}

export async function listObjects(connection: Connection, database: string): Promise<ObjectNames> {
  const views = await query<{ TABLE_NAME: string }>(connection, 'SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?', [database]);
  const routines = await query<{ ROUTINE_NAME: string; ROUTINE_TYPE: string }>(
    connection,
    "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE')",
    [database],
  );
  const triggers = await query<{ TRIGGER_NAME: string; EVENT_OBJECT_TABLE: string; ACTION_TIMING: string; EVENT_MANIPULATION: string; ACTION_ORDER: string }>(
    connection,
    'SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
    [database],
  );
  const events = await query<{ EVENT_NAME: string }>(connection, 'SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?', [database]);
  const byName = (list: string[]): string[] => list.sort(compareNames);
  triggers.sort(
    (a, b) =>
      compareNames(a.EVENT_OBJECT_TABLE, b.EVENT_OBJECT_TABLE) ||
      compareNames(a.ACTION_TIMING, b.ACTION_TIMING) ||
      compareNames(a.EVENT_MANIPULATION, b.EVENT_MANIPULATION) ||
      Number(a.ACTION_ORDER) - Number(b.ACTION_ORDER),
  );
  return {
    views: byName(views.map((v) => v.TABLE_NAME)),
    functions: byName(routines.filter((r) => r.ROUTINE_TYPE === 'FUNCTION').map((r) => r.ROUTINE_NAME)),
    procedures: byName(routines.filter((r) => r.ROUTINE_TYPE === 'PROCEDURE').map((r) => r.ROUTINE_NAME)),
    triggers: triggers.map((t) => ({ name: t.TRIGGER_NAME, table: t.EVENT_OBJECT_TABLE })),
    events: byName(events.map((e) => e.EVENT_NAME)),
  };
}

/** One row of a SHOW CREATE statement as column name -> value. */
export async function showCreate(connection: Connection, sql: string): Promise<Record<string, string | null>> {
  const rows = await query<Record<string, string | null>>(connection, sql);
  if (rows.length === 0) throw new BackupError('DB_QUERY', `${sql} returned nothing (was the object dropped during the backup?).`);
  return rows[0];
}

/**
 * Orders views so each comes after the views it reads. A view's dependencies are the other
 * views whose quoted name appears in its definition; a false match (a column alias spelled
 * like a view) only adds an ordering constraint, and a cycle (impossible for real views)
 * falls back to name order.
 */
export function orderViews(definitions: Map<string, string>): string[] {
  const names = [...definitions.keys()].sort(compareNames);
  const dependsOn = new Map<string, Set<string>>();
  for (const name of names) {
    const body = definitions.get(name) ?? '';
    const asAt = body.search(/\sAS\s/i);
    const text = asAt >= 0 ? body.slice(asAt) : body;
    dependsOn.set(name, new Set(names.filter((other) => other !== name && text.includes(quoteIdentifier(other)))));
  }
  const done = new Set<string>();
  const ordered: string[] = [];
  while (ordered.length < names.length) {
    const ready = names.find((n) => !done.has(n) && [...(dependsOn.get(n) ?? [])].every((d) => done.has(d)));
    const next = ready ?? names.find((n) => !done.has(n))!;
    done.add(next);
    ordered.push(next);
  }
  return ordered;
}

export interface PrivilegeNeeds {
  database: string;
  /** Views exist: SHOW VIEW. */
  views: boolean;
  /** Non-transactional tables with data to dump: LOCK TABLES. */
  lockTables: boolean;
}

/**
 * Checks the privileges a faithful dump needs, at global or database level. The server
 * hides triggers and events from a user without TRIGGER or EVENT instead of refusing, so
 * this must be checked before, not discovered after. Table-level grants are not enough for
 * TRIGGER (we cannot see which tables have triggers), so the check is per database.
 */
export async function checkDumpPrivileges(connection: Connection, info: ServerInfo, needs: PrivilegeNeeds): Promise<string[]> {
  const held = new Set<string>();
  const global = await query<{ PRIVILEGE_TYPE: string }>(connection, 'SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES');
  for (const g of global) held.add(g.PRIVILEGE_TYPE.toUpperCase());
  // Grant patterns use LIKE wildcards with \ escapes, exactly what LIKE evaluates.
  const schema = await query<{ PRIVILEGE_TYPE: string }>(
    connection,
    'SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE ? LIKE TABLE_SCHEMA',
    [needs.database],
  );
  for (const s of schema) held.add(s.PRIVILEGE_TYPE.toUpperCase());
  const wanted = ['SELECT', 'TRIGGER'];
  if (needs.views) wanted.push('SHOW VIEW');
  if (needs.lockTables) wanted.push('LOCK TABLES');
  const grants = (await queryArrays(connection, 'SHOW GRANTS').catch(() => [] as unknown[][])).map((r) => String(r[0]).toUpperCase());
  // Roles and proxies are not in information_schema's view of the grants; SHOW GRANTS text is
  // a second opinion before refusing.
  if (grants.some((g) => /GRANT ALL PRIVILEGES ON \*\.\*/.test(g))) return [];
  const warnings: string[] = [];
  // CiviCRM's documented GRANT list has no EVENT, and without it the CiviCRM user cannot have
  // created events either: a warning, not a refusal.
  if (!held.has('EVENT')) {
    warnings.push(
      `The database user ${info.currentUser} lacks the EVENT privilege on \`${needs.database}\`, so scheduled events (if another account created any) cannot be seen and are not in this backup. To include them: GRANT EVENT ON ${quoteIdentifier(needs.database)}.* TO ${info.currentUser};`,
    );
  }
  const missing = wanted.filter((p) => !held.has(p));
  if (missing.length === 0) return warnings;
  throw new BackupError(
    'DB_PRIVILEGE',
    `The database user ${info.currentUser} lacks ${missing.join(', ')} on \`${needs.database}\`; without ${missing.length > 1 ? 'them' : 'it'} the backup would silently miss objects or not be consistent. Run as an administrator: GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON ${quoteIdentifier(needs.database)}.* TO ${info.currentUser};`,
  );
}
