/**
 * What "restored exactly" means in the restore tests: for every table CHECKSUM TABLE ...
 * EXTENDED and SHOW CREATE TABLE, and SHOW CREATE of every view, function, procedure,
 * trigger and event including their stored sql_mode and character sets (creation times
 * left out). Two databases are equal when their snapshots are deepEqual.
 */
import { query, withRoot } from './mariadb.js';

function q(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

const IGNORED_COLUMNS = new Set(['Created', 'Database Collation']);

function pick(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) if (!IGNORED_COLUMNS.has(key)) out[key] = value;
  return out;
}

export interface DatabaseSnapshot {
  tables: Record<string, { create: string; checksum: string | null; autoIncrement?: string | null }>;
  sequences: Record<string, unknown>;
  views: Record<string, unknown>;
  functions: Record<string, unknown>;
  procedures: Record<string, unknown>;
  triggers: Record<string, unknown>;
  events: Record<string, unknown>;
}

export async function snapshotDatabase(database: string): Promise<DatabaseSnapshot> {
  return withRoot(database, async (c) => {
    const snapshot: DatabaseSnapshot = { tables: {}, sequences: {}, views: {}, functions: {}, procedures: {}, triggers: {}, events: {} };
    const tables = await query<{ TABLE_NAME: string; TABLE_TYPE: string }>(c, 'SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [database]);
    for (const t of tables) {
      if (t.TABLE_TYPE === 'VIEW') {
        const [row] = await query<Record<string, unknown>>(c, `SHOW CREATE VIEW ${q(t.TABLE_NAME)}`);
        snapshot.views[t.TABLE_NAME] = pick(row);
      } else if (t.TABLE_TYPE === 'SEQUENCE') {
        const [row] = await query<Record<string, unknown>>(c, `SHOW CREATE SEQUENCE ${q(t.TABLE_NAME)}`);
        const [state] = await query<Record<string, unknown>>(c, `SELECT * FROM ${q(t.TABLE_NAME)}`);
        snapshot.sequences[t.TABLE_NAME] = { ...pick(row), state };
      } else {
        const [create] = await query<{ 'Create Table': string }>(c, `SHOW CREATE TABLE ${q(t.TABLE_NAME)}`);
        const [sum] = await query<{ Checksum: string | null }>(c, `CHECKSUM TABLE ${q(t.TABLE_NAME)} EXTENDED`);
        snapshot.tables[t.TABLE_NAME] = { create: create['Create Table'], checksum: sum.Checksum === null ? null : String(sum.Checksum) };
      }
    }
    const routines = await query<{ ROUTINE_NAME: string; ROUTINE_TYPE: string }>(c, 'SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME', [database]);
    for (const r of routines) {
      const [row] = await query<Record<string, unknown>>(c, `SHOW CREATE ${r.ROUTINE_TYPE} ${q(r.ROUTINE_NAME)}`);
      (r.ROUTINE_TYPE === 'FUNCTION' ? snapshot.functions : snapshot.procedures)[r.ROUTINE_NAME] = pick(row);
    }
    const triggers = await query<{ TRIGGER_NAME: string }>(c, 'SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME', [database]);
    for (const t of triggers) {
      const [row] = await query<Record<string, unknown>>(c, `SHOW CREATE TRIGGER ${q(t.TRIGGER_NAME)}`);
      snapshot.triggers[t.TRIGGER_NAME] = pick(row);
    }
    const events = await query<{ EVENT_NAME: string }>(c, 'SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME', [database]);
    for (const e of events) {
      const [row] = await query<Record<string, unknown>>(c, `SHOW CREATE EVENT ${q(e.EVENT_NAME)}`);
      snapshot.events[e.EVENT_NAME] = pick(row);
    }
    return snapshot;
  });
}
