/**
 * The restore over a live database, as a site sees it: how long the restore takes, and how
 * long a reader polling the live database on its own connection had no valid answer.
 *
 * A "live" copy of the bench database is made (restored from the helper's set, then changed
 * so the old and the new data differ), a reader polls it as fast as it can with one
 * statement over three tables (row counts of civicrm_contact and civicrm_email and the
 * highest contact id), and the helper restores the set over it, atomically (staging
 * database, one RENAME TABLE) or --in-place (drop, then load: what every restore did before).
 *
 * An answer is valid when it is exactly the old or exactly the new data. The unavailable
 * window is the longest time between two valid answers: a reader blocked by a lock, or
 * answered with a missing, empty or half-loaded table, is counted as unavailable all along.
 * With nothing happening it is about one poll (tens of milliseconds at scale 1).
 *
 * `npm run bench` measures it with everything else; alone (it generates or reuses the bench
 * database, backs it up with the helper, then restores over a live copy both ways):
 *
 *   npx tsx bench/restore-window.ts [--scale 1] [--dsn mysql://root@127.0.0.1:3306] [--work /tmp/civibackup-window] [--helper dist/civibackup.mjs]
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { createSampleDatabase, DEFAULT_DSN, parseDsn } from './civicrm-sample.js';
import { measureShell, newestSetPath, sh } from './measure.js';
import type { Measurement } from './report.js';

export interface WindowResult {
  /** Longest time between two valid answers, ms. */
  unavailableMs: number;
  polls: number;
  /** Answers that were neither the old nor the new data (empty, partial) or errors (missing). */
  invalid: number;
  /** Median time of one poll, ms (what the window is when nothing is in the way). */
  medianPollMs: number;
  /** A few of the invalid answers, for the report. */
  examples: string[];
}

const q = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

export async function observe(connection: mysql.Connection, database: string): Promise<string> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM ${q(database)}.civicrm_contact) AS contacts, (SELECT COUNT(*) FROM ${q(database)}.civicrm_email) AS emails, (SELECT MAX(id) FROM ${q(database)}.civicrm_contact) AS maxId`,
  );
  const r = rows[0]!;
  return `contacts ${r.contacts}, emails ${r.emails}, max id ${r.maxId}`;
}

/** Changes a live copy so that its data differs from the set's (every 50th contact and its e-mails gone). */
export async function divergeLiveCopy(connection: mysql.Connection, database: string): Promise<void> {
  await connection.query('SET SESSION foreign_key_checks = 0');
  await connection.query(`DELETE FROM ${q(database)}.civicrm_email WHERE contact_id % 50 = 0`);
  await connection.query(`DELETE FROM ${q(database)}.civicrm_contact WHERE id % 50 = 0`);
  await connection.query('SET SESSION foreign_key_checks = 1');
}

/** Polls `database` until `during` settles; returns the window. */
export async function pollDuring(options: { connection: mysql.ConnectionOptions; database: string; valid: Set<string>; during: () => Promise<unknown> }): Promise<WindowResult> {
  const reader = await mysql.createConnection(options.connection);
  let stopped = false;
  const durations: number[] = [];
  const examples: string[] = [];
  let invalid = 0;
  let lastValid = Date.now();
  let unavailableMs = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      let answer: string;
      try {
        answer = await observe(reader, options.database);
      } catch (error) {
        answer = `error: ${(error as Error).message}`;
      }
      const now = Date.now();
      durations.push(now - started);
      if (options.valid.has(answer)) {
        unavailableMs = Math.max(unavailableMs, now - lastValid);
        lastValid = now;
      } else {
        invalid += 1;
        if (examples.length < 3 && !examples.includes(answer)) examples.push(answer);
      }
    }
  })();
  try {
    await options.during();
  } finally {
    stopped = true;
    await loop;
    await reader.end();
  }
  // Still invalid at the end (e.g. a failed restore): the window runs to the end.
  unavailableMs = Math.max(unavailableMs, Date.now() - lastValid);
  durations.sort((a, b) => a - b);
  return { unavailableMs, polls: durations.length, invalid, medianPollMs: durations[Math.floor(durations.length / 2)] ?? 0, examples };
}

export interface LiveRestoreOptions {
  conn: mysql.Connection;
  connection: mysql.ConnectionOptions;
  /** The bench database (the set's source: its data is the "new" data). */
  database: string;
  /** The live copy's name. */
  live: string;
  set: string;
  helper: string;
  dsnFor: (database: string) => string;
  env: NodeJS.ProcessEnv;
  work: string;
  sourceChecksums: () => Promise<Record<string, string>>;
  checksums: (database: string) => Promise<Record<string, string>>;
  /** Runs and records one measured command. */
  run: (id: string, tool: string, script: string) => Promise<Measurement>;
  notes: string[];
  log: (line: string) => void;
}

/** The swap's own figures from the helper's result event (the .ndjson the bench keeps), if any. */
async function swapTimings(ndjson: string): Promise<{ swapMs: number; triggerGapMs: number } | null> {
  const text = await readFile(ndjson, 'utf8').catch(() => '');
  const result = text
    .split('\n')
    .filter((line) => line.includes('"type":"result"'))
    .map((line) => JSON.parse(line) as { summary?: { databases?: Array<{ swapMs?: number; triggerGapMs?: number }> } })
    .at(-1);
  const database = result?.summary?.databases?.[0];
  return database?.swapMs !== undefined && database.triggerGapMs !== undefined ? { swapMs: database.swapMs, triggerGapMs: database.triggerGapMs } : null;
}

/** Restores the set over a live copy, atomically and --in-place, each with a polling reader. */
export async function measureLiveRestores(options: LiveRestoreOptions): Promise<Measurement[]> {
  const { conn, live, helper, log, notes } = options;
  const newState = await observe(conn, options.database);
  const sourceChecksums = await options.sourceChecksums();
  const modes: Array<[string, string, string]> = [
    ['helper-restore-live', 'civibackup restore --force (atomic: staging database, one RENAME TABLE), over a live copy', '--force'],
    ['helper-restore-inplace', 'civibackup restore --force --in-place (drop, then load: how every restore over a live database worked before), over a live copy', '--force --in-place'],
  ];
  const out: Measurement[] = [];
  for (const [id, tool, flags] of modes) {
    await conn.query(`DROP DATABASE IF EXISTS ${q(live)}`);
    const prepared = await measureShell(`${sh(process.execPath)} ${sh(helper)} restore ${sh(options.set)} --db ${sh(options.dsnFor(live))} --json`, { env: options.env, cwd: options.work });
    if (prepared.exitCode !== 0) {
      notes.push(`${tool}: the live copy could not be made (exit ${prepared.exitCode}).`);
      continue;
    }
    await divergeLiveCopy(conn, live);
    const oldState = await observe(conn, live);
    let measured: Measurement | undefined;
    const window = await pollDuring({
      connection: options.connection,
      database: live,
      valid: new Set([oldState, newState]),
      during: async () => {
        measured = await options.run(id, tool, `${sh(process.execPath)} ${sh(helper)} restore ${sh(options.set)} --db ${sh(options.dsnFor(live))} ${flags} --json`);
      },
    });
    if (!measured) continue;
    measured.unavailableMs = window.unavailableMs;
    const swap = await swapTimings(join(options.work, `${id}.ndjson`));
    const restored = await options.checksums(live);
    const mismatched = Object.keys(sourceChecksums).filter((t) => restored[t] !== sourceChecksums[t]);
    measured.check =
      `unavailable ${(window.unavailableMs / 1000).toFixed(2)} s (${window.polls} polls, median ${window.medianPollMs} ms, ${window.invalid} missing/empty/partial answers)` +
      (swap ? `, RENAME TABLE ${swap.swapMs} ms, trigger gap ${swap.triggerGapMs} ms` : '') +
      '; ' +
      (mismatched.length === 0 ? `all ${Object.keys(sourceChecksums).length} tables match` : `${mismatched.length} tables differ: ${mismatched.slice(0, 6).join(', ')}`);
    if (window.examples.length > 0) measured.note = `the reader saw e.g. ${window.examples.join(' | ').slice(0, 300)}`;
    log(`restore over a live copy (${flags}): ${measured.seconds.toFixed(1)} s, unavailable ${window.unavailableMs} ms, ${window.invalid} invalid answers of ${window.polls}`);
    out.push(measured);
  }
  const atomic = out.find((m) => m.id === 'helper-restore-live');
  const inPlace = out.find((m) => m.id === 'helper-restore-inplace');
  if (atomic?.unavailableMs !== undefined && inPlace?.unavailableMs !== undefined) {
    notes.push(
      `Restore over a live database (a reader polling it): atomic ${atomic.seconds.toFixed(1)} s, unavailable ${(atomic.unavailableMs / 1000).toFixed(2)} s (readers wait for the RENAME TABLE; never a missing or partial answer); --in-place ${inPlace.seconds.toFixed(1)} s, unavailable ${(inPlace.unavailableMs / 1000).toFixed(2)} s (empty, then partly loaded tables).`,
    );
  }
  await conn.query(`DROP DATABASE IF EXISTS ${q(live)}`);
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      dsn: { type: 'string', default: process.env.CIVIBACKUP_BENCH_DSN ?? DEFAULT_DSN },
      work: { type: 'string', default: '/tmp/civibackup-window' },
      helper: { type: 'string', default: fileURLToPath(new URL('../dist/civibackup.mjs', import.meta.url)) },
    },
  });
  const log = (line: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const scale = Number(values.scale);
  const database = `cbbench_s${String(scale).replace(/[^0-9a-z]/gi, '_')}`;
  const server = parseDsn(values.dsn!);
  const dsnFor = (db: string): string => `${values.dsn!.replace(/\/+$/, '')}/${db}`;
  const env: NodeJS.ProcessEnv = { ...process.env, CIVIBACKUP_DSN: dsnFor(database) };
  delete env.CIVIBACKUP_RUN_ID;
  const work = resolve(values.work!);
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'sets'), { recursive: true });
  await createSampleDatabase({ dsn: values.dsn, database, scale, log });
  const backup = await measureShell(`${sh(process.execPath)} ${sh(values.helper!)} backup --to ${sh(join(work, 'sets'))} --no-skip-cache-data --json`, { env, cwd: work });
  if (backup.exitCode !== 0) throw new Error(`the helper backup failed (exit ${backup.exitCode}): ${(backup.stderr || backup.stdout).slice(-400)}`);
  const set = await newestSetPath(join(work, 'sets'));
  if (!set) throw new Error(`the helper backup left no set in ${join(work, 'sets')}`);
  const conn = await mysql.createConnection({ ...server, charset: 'utf8mb4_unicode_ci' });
  const notes: string[] = [];
  try {
    const { checksums } = await import('./run.js');
    const measured = await measureLiveRestores({
      conn,
      connection: { ...server, charset: 'utf8mb4_unicode_ci' },
      database,
      live: `${database}_window`.slice(0, 56),
      set,
      helper: values.helper!,
      dsnFor,
      env,
      work,
      sourceChecksums: () => checksums(conn, database),
      checksums: (db) => checksums(conn, db),
      run: async (id, tool, script) => {
        log(`${tool} ...`);
        const result = await measureShell(script, { env, cwd: work });
        await writeFile(join(work, `${id}.ndjson`), result.stdout);
        return { id, phase: 'restore', tool, command: script, seconds: result.seconds, peakRssMiB: result.peakRssMiB, treeRssMiB: result.treeRssMiB, cpuSeconds: result.cpuSeconds, ok: result.exitCode === 0 };
      },
      notes,
      log,
    });
    for (const m of measured) process.stdout.write(`${m.tool}: ${m.ok ? 'ok' : 'FAILED'} ${m.seconds.toFixed(1)} s; ${m.check ?? ''}${m.note ? ` (${m.note})` : ''}\n`);
    for (const note of notes) process.stdout.write(`${note}\n`);
  } finally {
    await conn.end();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`restore-window: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
