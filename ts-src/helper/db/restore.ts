/**
 * Restores a set's database folder (db/ or logdb/) into a target database.
 *
 * Order of work, and why:
 * 1. checkPartsBeforeRestore: every part's size and SHA-256, and for encrypted parts a
 *    full decrypt-and-decompress pass, before anything touches the target (an age stream
 *    only proves itself at its end; a truncated part must not leave a half-restored DB).
 * 2. The target: created when missing; refused when it holds any table, view, routine or
 *    event, unless --force, which drops those objects first.
 * 3. N connections (binary-exact, see restore-exec.ts), each running the prelude.
 * 4. Parts before the data (schema) in order on one connection. InnoDB tables with a
 *    PRIMARY KEY are created without their secondary indexes and foreign keys
 *    (restore-schema.ts).
 * 5. Data parts in parallel over the N connections, largest first; as soon as all parts
 *    of a table are in, its indexes are added with one ALTER TABLE (ahead of other data,
 *    so index sorting overlaps loading), then all foreign keys, one table after the other,
 *    once every table has its indexes.
 * 6. The remaining parts (routines, views, triggers, events, postlude) in order on one
 *    connection.
 */
import { availableParallelism } from 'node:os';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DatabaseRecord, Manifest, PartRecord } from '../../protocol/manifest.js';
import { BackupError, toBackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { ReadCodec } from '../set/codec.js';
import { openPart } from '../set/part-reader.js';
import { assertPartsIntact } from '../set/verify-parts.js';
import { describeDsn, type Dsn } from './dsn.js';
import { currentAccount, grantDatabaseStatements } from './grants.js';
import { openRestoreConnection, quoteIdentifier, readStatements, utf8AsBytes, type RestoreConnection } from './restore-exec.js';
import { planRestore, type DataPart, type RestorePlan } from './restore-plan.js';
import { planDeferredIndexes, unquoteIdentifier } from './restore-schema.js';

export interface RestoreProgress {
  /** Uncompressed bytes of all parts to restore (from the manifest). */
  totalBytes: number;
  doneBytes: number;
}

/**
 * Where the SQL of a restore comes from when it is not a v1 set's part files: a plan of
 * parts (restore-plan.ts) and how to open each. A v2 set's blobs give one
 * (blob-sql.ts blobRestoreSource).
 */
export interface RestoreSource {
  plan: RestorePlan;
  open(part: PartRecord): Promise<Readable>;
}

/**
 * The SQL comes from `source` when given, else from the v1 set's part files (`setDir`,
 * `manifest`, `codec`: all three needed then). One interface with optional fields rather
 * than a union, so callers can build the common part once and spread it.
 */
export interface RestoreDatabaseOptions {
  setDir?: string;
  manifest?: Manifest;
  codec?: ReadCodec;
  source?: RestoreSource;
  /** The database's record; with `source`, one whose folder and table parts match the plan (blobRestoreSource gives it). */
  database: DatabaseRecord;
  target: Dsn;
  force: boolean;
  /** Parallel connections for the data; default: the number of CPUs, at least 2, at most 4. */
  jobs?: number;
  /** Build secondary indexes after the data (default true). */
  deferIndexes?: boolean;
  reporter: Reporter;
  signal?: AbortSignal;
  progress?: RestoreProgress;
  /**
   * Called when a table's rows and indexes are in (deep verify digests it while other
   * tables still load). Not called for every table: tables without data that need no
   * index build are only complete once the data phase ends.
   */
  onTableReady?: (table: string) => void;
  /** Awaited after the data and keys, before routines, views, triggers and events are created. */
  beforeObjects?: () => Promise<void>;
}

export interface RestoreDatabaseResult {
  database: string;
  role: string;
  parts: number;
  statements: number;
  rawBytes: number;
  seconds: number;
  jobs: number;
  /** Tables whose indexes or foreign keys were added after their data. */
  deferredTables: number;
  createdDatabase: boolean;
  droppedObjects: number;
  /** Seconds per step: prepare, schema, dataAndIndexes, foreignKeys, objects. */
  timings: Record<string, number>;
}

export function defaultJobs(): number {
  return Math.max(2, Math.min(4, availableParallelism()));
}

function damaged(part: PartRecord, error: unknown): BackupError {
  if (error instanceof BackupError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new BackupError('SET_DAMAGED', `${part.path} cannot be read back: ${message}`, { cause: error });
}

/** A decompression error: the part's bytes are not what the writer wrote. */
function isStreamDamage(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Proves the parts intact before any restore writes: hashes of all of them, and a full
 * decrypt (and decompress) pass over encrypted ones, which also checks the key.
 */
export async function checkPartsBeforeRestore(
  setDir: string,
  manifest: Manifest,
  parts: PartRecord[],
  codec: ReadCodec,
  reporter: Reporter,
): Promise<void> {
  const wanted = new Set(parts.map((p) => p.path));
  const total = parts.reduce((sum, p) => sum + p.bytes, 0);
  reporter.emit({ type: 'phase', phase: 'verify', totalBytes: total, totalItems: parts.length });
  let done = 0;
  await assertPartsIntact(setDir, manifest, {
    filter: (p) => wanted.has(p.path),
    onBytes: (n) => {
      done += n;
      reporter.progress({ type: 'progress', phase: 'verify', item: 'hashes', bytes: done, bytesTotal: total });
    },
  });
  for (const part of parts) {
    if (!part.path.endsWith('.age')) continue;
    reporter.progress({ type: 'progress', phase: 'verify', item: part.path, bytes: done, bytesTotal: total });
    await drainPart(setDir, part, codec);
  }
}

/** Reads a part through all its decoding stages, discarding the content. */
export async function drainPart(setDir: string, part: PartRecord, codec: ReadCodec, onBytes?: (n: number) => void): Promise<void> {
  try {
    const content = await openPart(setDir, part.path, codec);
    await pipeline(
      content,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          onBytes?.(chunk.length);
          callback();
        },
      }),
    );
  } catch (error) {
    throw damaged(part, error);
  }
}

interface TargetState {
  exists: boolean;
  tables: string[];
  views: string[];
  functions: string[];
  procedures: string[];
  events: string[];
}

export async function inspectTarget(admin: RestoreConnection, database: string): Promise<TargetState> {
  const schema = await admin.rows('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
  const state: TargetState = { exists: schema.length > 0, tables: [], views: [], functions: [], procedures: [], events: [] };
  if (!state.exists) return state;
  const tables = await admin.rows<{ TABLE_NAME: string; TABLE_TYPE: string }>('SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [database]);
  for (const t of tables) (t.TABLE_TYPE === 'VIEW' ? state.views : state.tables).push(t.TABLE_NAME);
  const routines = await admin.rows<{ ROUTINE_NAME: string; ROUTINE_TYPE: string }>('SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?', [database]);
  for (const r of routines) (r.ROUTINE_TYPE === 'FUNCTION' ? state.functions : state.procedures).push(r.ROUTINE_NAME);
  const events = await admin.rows<{ EVENT_NAME: string }>('SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?', [database]);
  state.events = events.map((e) => e.EVENT_NAME);
  return state;
}

export function objectCount(state: TargetState): number {
  return state.tables.length + state.views.length + state.functions.length + state.procedures.length + state.events.length;
}

async function dropObjects(admin: RestoreConnection, database: string, state: TargetState): Promise<void> {
  const db = quoteIdentifier(database);
  await admin.run('SET FOREIGN_KEY_CHECKS = 0');
  for (const view of state.views) await admin.run(utf8AsBytes(`DROP VIEW IF EXISTS ${db}.${quoteIdentifier(view)}`));
  // DROP TABLE also drops sequences and the tables' triggers.
  for (const table of state.tables) await admin.run(utf8AsBytes(`DROP TABLE IF EXISTS ${db}.${quoteIdentifier(table)}`));
  for (const fn of state.functions) await admin.run(utf8AsBytes(`DROP FUNCTION IF EXISTS ${db}.${quoteIdentifier(fn)}`));
  for (const proc of state.procedures) await admin.run(utf8AsBytes(`DROP PROCEDURE IF EXISTS ${db}.${quoteIdentifier(proc)}`));
  for (const event of state.events) await admin.run(utf8AsBytes(`DROP EVENT IF EXISTS ${db}.${quoteIdentifier(event)}`));
  await admin.run('SET FOREIGN_KEY_CHECKS = 1');
}

/** CREATE DATABASE options from the manifest: the source's default collation, else its charset. */
export function charsetClause(database: Pick<DatabaseRecord, 'charset' | 'collation'>): string {
  const safe = (name: string | undefined): name is string => typeof name === 'string' && /^[A-Za-z0-9_]+$/.test(name);
  if (safe(database.collation)) return ` COLLATE ${database.collation}`;
  return safe(database.charset) ? ` CHARACTER SET ${database.charset}` : '';
}

/** Makes the target ready: created, or empty (refusing unless force). Returns what it did. */
export async function prepareTarget(
  target: Dsn,
  force: boolean,
  options: Pick<DatabaseRecord, 'charset' | 'collation'>,
): Promise<{ created: boolean; dropped: number }> {
  const admin = await openRestoreConnection({ ...target }, null);
  try {
    const state = await inspectTarget(admin, target.database);
    if (!state.exists) {
      try {
        await admin.run(utf8AsBytes(`CREATE DATABASE ${quoteIdentifier(target.database)}${charsetClause(options)}`));
      } catch (error) {
        const account = await currentAccount((sql) => admin.rows(sql));
        throw new BackupError(
          'DB_PRIVILEGE',
          `The database ${describeDsn(target)} does not exist, or the user ${account} has no privileges on it, and it could not be created (${error instanceof Error ? error.message : String(error)}). Run as an administrator: ${grantDatabaseStatements(target.database, account, true).replace('CREATE DATABASE', 'CREATE DATABASE IF NOT EXISTS')} Then run it again.`,
          { cause: error },
        );
      }
      return { created: true, dropped: 0 };
    }
    const count = objectCount(state);
    if (count === 0) return { created: false, dropped: 0 };
    if (!force) {
      throw new BackupError(
        'TARGET_NOT_EMPTY',
        `The database ${describeDsn(target)} is not empty (${state.tables.length} tables, ${state.views.length} views, ${state.functions.length + state.procedures.length} routines, ${state.events.length} events). Restore into an empty or new database, or pass --force to replace its contents.`,
      );
    }
    await dropObjects(admin, target.database, state);
    return { created: false, dropped: count };
  } finally {
    await admin.close();
  }
}

function partFileSourceOf(options: RestoreDatabaseOptions): RestoreSource {
  const { setDir, manifest, codec } = options;
  if (setDir === undefined || manifest === undefined || codec === undefined) {
    throw new BackupError('INTERNAL', 'restoreDatabase needs either a source or the set directory, manifest and codec of a v1 set.');
  }
  return partFileSource(setDir, manifest, codec, options.database);
}

/** The plan of a v1 set's database folder, its parts opened from the set directory. */
function partFileSource(setDir: string, manifest: Manifest, codec: ReadCodec, database: DatabaseRecord): RestoreSource {
  return { plan: planRestore(manifest, database), open: (part) => openPart(setDir, part.path, codec) };
}

async function readAllStatements(source: RestoreSource, part: PartRecord, onBytes?: (n: number) => void): Promise<Buffer[]> {
  const statements: Buffer[] = [];
  for await (const statement of readStatements(await source.open(part), { onBytes })) statements.push(statement.sql);
  return statements;
}

interface Deferred {
  addIndexes: string | null;
  addForeignKeys: string | null;
}

type Task =
  | { kind: 'data'; table: string | null; parts: DataPart[]; rawBytes: number }
  | { kind: 'alter'; table: string; sql: string; what: 'indexes' | 'foreign keys' };

/**
 * Hands tasks to the workers. A worker asking while the queue is empty but other tasks are
 * still running waits: a finishing data part may release its table's index build.
 */
class Scheduler {
  private readonly queue: Task[];
  private running = 0;
  private waiters: Array<() => void> = [];
  stopped = false;

  constructor(tasks: Task[]) {
    this.queue = tasks;
  }

  async next(): Promise<Task | null> {
    for (;;) {
      if (this.stopped) return null;
      const task = this.queue.shift();
      if (task) {
        this.running += 1;
        return task;
      }
      if (this.running === 0) return null;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Index builds jump the queue: they are the long poles. */
  pushFirst(task: Task): void {
    this.queue.unshift(task);
    this.wake();
  }

  finished(): void {
    this.running -= 1;
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

export async function restoreDatabase(options: RestoreDatabaseOptions): Promise<RestoreDatabaseResult> {
  const started = Date.now();
  const timings: Record<string, number> = {};
  let lap = started;
  const mark = (what: string): void => {
    const now = Date.now();
    timings[what] = (now - lap) / 1000;
    lap = now;
  };
  const { database, target, reporter, signal } = options;
  const source: RestoreSource = options.source ?? partFileSourceOf(options);
  const plan: RestorePlan = source.plan;
  if (plan.all.length === 0) throw new BackupError('SET_DAMAGED', `The set has no parts in ${database.folder}/ for database ${database.name}.`);
  const jobs = Math.max(1, Math.min(16, options.jobs ?? defaultJobs()));
  const deferIndexes = options.deferIndexes ?? true;
  const progress = options.progress ?? { totalBytes: plan.rawBytes, doneBytes: 0 };
  let statements = 0;
  let partsDone = 0;
  let currentItem = database.folder;

  const report = (force = false): void =>
    reporter.progress(
      { type: 'progress', phase: 'restore', item: currentItem, bytes: progress.doneBytes, bytesTotal: progress.totalBytes, itemsDone: partsDone, itemsTotal: plan.all.length },
      force,
    );
  const countBytes = (n: number): void => {
    progress.doneBytes += n;
    report();
  };
  let firstError: unknown;
  const checkCancelled = (): void => {
    if (signal?.aborted) throw new BackupError('CANCELLED', 'The restore was cancelled; the target database is incomplete.');
    // Another connection failed: stop here too, its error is the one reported.
    if (firstError) throw new BackupError('INTERNAL', 'stopped after an error on another connection');
  };

  const prepared = await prepareTarget(target, options.force, database);

  const prelude: Buffer[] = [];
  for (const part of plan.prelude) {
    prelude.push(...(await readAllStatements(source, part, countBytes)));
    partsDone += 1;
  }

  const deferred = new Map<string, Deferred>();
  const connections: RestoreConnection[] = [];
  try {
    for (let i = 0; i < jobs; i += 1) {
      const connection = await openRestoreConnection(target, target.database);
      connections.push(connection);
      for (const [index, sql] of prelude.entries()) await connection.run(sql, { file: plan.prelude[0]?.path ?? 'prelude', statement: index + 1 });
    }
    const serial = connections[0];

    const runPart = async (connection: RestoreConnection, part: PartRecord, transform?: (sql: Buffer) => string | Buffer): Promise<void> => {
      const content = await source.open(part);
      try {
        for await (const statement of readStatements(content, { onBytes: countBytes })) {
          checkCancelled();
          const sql = transform ? transform(statement.sql) : statement.sql;
          await connection.run(sql, { file: part.path, statement: statement.index, line: statement.line });
          statements += 1;
        }
      } catch (error) {
        throw isStreamDamage(error) ? damaged(part, error) : error;
      }
      partsDone += 1;
    };

    // Schema (and anything else numbered before the data).
    const deferTransform = (sql: Buffer): string | Buffer => {
      // Only CREATE TABLE statements are candidates; cheap test before parsing.
      const head = sql.subarray(0, 4096).toString('latin1');
      if (!/CREATE\s+TABLE/i.test(head)) return sql;
      const deferral = planDeferredIndexes(sql.toString('latin1'));
      if (!deferral) return sql;
      const table = Buffer.from(unquoteIdentifier(deferral.quotedName), 'latin1').toString('utf8');
      deferred.set(table, { addIndexes: deferral.addIndexes, addForeignKeys: deferral.addForeignKeys });
      return deferral.create;
    };
    mark('prepare');
    for (const part of plan.before) {
      currentItem = part.path;
      await runPart(serial, part, deferIndexes ? deferTransform : undefined);
    }

    // Data, with index builds released per table as its data is in. The parts of one table
    // load in order on one connection: a row too big for one statement is assembled in
    // session variables, and its statements may span a part boundary.
    const byTable = new Map<string, DataPart[]>();
    const tasks: Task[] = [];
    for (const data of plan.data) {
      if (data.table === null) tasks.push({ kind: 'data', table: null, parts: [data], rawBytes: data.part.rawBytes ?? 0 });
      else byTable.set(data.table, [...(byTable.get(data.table) ?? []), data]);
    }
    for (const [table, parts] of byTable) tasks.push({ kind: 'data', table, parts, rawBytes: parts.reduce((sum, d) => sum + (d.part.rawBytes ?? 0), 0) });
    // Largest first, so the longest load and its index build start early.
    tasks.sort((a, b) => (b.kind === 'data' ? b.rawBytes : 0) - (a.kind === 'data' ? a.rawBytes : 0));
    let unmapped = tasks.filter((t) => t.kind === 'data' && t.table === null).length;
    const loaded = new Set<string>();
    const indexTask = (table: string): Task | null => {
      const sql = deferred.get(table)?.addIndexes;
      return sql ? { kind: 'alter', table, sql, what: 'indexes' } : null;
    };
    const released = new Set<string>();
    const releaseIfReady = (scheduler: Scheduler, table: string): void => {
      if (released.has(table) || (byTable.has(table) && !loaded.has(table))) return;
      if (!byTable.has(table) && unmapped > 0) return; // its rows may be in an unmapped part
      released.add(table);
      const task = indexTask(table);
      if (task) scheduler.pushFirst(task);
      else options.onTableReady?.(table);
    };
    const scheduler = new Scheduler(tasks);
    for (const table of deferred.keys()) releaseIfReady(scheduler, table);

    const runTask = async (connection: RestoreConnection, task: Task): Promise<void> => {
      if (task.kind === 'data') {
        currentItem = task.table ?? task.parts[0].part.path;
        // Autocommit per statement, as measured faster on MariaDB 10.11 than one transaction
        // per table (InnoDB's bulk-insert mode for an empty table did not pay off here).
        for (const data of task.parts) await runPart(connection, data.part);
        if (task.table === null) {
          unmapped -= 1;
          if (unmapped === 0) for (const t of deferred.keys()) releaseIfReady(scheduler, t);
        } else {
          loaded.add(task.table);
          releaseIfReady(scheduler, task.table);
        }
      } else {
        currentItem = `${task.table} (${task.what})`;
        report(true);
        checkCancelled();
        await connection.run(task.sql, { file: `${database.folder}/ deferred ${task.what} of ${task.table}`, statement: 1 });
        statements += 1;
        if (task.what === 'indexes') options.onTableReady?.(task.table);
      }
    };
    // CIVIBACKUP_RESTORE_TRACE=1 prints each task's time on stderr (for tuning, not an event).
    const trace = process.env.CIVIBACKUP_RESTORE_TRACE ? (line: string) => process.stderr.write(`restore-trace ${line}\n`) : null;
    const work = async (connection: RestoreConnection, pool: Scheduler): Promise<void> => {
      for (;;) {
        const task = await pool.next();
        if (!task) return;
        const taskStarted = Date.now();
        try {
          await runTask(connection, task);
          trace?.(`${((taskStarted - started) / 1000).toFixed(1)}s +${((Date.now() - taskStarted) / 1000).toFixed(1)}s ${task.kind === 'data' ? `data ${task.table ?? task.parts[0].part.path} ${task.rawBytes}` : `${task.what} ${task.table}`}`);
        } catch (error) {
          firstError ??= error;
          pool.stop();
          return;
        } finally {
          pool.finished();
        }
      }
    };
    mark('schema');
    await Promise.all(connections.map((c) => work(c, scheduler)));
    if (firstError) throw firstError;
    mark('dataAndIndexes');

    const foreignTasks: Task[] = [...deferred.entries()]
      .filter(([, d]) => d.addForeignKeys)
      .map(([table, d]) => ({ kind: 'alter', table, sql: d.addForeignKeys!, what: 'foreign keys' }));
    if (foreignTasks.length > 0) {
      // One connection: adding a foreign key locks the parent table's metadata too, and two
      // such ALTERs on a cycle could deadlock. With FOREIGN_KEY_CHECKS=0 each is quick.
      const fkScheduler = new Scheduler(foreignTasks);
      await work(serial, fkScheduler);
      if (firstError) throw firstError;
    }

    mark('foreignKeys');
    await options.beforeObjects?.();
    for (const part of plan.after) {
      currentItem = part.path;
      await runPart(serial, part);
    }
    mark('objects');
    report(true);
  } catch (error) {
    throw toBackupError(error);
  } finally {
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
  }

  return {
    database: target.database,
    role: database.role,
    parts: plan.all.length,
    statements,
    rawBytes: plan.rawBytes,
    seconds: (Date.now() - started) / 1000,
    timings,
    jobs,
    deferredTables: deferred.size,
    createdDatabase: prepared.created,
    droppedObjects: prepared.dropped,
  };
}
