/**
 * The swap of an atomic restore: what moves where, and the stored objects that cannot move.
 *
 * Tables move with ONE `RENAME TABLE` statement, which MariaDB executes atomically (readers
 * wait on the tables' metadata locks and then see the new tables, never none). Stored
 * objects cannot follow:
 *  - MariaDB refuses to move a table with triggers to another database ("Trigger in wrong
 *    schema"). The staged tables' triggers are dropped in the staging database (nobody sees
 *    it). The live tables' triggers are dropped right before the RENAME, on the same
 *    connection, and the set's are created right after it. (Parking a live table under
 *    another name inside the live database, where its triggers could stay, fails: InnoDB
 *    foreign key names are unique per database and the incoming table has the same ones.)
 *    The "trigger gap" runs from the first DROP TRIGGER to the last CREATE TRIGGER: a few
 *    milliseconds, in which a write to one of these tables runs without its trigger. Reads
 *    are never affected. The live triggers' definitions are in the journal, so a run
 *    killed between the drops and the RENAME has them re-created by the next restore.
 *  - Views cannot be renamed across databases; a live view reads its tables by name, so it
 *    keeps working across the swap and is then replaced by the set's definition.
 *  - Functions, procedures and events belong to the database: replaced with CREATE OR
 *    REPLACE after the swap, and those the set does not hold (in the scope) dropped.
 *
 * Everything after the RENAME is idempotent (finishSwap), so a run killed after the swap is
 * finished by the next restore from the journal (restore-journal.ts).
 */
import { isCiviCrmTable } from '../../protocol/civicrm-tables.js';
import { stripDefiner, stripTriggerOrder } from './dump-objects.js';
import { orderViews } from './introspect.js';
import { quoteIdentifier, utf8AsBytes, type RestoreConnection } from './restore-exec.js';

/** Which tables and objects a restore over a live database replaces. */
export type RestoreScope = 'civicrm' | 'all';

export const RESTORE_SCOPES: readonly RestoreScope[] = ['civicrm', 'all'];

export function scopeIncludes(scope: RestoreScope, name: string): boolean {
  return scope === 'all' || isCiviCrmTable(name);
}

export type StoredKind = 'FUNCTION' | 'PROCEDURE' | 'TRIGGER' | 'VIEW' | 'EVENT';

/** A stored object as the staging database holds it, ready to be created in another database. */
export interface StoredObject {
  kind: StoredKind;
  name: string;
  /** The table of a trigger. */
  table?: string;
  /** CREATE OR REPLACE ..., without DEFINER (the restoring account becomes the definer, as in the staging database). */
  sql: string;
  sqlMode: string;
  characterSetClient: string;
  collationConnection: string;
  timeZone?: string;
}

/** Names of one database's stored objects and base tables. */
export interface DatabaseObjects {
  /** Base tables and sequences (what RENAME TABLE moves). */
  tables: string[];
  views: string[];
  functions: string[];
  procedures: string[];
  events: string[];
  /** In action order per table. */
  triggers: Array<{ name: string; table: string }>;
}

export async function listDatabaseObjects(connection: RestoreConnection, database: string): Promise<DatabaseObjects> {
  const tables = await connection.rows<{ TABLE_NAME: string; TABLE_TYPE: string }>('SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [database]);
  const routines = await connection.rows<{ ROUTINE_NAME: string; ROUTINE_TYPE: string }>('SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME', [database]);
  const events = await connection.rows<{ EVENT_NAME: string }>('SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME', [database]);
  const triggers = await connection.rows<{ TRIGGER_NAME: string; EVENT_OBJECT_TABLE: string }>(
    'SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER',
    [database],
  );
  return {
    tables: tables.filter((t) => t.TABLE_TYPE !== 'VIEW').map((t) => t.TABLE_NAME),
    views: tables.filter((t) => t.TABLE_TYPE === 'VIEW').map((t) => t.TABLE_NAME),
    functions: routines.filter((r) => r.ROUTINE_TYPE === 'FUNCTION').map((r) => r.ROUTINE_NAME),
    procedures: routines.filter((r) => r.ROUTINE_TYPE === 'PROCEDURE').map((r) => r.ROUTINE_NAME),
    events: events.map((e) => e.EVENT_NAME),
    triggers: triggers.map((t) => ({ name: t.TRIGGER_NAME, table: t.EVENT_OBJECT_TABLE })),
  };
}

/** The part of a database's objects a scope covers (triggers by their table). */
export function objectsInScope(objects: DatabaseObjects, scope: RestoreScope): DatabaseObjects {
  const keep = (name: string): boolean => scopeIncludes(scope, name);
  return {
    tables: objects.tables.filter(keep),
    views: objects.views.filter(keep),
    functions: objects.functions.filter(keep),
    procedures: objects.procedures.filter(keep),
    events: objects.events.filter(keep),
    triggers: objects.triggers.filter((t) => keep(t.table)),
  };
}

function orReplace(sql: string): string {
  return sql.replace(/^\s*CREATE\s+(?:OR\s+REPLACE\s+)?/i, 'CREATE OR REPLACE ');
}

function text(row: Record<string, unknown>, key: string): string {
  const value = row[key];
  return value === null || value === undefined ? '' : String(value);
}

/**
 * Reads the definitions of a database's stored objects (the connection's default database
 * must be `database`, so SHOW CREATE VIEW names its tables without the database).
 */
export async function readStoredObjects(connection: RestoreConnection, objects: DatabaseObjects): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  const show = async (sql: string): Promise<Record<string, unknown>> => (await connection.rows<Record<string, unknown>>(sql))[0] ?? {};
  for (const [kind, names] of [
    ['FUNCTION', objects.functions],
    ['PROCEDURE', objects.procedures],
  ] as const) {
    for (const name of names) {
      const row = await show(`SHOW CREATE ${kind} ${quoteIdentifier(name)}`);
      const create = text(row, kind === 'FUNCTION' ? 'Create Function' : 'Create Procedure');
      out.push({ kind, name, sql: orReplace(stripDefiner(create, kind)), sqlMode: text(row, 'sql_mode'), characterSetClient: text(row, 'character_set_client'), collationConnection: text(row, 'collation_connection') });
    }
  }
  for (const trigger of objects.triggers) {
    const row = await show(`SHOW CREATE TRIGGER ${quoteIdentifier(trigger.name)}`);
    const create = stripTriggerOrder(text(row, 'SQL Original Statement'));
    out.push({ kind: 'TRIGGER', name: trigger.name, table: trigger.table, sql: orReplace(stripDefiner(create, 'TRIGGER')), sqlMode: text(row, 'sql_mode'), characterSetClient: text(row, 'character_set_client'), collationConnection: text(row, 'collation_connection') });
  }
  const views = new Map<string, { row: Record<string, unknown>; create: string }>();
  for (const name of objects.views) {
    const row = await show(`SHOW CREATE VIEW ${quoteIdentifier(name)}`);
    views.set(name, { row, create: text(row, 'Create View') });
  }
  for (const name of orderViews(new Map([...views].map(([n, v]) => [n, v.create])))) {
    const { row, create } = views.get(name)!;
    out.push({ kind: 'VIEW', name, sql: orReplace(stripDefiner(create, 'VIEW')), sqlMode: '', characterSetClient: text(row, 'character_set_client'), collationConnection: text(row, 'collation_connection') });
  }
  for (const name of objects.events) {
    const row = await show(`SHOW CREATE EVENT ${quoteIdentifier(name)}`);
    out.push({ kind: 'EVENT', name, sql: orReplace(stripDefiner(text(row, 'Create Event'), 'EVENT')), sqlMode: text(row, 'sql_mode'), characterSetClient: text(row, 'character_set_client'), collationConnection: text(row, 'collation_connection'), timeZone: text(row, 'time_zone') || undefined });
  }
  return out;
}

const SAFE_NAME = /^[A-Za-z0-9_]+$/;

function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Creates (or replaces) one stored object in the connection's default database, in its own session settings. */
export async function createStoredObject(connection: RestoreConnection, object: StoredObject): Promise<void> {
  const settings: string[] = [];
  if (SAFE_NAME.test(object.characterSetClient)) settings.push(`character_set_client = ${object.characterSetClient}`);
  if (SAFE_NAME.test(object.collationConnection)) settings.push(`collation_connection = ${object.collationConnection}`);
  if (object.kind !== 'VIEW') settings.push(`sql_mode = ${sqlString(object.sqlMode)}`);
  if (object.timeZone) settings.push(`time_zone = ${sqlString(object.timeZone)}`);
  if (settings.length > 0) await connection.run(utf8AsBytes(`SET ${settings.join(', ')}`));
  try {
    await connection.run(utf8AsBytes(object.sql), { file: `${object.kind.toLowerCase()} ${object.name}`, statement: 1 });
  } finally {
    await connection.run("SET NAMES utf8mb4, sql_mode = DEFAULT, time_zone = DEFAULT");
  }
}

/** What the swap moves, planned before the RENAME and kept in the journal. */
export interface SwapPlan {
  live: string;
  staging: string;
  old: string;
  /** Staged tables that become live tables. */
  moveIn: string[];
  /** Live tables (in the scope) that leave for the old database. */
  moveOut: string[];
}

export function planSwap(options: { live: string; staging: string; old: string; staged: string[]; liveInScope: DatabaseObjects }): SwapPlan {
  return { live: options.live, staging: options.staging, old: options.old, moveIn: [...options.staged], moveOut: [...options.liveInScope.tables] };
}

const qualified = (database: string, table: string): string => `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;

/** The one RENAME TABLE statement of the swap; null when it would move nothing. */
export function swapStatement(plan: SwapPlan): string | null {
  const pairs: string[] = [];
  for (const table of plan.moveOut) pairs.push(`${qualified(plan.live, table)} TO ${qualified(plan.old, table)}`);
  for (const table of plan.moveIn) pairs.push(`${qualified(plan.staging, table)} TO ${qualified(plan.live, table)}`);
  return pairs.length > 0 ? `RENAME TABLE ${pairs.join(', ')}` : null;
}

/** Drops the live tables' triggers (they cannot move); returns the names dropped, in order. */
export async function dropTriggers(live: RestoreConnection, database: string, triggers: Array<{ name: string }>): Promise<string[]> {
  const dropped: string[] = [];
  for (const trigger of triggers) {
    await live.run(utf8AsBytes(`DROP TRIGGER IF EXISTS ${qualified(database, trigger.name)}`));
    dropped.push(trigger.name);
  }
  return dropped;
}

/** Re-creates those of the given triggers that do not exist (after a swap that did not happen). */
export async function restoreTriggers(live: RestoreConnection, database: string, triggers: StoredObject[]): Promise<void> {
  const existing = new Set((await listDatabaseObjects(live, database)).triggers.map((t) => t.name));
  for (const trigger of triggers) if (!existing.has(trigger.name)) await createStoredObject(live, trigger);
}

/** What finishSwap needs: the plan, the set's objects, and the live objects they replace. */
export interface SwapObjects {
  plan: SwapPlan;
  /** The set's stored objects in the scope, as read from the staging database. */
  incoming: StoredObject[];
  /** The live database's objects in the scope before the swap (names). */
  replaced: DatabaseObjects;
  /** The live triggers dropped for the swap, to re-create if it does not happen. */
  replacedTriggers: StoredObject[];
}

export interface FinishTimings {
  /** Milliseconds from the call to the last trigger created. */
  triggersMs: number;
}

/**
 * Everything after the RENAME, idempotent (a killed run is finished by the next one):
 * routines, then triggers (the gap ends here), then views, events, and the live objects the
 * set does not hold dropped. The connection's default database must be the live one.
 */
export async function finishSwap(live: RestoreConnection, objects: SwapObjects): Promise<FinishTimings> {
  const started = Date.now();
  const { plan, incoming, replaced } = objects;
  const byKind = (kind: StoredKind): StoredObject[] => incoming.filter((o) => o.kind === kind);
  for (const object of [...byKind('FUNCTION'), ...byKind('PROCEDURE'), ...byKind('TRIGGER')]) await createStoredObject(live, object);
  const triggersMs = Date.now() - started;

  const incomingNames = (kind: StoredKind): Set<string> => new Set(byKind(kind).map((o) => o.name));
  const views = incomingNames('VIEW');
  for (const view of replaced.views) if (!views.has(view)) await live.run(utf8AsBytes(`DROP VIEW IF EXISTS ${qualified(plan.live, view)}`));
  for (const object of byKind('VIEW')) await createStoredObject(live, object);
  const events = incomingNames('EVENT');
  for (const event of replaced.events) if (!events.has(event)) await live.run(utf8AsBytes(`DROP EVENT IF EXISTS ${qualified(plan.live, event)}`));
  for (const object of byKind('EVENT')) await createStoredObject(live, object);
  const functions = incomingNames('FUNCTION');
  for (const fn of replaced.functions) if (!functions.has(fn)) await live.run(utf8AsBytes(`DROP FUNCTION IF EXISTS ${qualified(plan.live, fn)}`));
  const procedures = incomingNames('PROCEDURE');
  for (const proc of replaced.procedures) if (!procedures.has(proc)) await live.run(utf8AsBytes(`DROP PROCEDURE IF EXISTS ${qualified(plan.live, proc)}`));
  return { triggersMs };
}
