/**
 * Restore over a live database without ever showing it empty or half-loaded:
 *
 * 1. What an earlier killed or failed restore left is cleaned or finished (restore-journal.ts).
 * 2. The set is loaded into a staging database on the same server (`<target>_cbstage`, or
 *    --staging-db) by the caller's load function, so this module does not care how a set
 *    stores its SQL.
 * 3. The staging copy is checked as deep verify checks: each table's row count and row
 *    digest against the manifest (taken while other tables still load, before any trigger
 *    or event exists), and the names of every object.
 * 4. The swap (swap.ts): one RENAME TABLE moves the live tables in the scope out (to the
 *    old database `<target>_cbold`, or --old-db) and the staged ones in; triggers, routines,
 *    views and events follow. The journal is written just before it.
 * 5. The old tables are dropped only after all of that succeeded (--keep-old keeps them).
 *
 * Killed before the RENAME: the live database is untouched. The RENAME itself is atomic.
 * Killed after it: the live tables are the set's; the next restore finishes the objects
 * from the journal. Readers never see a missing or partly loaded table; the only gap is
 * the few milliseconds between the RENAME and the last CREATE TRIGGER (measured, reported).
 */
import { createHash } from 'node:crypto';
import type { DatabaseRecord } from '../../protocol/manifest.js';
import { BackupError, toBackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import { pausePoint } from '../core/test-pause.js';
import { compareObjects, DigestPool } from './deep-verify.js';
import { describeDsn, type Dsn } from './dsn.js';
import type { RestoreDatabaseResult } from './restore.js';
import { charsetClause } from './restore.js';
import { openRestoreConnection, quoteIdentifier, utf8AsBytes, type RestoreConnection } from './restore-exec.js';
import { cleanLeftovers, dropDatabase, markerComment, OLD_MARKER, STAGING_MARKER, swapHappened, writeJournal, type JournalBody } from './restore-journal.js';
import {
  dropTriggers,
  finishSwap,
  listDatabaseObjects,
  objectsInScope,
  planSwap,
  readStoredObjects,
  restoreTriggers,
  scopeIncludes,
  swapStatement,
  type DatabaseObjects,
  type RestoreScope,
  type SwapObjects,
} from './swap.js';

/** What the load function gets: where to load, and the hooks the check needs. */
export interface LoadHooks {
  /** A table's rows and indexes are in: its digest may be taken now. */
  onTableReady: (table: string) => void;
  /** Awaited after the data, before routines, views, triggers and events are created. */
  beforeObjects: () => Promise<void>;
}

export type LoadSet = (staging: Dsn, hooks: LoadHooks) => Promise<RestoreDatabaseResult>;

export interface AtomicRestoreOptions {
  target: Dsn;
  record: DatabaseRecord;
  scope: RestoreScope;
  /** Database names; derived from the target when not given. */
  stagingDatabase?: string;
  oldDatabase?: string;
  keepOld: boolean;
  load: LoadSet;
  /** Connections for the digests. */
  jobs: number;
  reporter: Reporter;
  signal?: AbortSignal;
}

export interface AtomicRestoreResult {
  mode: 'atomic';
  scope: RestoreScope;
  stagingDatabase: string;
  oldDatabase: string;
  load: RestoreDatabaseResult;
  /** Tables the swap moved in (the set's) and out (the live ones replaced). */
  tablesIn: number;
  tablesOut: number;
  /** Live tables outside the scope, left as they were. */
  untouchedTables: number;
  checkSeconds: number;
  /** Milliseconds the RENAME TABLE took (readers of the moved tables wait this long). */
  swapMs: number;
  /** Milliseconds from the RENAME's start to the last trigger re-created. */
  triggerGapMs: number;
  /** The replaced tables kept in the old database (--keep-old), else empty. */
  keptTables: string[];
  /** What an earlier interrupted restore had left and what was done about it. */
  leftovers: string[];
  seconds: number;
}

/** `<target><suffix>` within MariaDB's 64 characters (a long name is cut and given a hash). */
export function workDatabaseName(target: string, suffix: '_cbstage' | '_cbold'): string {
  const name = `${target}${suffix}`;
  if (name.length <= 64) return name;
  const hash = createHash('sha1').update(target).digest('hex').slice(0, 8);
  return `${target.slice(0, 64 - suffix.length - 9)}_${hash}${suffix}`;
}

async function currentAccount(admin: RestoreConnection): Promise<string> {
  const [row] = await admin.rows<{ account: string }>('SELECT CURRENT_USER() AS account');
  const account = String(row?.account ?? 'user@host');
  const at = account.lastIndexOf('@');
  return at < 0 ? `'${account}'` : `'${account.slice(0, at)}'@'${account.slice(at + 1)}'`;
}

async function createWorkDatabase(admin: RestoreConnection, name: string, comment: string, record: DatabaseRecord, role: string, option: string, setting: string): Promise<void> {
  try {
    await admin.run(utf8AsBytes(`CREATE DATABASE ${quoteIdentifier(name)}${charsetClause(record)} COMMENT '${comment.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`));
  } catch (error) {
    const account = await currentAccount(admin).catch(() => "'user'@'host'");
    throw new BackupError(
      'CONFIG',
      `A restore over a live database loads into a ${role} database first, and ${name} could not be created (${(error as Error).message}). As a database administrator run: GRANT ALL PRIVILEGES ON \`${name.replace(/_/g, '\\_')}\`.* TO ${account}; or name a database this account may create and drop with ${option} (setting ${setting}). Or restore with --in-place (no extra database, but the site sees empty tables while it loads).`,
      { cause: error },
    );
  }
}

export async function atomicRestore(options: AtomicRestoreOptions): Promise<AtomicRestoreResult> {
  const started = Date.now();
  const { target, record, scope, reporter, signal } = options;
  const live = target.database;
  const staging = options.stagingDatabase ?? workDatabaseName(live, '_cbstage');
  const old = options.oldDatabase ?? workDatabaseName(live, '_cbold');
  if (new Set([live, staging, old]).size !== 3) {
    throw new BackupError('USAGE', `The live (${live}), staging (${staging}) and old (${old}) databases must be three different databases.`);
  }
  if (!record.tables.some((t) => scopeIncludes(scope, t.name))) {
    throw new BackupError('USAGE', `The set's ${record.role} database ${record.name} holds no CiviCRM tables (civicrm_*, log_civicrm_*), so --scope civicrm would replace nothing. Pass --scope all to replace every table with the set's.`);
  }
  const cancelled = (): void => {
    if (signal?.aborted) throw new BackupError('CANCELLED', 'The restore was cancelled before the swap; the live database was not changed.');
  };
  const stagingDsn: Dsn = { ...target, database: staging };
  const openLive = (): Promise<RestoreConnection> => openRestoreConnection(target, live);

  const admin = await openRestoreConnection(target, null);
  let swapped = false;
  let workCreated = false;
  /** Set once the journal is written: from then on a failed RENAME may still have happened. */
  let journaled: SwapObjects | null = null;
  try {
    const { notes: leftovers } = await cleanLeftovers({ admin, openLive, target: live, staging, old, reporter });
    cancelled();
    await createWorkDatabase(admin, staging, markerComment(STAGING_MARKER, live), record, 'staging', '--staging-db', 'civibackup_staging_database');
    workCreated = true;
    await createWorkDatabase(admin, old, markerComment(OLD_MARKER, live), record, 'old', '--old-db', 'civibackup_old_database');

    // 2 + 3: load into staging, digests overlapping the load.
    const digests = new DigestPool(stagingDsn, record, Math.max(1, options.jobs), reporter);
    let checkSeconds = 0;
    let load: RestoreDatabaseResult;
    try {
      load = await options.load(stagingDsn, {
        onTableReady: (table) => digests.add(table),
        beforeObjects: async () => {
          for (const table of record.tables) digests.add(table.name);
          const waitStarted = Date.now();
          await digests.finish();
          checkSeconds += (Date.now() - waitStarted) / 1000;
        },
      });
    } finally {
      await digests.close();
    }
    await pausePoint('loaded');
    cancelled();
    reporter.emit({ type: 'phase', phase: 'verify', totalItems: record.tables.length });
    const checkStarted = Date.now();
    const compared = await compareObjects(stagingDsn, record);
    checkSeconds += (Date.now() - checkStarted) / 1000;
    const problems = [...compared.problems, ...digests.problems];
    if (problems.length > 0) {
      throw new BackupError('VERIFY_MISMATCH', `The set loaded into the staging database ${staging} differs from its manifest, so the live database was not touched: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}.`);
    }

    // 4: the swap.
    reporter.emit({ type: 'phase', phase: 'swap' });
    const stagingConnection = await openRestoreConnection(target, staging);
    let swap: SwapObjects;
    const liveConnection = await openLive();
    try {
      const stagedInScope = objectsInScope(await listDatabaseObjects(stagingConnection, staging), scope);
      const incoming = await readStoredObjects(stagingConnection, stagedInScope);
      // Staged tables cannot move with triggers; staged events must not run in staging.
      const stagedAll = await listDatabaseObjects(stagingConnection, staging);
      for (const trigger of stagedAll.triggers) await stagingConnection.run(utf8AsBytes(`DROP TRIGGER IF EXISTS ${quoteIdentifier(trigger.name)}`));
      for (const event of stagedAll.events) await stagingConnection.run(utf8AsBytes(`DROP EVENT IF EXISTS ${quoteIdentifier(event)}`));
      cancelled();

      // The live side is read as late as possible: the site keeps working until now.
      const liveAll = await listDatabaseObjects(liveConnection, live);
      const liveInScope = objectsInScope(liveAll, scope);
      const plan = planSwap({ live, staging, old, staged: stagedInScope.tables, liveInScope });
      const replacedTriggers = (await readStoredObjects(liveConnection, { ...emptyObjects(), triggers: liveInScope.triggers })).filter((o) => o.kind === 'TRIGGER');
      swap = { plan, incoming, replaced: liveInScope, replacedTriggers };
      const body: JournalBody = { version: 1, target: live, runId: reporter.runId, started: new Date(started).toISOString(), keepOld: options.keepOld, swap };
      await writeJournal(admin, old, 'swapping', body);
      journaled = swap;
      await pausePoint('before-swap');
      cancelled();

      const timing = await swapTables(liveConnection, swap, reporter);
      swapped = true;
      await pausePoint('swapped');
      const finished = await finishSwap(liveConnection, swap);
      const swapMs = timing.renameMs;
      const triggerGapMs = timing.sinceFirstDropMs + finished.triggersMs;
      await pausePoint('finished');

      // 5: the old tables go only now.
      let keptTables: string[] = [];
      if (options.keepOld) {
        await writeJournal(admin, old, 'kept', body);
        keptTables = plan.moveOut;
      } else {
        await dropDatabase(admin, old);
      }
      await dropDatabase(admin, staging);
      return {
        mode: 'atomic',
        scope,
        stagingDatabase: staging,
        oldDatabase: old,
        load: load!,
        tablesIn: plan.moveIn.length,
        tablesOut: plan.moveOut.length,
        untouchedTables: liveAll.tables.length - liveInScope.tables.length,
        checkSeconds,
        swapMs,
        triggerGapMs,
        keptTables,
        leftovers,
        seconds: (Date.now() - started) / 1000,
      };
    } finally {
      await stagingConnection.close().catch(() => undefined);
      await liveConnection.close().catch(() => undefined);
    }
  } catch (error) {
    const failure = toBackupError(error);
    // A RENAME cut off by a lost connection may have been executed: ask the server.
    if (!swapped && journaled) swapped = await swapHappened(admin, journaled).catch(() => true);
    if (swapped) {
      throw new BackupError(
        failure.code,
        `${failure.message} The live database ${describeDsn(target)} already holds the set's tables; what follows the swap (triggers, views, routines, events, dropping the replaced tables in ${old}) is in the journal of ${old}: run the restore again to finish it, or run CiviCRM's trigger rebuild.`,
        { cause: error },
      );
    }
    if (journaled) {
      // The live triggers may have been dropped for the swap: they come back first. If that
      // fails too, the journal stays so the next restore can do it.
      const backAgain = await (async () => {
        const connection = await openLive();
        try {
          await restoreTriggers(connection, live, journaled!.replacedTriggers);
        } finally {
          await connection.close();
        }
      })().then(
        () => true,
        () => false,
      );
      if (!backAgain) {
        throw new BackupError(failure.code, `${failure.message} The live tables were not changed, but the triggers dropped for the swap could not be re-created; run the restore again (it re-creates them from the journal in ${old}) or CiviCRM's trigger rebuild.`, { cause: error });
      }
    }
    if (workCreated) {
      // Nothing live changed: the work databases go.
      await dropDatabase(admin, staging).catch(() => undefined);
      await dropDatabase(admin, old).catch(() => undefined);
    }
    if (failure.code === 'CANCELLED') throw new BackupError('CANCELLED', `The restore was cancelled before the swap; the live database ${describeDsn(target)} was not changed.`, { cause: error });
    if (!workCreated || failure.code === 'CONFIG' || failure.code === 'USAGE' || failure.code === 'VERIFY_MISMATCH') throw failure;
    throw new BackupError(failure.code, `${failure.message} (The live database ${describeDsn(target)} was not changed: the failure came before the swap.)`, { cause: error });
  } finally {
    await admin.close();
  }
}

function emptyObjects(): DatabaseObjects {
  return { tables: [], views: [], functions: [], procedures: [], events: [], triggers: [] };
}

/**
 * Drops the live triggers and runs the RENAME, back to back on one connection. RENAME TABLE
 * (and DROP TRIGGER) wait for every reader of the tables to finish, and meanwhile new
 * readers queue behind them: a long report would freeze the site. So the wait is bounded;
 * after a timeout the dropped triggers are put back, nothing else has changed, and the swap
 * is tried again a little later.
 */
async function swapTables(live: RestoreConnection, swap: SwapObjects, reporter: Reporter): Promise<{ renameMs: number; sinceFirstDropMs: number }> {
  const statement = swapStatement(swap.plan);
  const attempts = 3;
  await live.run(`SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}`);
  for (let attempt = 1; ; attempt += 1) {
    const dropStarted = Date.now();
    try {
      await dropTriggers(live, swap.plan.live, swap.replaced.triggers);
      await pausePoint('triggers-dropped');
      const renameStarted = Date.now();
      if (statement) await live.run(utf8AsBytes(statement), { file: 'swap', statement: 1 });
      const now = Date.now();
      return { renameMs: now - renameStarted, sinceFirstDropMs: now - dropStarted };
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      // On a lost connection this fails too; the caller retries on a new one.
      await restoreTriggers(live, swap.plan.live, swap.replacedTriggers).catch(() => undefined);
      if (code !== 'ER_LOCK_WAIT_TIMEOUT' || attempt >= attempts) throw error;
      reporter.emit({ type: 'warning', code: 'SWAP_WAITING', message: `A long transaction holds a table to be replaced; the swap waited ${LOCK_WAIT_SECONDS} s and will try again (attempt ${attempt + 1} of ${attempts}).` });
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

/** How long the swap waits for a table's running queries (a test knob shortens it). */
const LOCK_WAIT_SECONDS = Math.max(1, Number(process.env.CIVIBACKUP_SWAP_LOCK_WAIT_SECONDS) || 10);
