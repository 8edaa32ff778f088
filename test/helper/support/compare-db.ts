/**
 * Compares two databases the way the acceptance criteria say: CHECKSUM TABLE ... EXTENDED
 * per table, and SHOW CREATE of every table, view, function, procedure, trigger and event.
 */
import type { Connection } from 'mysql2';
import { query } from '../../../ts-src/helper/db/connection.js';
import { quoteIdentifier } from '../../../ts-src/helper/db/sql-literal.js';

export interface DatabaseShape {
  checksums: Record<string, string | null>;
  creates: Record<string, Record<string, string | null>>;
}

/**
 * Normalisations, each justified:
 * - DEFINER: the dump removes it on purpose; the restoring account becomes the definer.
 * - Trigger "Created": the creation time of the restored trigger is the restore time.
 * - FOLLOWS/PRECEDES in a trigger's original text: the dump writes triggers in action order
 *   without the clause (it may name a trigger not yet created); ACTION_ORDER is compared
 *   separately through information_schema.
 */
function normalise(text: string | null): string | null {
  if (text === null) return null;
  return text
    .replace(/\s+DEFINER\s*=\s*(?:`(?:[^`]|``)*`|"(?:[^"]|"")*"|'[^']*'|\S+)(?:@(?:`(?:[^`]|``)*`|"(?:[^"]|"")*"|'[^']*'|\S+))?/i, '')
    .replace(/(\bFOR\s+EACH\s+ROW)\s+(?:FOLLOWS|PRECEDES)\s+(?:`(?:[^`]|``)*`|\w+)/i, '$1');
}

/** `connection` must use `database` as its default database (names are unqualified). */
export async function databaseShape(connection: Connection, database: string, skipChecksum: string[] = []): Promise<DatabaseShape> {
  const q = quoteIdentifier;
  const shape: DatabaseShape = { checksums: {}, creates: {} };
  const tables = await query<{ TABLE_NAME: string; TABLE_TYPE: string }>(
    connection,
    'SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
    [database],
  );
  for (const t of tables) {
    if (t.TABLE_TYPE === 'VIEW') {
      const [row] = await query<Record<string, string | null>>(connection, `SHOW CREATE VIEW ${q(t.TABLE_NAME)}`);
      shape.creates[`view ${t.TABLE_NAME}`] = { ...row, 'Create View': normalise(row['Create View']) };
      continue;
    }
    const kind = t.TABLE_TYPE === 'SEQUENCE' ? 'SEQUENCE' : 'TABLE';
    const [row] = await query<Record<string, string | null>>(connection, `SHOW CREATE ${kind} ${q(t.TABLE_NAME)}`);
    shape.creates[`${kind.toLowerCase()} ${t.TABLE_NAME}`] = row;
    if (!skipChecksum.includes(t.TABLE_NAME)) {
      const [sum] = await query<{ Checksum: string | null }>(connection, `CHECKSUM TABLE ${q(t.TABLE_NAME)} EXTENDED`);
      shape.checksums[t.TABLE_NAME] = sum.Checksum === null ? null : String(sum.Checksum);
    }
  }
  const routines = await query<{ ROUTINE_NAME: string; ROUTINE_TYPE: string }>(
    connection,
    'SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME',
    [database],
  );
  for (const r of routines) {
    const [row] = await query<Record<string, string | null>>(connection, `SHOW CREATE ${r.ROUTINE_TYPE} ${q(r.ROUTINE_NAME)}`);
    const key = r.ROUTINE_TYPE === 'FUNCTION' ? 'Create Function' : 'Create Procedure';
    shape.creates[`${r.ROUTINE_TYPE.toLowerCase()} ${r.ROUTINE_NAME}`] = { ...row, [key]: normalise(row[key]) };
  }
  const triggers = await query<{ TRIGGER_NAME: string; ACTION_ORDER: string; EVENT_OBJECT_TABLE: string }>(
    connection,
    'SELECT TRIGGER_NAME, ACTION_ORDER, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME',
    [database],
  );
  for (const t of triggers) {
    const [row] = await query<Record<string, string | null>>(connection, `SHOW CREATE TRIGGER ${q(t.TRIGGER_NAME)}`);
    const { Created: _created, ...rest } = row;
    shape.creates[`trigger ${t.TRIGGER_NAME}`] = {
      ...rest,
      'SQL Original Statement': normalise(row['SQL Original Statement']),
      actionOrder: `${t.EVENT_OBJECT_TABLE}#${t.ACTION_ORDER}`,
    };
  }
  const events = await query<{ EVENT_NAME: string }>(connection, 'SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME', [database]);
  for (const e of events) {
    const [row] = await query<Record<string, string | null>>(connection, `SHOW CREATE EVENT ${q(e.EVENT_NAME)}`);
    shape.creates[`event ${e.EVENT_NAME}`] = { ...row, 'Create Event': normalise(row['Create Event']) };
  }
  return shape;
}
