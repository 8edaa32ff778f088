/**
 * The database part of a deduplicated backup (issue #14), on the bench database
 * (bench/civicrm-sample.ts): wall time, CPU time and bytes added of
 *   1. the v1 full dump (dumpDatabase: part files, gzip),
 *   2. the v2 first dump into an empty repository (dumpDatabaseToBlobs: every blob new),
 *   3. the v2 dump with nothing changed (every blob found by id: no compression),
 *   4. the v2 dump after a day's worth of small changes (a few rows updated and inserted).
 * All in this process, one after the other, measured with process.cpuUsage() (user + system
 * of every thread: the connection, the encoder, zlib's thread pool) and the bytes the run
 * added under the destination (packs and index files; the v1 set's parts).
 *
 *   npx tsx bench/db-dedup.ts [--scale 1] [--dsn mysql://root@127.0.0.1:3306] [--level 6] [--work DIR] [--keep]
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { createReporter } from '../ts-src/helper/core/reporter.js';
import { dumpDatabase } from '../ts-src/helper/db/dump-database.js';
import { dumpDatabaseToBlobsDetailed, type BlobDumpStats } from '../ts-src/helper/db/dump-to-blobs.js';
import { parseDsn as parseHelperDsn } from '../ts-src/helper/db/dsn.js';
import { openRepository } from '../ts-src/helper/repo/repository.js';
import { createSampleDatabase, DEFAULT_DSN, parseDsn } from './civicrm-sample.js';
import { directoryBytes } from './measure.js';

export interface DbDedupRow {
  what: string;
  seconds: number;
  cpuSeconds: number;
  addedBytes: number;
  /** Uncompressed SQL the run read and encoded. */
  rawBytes: number;
  blobs?: BlobDumpStats;
}

async function measured<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const value = await body();
  const used = process.cpuUsage(cpu);
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9, cpuSeconds: (used.user + used.system) / 1e6 };
}

export async function runDbDedupBench(options: { scale: number; dsn: string; level: number; work: string; log: (line: string) => void }): Promise<DbDedupRow[]> {
  const { log } = options;
  const database = `cbbench_s${String(options.scale).replace(/[^0-9a-z]/gi, '_')}`;
  await createSampleDatabase({ dsn: options.dsn, database, scale: options.scale, log });
  const dsn = parseHelperDsn(`${options.dsn.replace(/\/+$/, '')}/${database}`);
  const reporter = createReporter({ mode: 'silent' });
  await rm(options.work, { recursive: true, force: true });
  await mkdir(options.work, { recursive: true });
  const rows: DbDedupRow[] = [];
  const common = { dsn, role: 'main' as const, reporter, excludeData: [], skipCacheData: true };

  log('v1 full dump ...');
  const setDir = join(options.work, 'v1-set');
  const v1 = await measured(() => dumpDatabase({ ...common, folder: 'db', setDir, codec: { compression: 'gzip', level: options.level } }));
  rows.push({ what: 'v1 full dump (part files)', seconds: v1.seconds, cpuSeconds: v1.cpuSeconds, addedBytes: await directoryBytes(setDir), rawBytes: v1.value.parts.reduce((sum, p) => sum + (p.rawBytes ?? 0), 0) });

  const root = join(options.work, 'repo');
  const v2 = async (what: string): Promise<void> => {
    log(`${what} ...`);
    const before = await directoryBytes(root);
    const run = await measured(async () => {
      const repo = await openRepository(root, { create: true, compression: 'gzip', level: options.level });
      const writer = await repo.writer();
      const result = await dumpDatabaseToBlobsDetailed({ ...common, writer });
      await writer.finish();
      return result;
    });
    rows.push({ what, seconds: run.seconds, cpuSeconds: run.cpuSeconds, addedBytes: (await directoryBytes(root)) - before, rawBytes: run.value.stats.rawBytes, blobs: run.value.stats });
  };
  await v2('v2 first dump (empty repository)');
  await v2('v2 unchanged re-run');

  // A day's worth of change: some contacts edited, activities added (the big tables). Undone
  // afterwards (row values; AUTO_INCREMENT and modified_date stay moved), so run.ts keeps
  // reusing the sample.
  const connection = await mysql.createConnection({ ...parseDsn(options.dsn), database });
  try {
    const [saved] = await connection.query<mysql.RowDataPacket[]>('SELECT id, nick_name FROM civicrm_contact WHERE id % 1000 = 7');
    const [[{ maxId }]] = await connection.query<mysql.RowDataPacket[]>('SELECT COALESCE(MAX(id), 0) AS maxId FROM civicrm_activity');
    try {
      await connection.query("UPDATE civicrm_contact SET nick_name = 'changed' WHERE id % 1000 = 7");
      await connection.query(
        "INSERT INTO civicrm_activity (activity_type_id, subject, activity_date_time, status_id, priority_id, is_test, is_auto, is_current_revision, is_deleted) SELECT activity_type_id, CONCAT(subject, ' (copy)'), NOW(), status_id, priority_id, is_test, is_auto, is_current_revision, is_deleted FROM civicrm_activity ORDER BY id LIMIT 100",
      );
      await v2(`v2 after ${saved.length} contacts changed, 100 activities added`);
    } finally {
      for (const row of saved) await connection.query('UPDATE civicrm_contact SET nick_name = ? WHERE id = ?', [row.nick_name, row.id]);
      await connection.query('DELETE FROM civicrm_activity WHERE id > ?', [maxId]);
    }
  } finally {
    await connection.end();
  }
  return rows;
}

export function renderDbDedup(rows: DbDedupRow[]): string {
  const mib = (n: number): string => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
  const full = rows[0];
  const lines = [
    '| run | wall | CPU | CPU vs v1 full | bytes added | SQL read | blobs (new / reused) |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.what} | ${r.seconds.toFixed(1)} s | ${r.cpuSeconds.toFixed(1)} s | ${((r.cpuSeconds / full.cpuSeconds) * 100).toFixed(0)} % | ${mib(r.addedBytes)} | ${mib(r.rawBytes)} | ${
          r.blobs ? `${r.blobs.newBlobs} / ${r.blobs.reusedBlobs}` : ''
        } |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      dsn: { type: 'string', default: DEFAULT_DSN },
      level: { type: 'string', default: '6' },
      work: { type: 'string', default: join(tmpdir(), 'civibackup-db-dedup') },
      keep: { type: 'boolean', default: false },
    },
  });
  const work = values.work!;
  try {
    const rows = await runDbDedupBench({ scale: Number(values.scale), dsn: values.dsn!, level: Number(values.level), work, log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`database, deduplicated sets (scale ${values.scale}, gzip -${values.level}):\n${renderDbDedup(rows)}\n`);
  } finally {
    if (!values.keep) await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
