/**
 * The journal of an atomic restore, and what the next restore does with what a killed or
 * failed one left behind.
 *
 * The work databases carry a marker (their SCHEMA_COMMENT), so a left-over one is told
 * apart from a database someone else made. Right before the RENAME, the restore writes the
 * swap plan and the set's stored objects into a journal table of the old database, in the
 * same server as the live data, so it is there whoever runs the next restore from wherever:
 *  - staging database left (killed before the swap): it never was live; dropped.
 *  - journal in state 'swapping' and the swap did not happen: the live tables did not
 *    change; the live triggers dropped for the swap (if it got that far) are re-created
 *    from the journal, and the old database is dropped.
 *  - journal in state 'swapping' and the swap happened (killed in the trigger gap or just
 *    after): the live tables are the set's; the steps after the swap are finished from the
 *    journal (routines, triggers, views, events, old tables moved and dropped).
 *  - journal in state 'kept' (--keep-old): the replaced tables are someone's undo; the next
 *    restore refuses to touch them and says how to drop them.
 */
import type { Reporter } from '../core/reporter.js';
import { BackupError } from '../core/errors.js';
import { quoteIdentifier, utf8AsBytes, type RestoreConnection } from './restore-exec.js';
import { finishSwap, restoreTriggers, type SwapObjects } from './swap.js';

export const JOURNAL_TABLE = 'civibackup_restore_journal';
export const STAGING_MARKER = 'civibackup-staging';
export const OLD_MARKER = 'civibackup-old';

export type JournalState = 'swapping' | 'kept';

export interface JournalBody {
  version: 1;
  target: string;
  runId: string;
  started: string;
  keepOld: boolean;
  swap: SwapObjects;
}

export interface SchemaInfo {
  exists: boolean;
  comment: string;
  tables: string[];
}

export async function schemaInfo(admin: RestoreConnection, database: string): Promise<SchemaInfo> {
  const rows = await admin.rows<{ SCHEMA_COMMENT: string | null }>('SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
  if (rows.length === 0) return { exists: false, comment: '', tables: [] };
  const tables = await admin.rows<{ TABLE_NAME: string }>('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [database]);
  return { exists: true, comment: rows[0].SCHEMA_COMMENT ?? '', tables: tables.map((t) => t.TABLE_NAME) };
}

export function markerComment(marker: string, target: string): string {
  return `${marker} for ${target}`;
}

export async function dropDatabase(admin: RestoreConnection, database: string): Promise<void> {
  await admin.run('SET FOREIGN_KEY_CHECKS = 0');
  try {
    await admin.run(utf8AsBytes(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`));
  } finally {
    await admin.run('SET FOREIGN_KEY_CHECKS = 1');
  }
}

export async function writeJournal(admin: RestoreConnection, old: string, state: JournalState, body: JournalBody): Promise<void> {
  const table = `${quoteIdentifier(old)}.${quoteIdentifier(JOURNAL_TABLE)}`;
  await admin.run(utf8AsBytes(`CREATE TABLE IF NOT EXISTS ${table} (id INT PRIMARY KEY, state VARCHAR(16) NOT NULL, body LONGTEXT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`));
  await admin.rows(`REPLACE INTO ${table} (id, state, body) VALUES (1, ?, ?)`, [state, JSON.stringify(body)]);
}

export async function readJournal(admin: RestoreConnection, old: string): Promise<{ state: JournalState; body: JournalBody } | null> {
  try {
    const rows = await admin.rows<{ state: string; body: string }>(`SELECT state, body FROM ${quoteIdentifier(old)}.${quoteIdentifier(JOURNAL_TABLE)} WHERE id = 1`);
    if (rows.length === 0) return null;
    return { state: rows[0].state as JournalState, body: JSON.parse(rows[0].body) as JournalBody };
  } catch (error) {
    if ((error as { code?: string }).code === 'ER_NO_SUCH_TABLE') return null;
    throw error;
  }
}

/** True when the RENAME of this journal's swap was executed (it is atomic: all or nothing). */
export async function swapHappened(admin: RestoreConnection, swap: SwapObjects): Promise<boolean> {
  const { plan } = swap;
  if (plan.moveIn.length > 0) {
    const staging = await schemaInfo(admin, plan.staging);
    return !staging.tables.includes(plan.moveIn[0]);
  }
  const old = await schemaInfo(admin, plan.old);
  return plan.moveOut.some((t) => old.tables.includes(t));
}

export interface Leftovers {
  /** What was found and done, one sentence each (also emitted as warnings). */
  notes: string[];
}

/**
 * Deals with what an earlier restore of this target left in the staging and old databases
 * (see the module comment). Throws CONFIG when a work database holds data that is not a
 * left-over of ours, or kept tables (--keep-old) that only a person may drop.
 */
export async function cleanLeftovers(options: {
  admin: RestoreConnection;
  openLive: () => Promise<RestoreConnection>;
  target: string;
  staging: string;
  old: string;
  reporter: Reporter;
}): Promise<Leftovers> {
  const { admin, target, staging, old, reporter } = options;
  const notes: string[] = [];
  const note = (code: string, message: string): void => {
    notes.push(message);
    reporter.emit({ type: 'warning', code, message });
  };

  const oldInfo = await schemaInfo(admin, old);
  if (oldInfo.exists) {
    const journal = await readJournal(admin, old);
    if (journal) {
      if (journal.body.target !== target) {
        throw new BackupError('CONFIG', `The old database ${old} holds what a restore of ${journal.body.target} left (run ${journal.body.runId}); it cannot serve ${target}. Give another --old-db (setting civibackup_old_database), or deal with that restore first.`);
      }
      if (journal.state === 'kept') {
        const kept = oldInfo.tables.filter((t) => t !== JOURNAL_TABLE);
        throw new BackupError(
          'CONFIG',
          `The old database ${old} still holds the ${kept.length} tables that the restore of ${journal.body.started} (run ${journal.body.runId}) replaced and kept (--keep-old). Drop them when they are no longer needed (DROP DATABASE \`${old}\`;) or give another --old-db, then run the restore again.`,
        );
      }
      if (await swapHappened(admin, journal.body.swap)) {
        const live = await options.openLive();
        try {
          await finishSwap(live, journal.body.swap);
        } finally {
          await live.close();
        }
        if (journal.body.keepOld) {
          await writeJournal(admin, old, 'kept', journal.body);
          note('RESTORE_FINISHED', `A restore of ${target} (run ${journal.body.runId}, ${journal.body.started}) was interrupted after its swap: the live tables were already the set's; its triggers, views, routines and events are now in place. The replaced tables are kept in ${old} (--keep-old).`);
        } else {
          await dropDatabase(admin, old);
          note('RESTORE_FINISHED', `A restore of ${target} (run ${journal.body.runId}, ${journal.body.started}) was interrupted after its swap: the live tables were already the set's; its triggers, views, routines and events are now in place and the replaced tables in ${old} were dropped.`);
        }
      } else {
        // Killed between dropping the live triggers and the RENAME: they come back.
        const live = await options.openLive();
        try {
          await restoreTriggers(live, target, journal.body.swap.replacedTriggers);
        } finally {
          await live.close();
        }
        await dropDatabase(admin, old);
        note('RESTORE_LEFTOVER', `A restore of ${target} (run ${journal.body.runId}, ${journal.body.started}) was interrupted before its swap: the live tables were not changed (any trigger it had dropped for the swap is back); its old database ${old} was dropped.`);
      }
    } else if (oldInfo.tables.length === 0) {
      await dropDatabase(admin, old);
    } else {
      throw new BackupError(
        'CONFIG',
        `The database ${old}, where the restore moves the replaced tables, already holds ${oldInfo.tables.length} tables${oldInfo.comment.startsWith(OLD_MARKER) ? ' (without a journal saying why)' : ' that are not a restore\'s'}. Give another --old-db (setting civibackup_old_database), or drop it (DROP DATABASE \`${old}\`;) if nothing in it is needed.`,
      );
    }
  }

  const stagingInfo = await schemaInfo(admin, staging);
  if (stagingInfo.exists) {
    if (stagingInfo.comment.startsWith(STAGING_MARKER) || stagingInfo.tables.length === 0) {
      if (stagingInfo.tables.length > 0) note('RESTORE_LEFTOVER', `The staging database ${staging} left by an interrupted restore (${stagingInfo.tables.length} tables, never live) was dropped.`);
      await dropDatabase(admin, staging);
    } else {
      throw new BackupError(
        'CONFIG',
        `The staging database ${staging} already holds ${stagingInfo.tables.length} tables that are not a restore's. Give another --staging-db (setting civibackup_staging_database), or drop it (DROP DATABASE \`${staging}\`;) if nothing in it is needed.`,
      );
    }
  }
  return { notes };
}
