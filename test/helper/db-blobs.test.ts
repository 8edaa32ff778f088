/**
 * The database in a deduplicated set (format v2), on the real MariaDB and a real repository
 * (repo/repository.ts): the acceptance fixture dumped to blobs restores exactly (every type,
 * binary and NULL values, 8 MB values, generated and invisible columns, routines, triggers,
 * events, views) both as one SQL stream through the mariadb client and as restore pieces
 * through the project's statement executor and through db/restore.ts (tables in parallel,
 * deferred indexes); the SQL is the v1 dump's SQL; an unchanged
 * second dump stores nothing; a row changed, inserted or deleted in a big table stores only
 * the blobs around it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { DatabaseRecordV2 } from '../../ts-src/protocol/manifest.js';
import { BackupError, toBackupError } from '../../ts-src/helper/core/errors.js';
import { createReporter } from '../../ts-src/helper/core/reporter.js';
import { dumpDatabase } from '../../ts-src/helper/db/dump-database.js';
import { DEFAULT_BLOB_CHUNKING, DEFAULT_PUTS_IN_FLIGHT, dumpDatabaseToBlobsDetailed, tableHeading, textBlobs, type BlobDumpResult } from '../../ts-src/helper/db/dump-to-blobs.js';
import { blobRestoreSource, databaseBlobIds, databaseSqlFromBlobs, databaseSqlPieces, type SqlPiece } from '../../ts-src/helper/db/blob-sql.js';
import { listColumns, selectStatement, storedColumns } from '../../ts-src/helper/db/introspect.js';
import { openRestoreConnection, readStatements, type RestoreConnection } from '../../ts-src/helper/db/restore-exec.js';
import { restoreDatabase } from '../../ts-src/helper/db/restore.js';
import { collectRows } from '../../ts-src/helper/db/row-packets.js';
import { TableDigest } from '../../ts-src/helper/db/row-digest.js';
import { openRepository, type BlobWriter, type Repository } from '../../ts-src/helper/repo/repository.js';
import { databaseShape } from './support/compare-db.js';
import { createFixture } from './support/fixture-db.js';
import { createDatabase, dropDatabase, dsnFor, mariadbCli, uniqueName, withRoot } from './support/mariadb.js';

const reporter = createReporter({ mode: 'silent' });
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cbt-db-blobs-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const openRepo = (root: string): Promise<Repository> => openRepository(root, { create: true, compression: 'gzip', level: 6 });

/** One backup run's database part: a writer, the dump, the writer's packs made durable. */
async function dumpOnce(root: string, database: string): Promise<BlobDumpResult & { added: { newBlobs: number; addedBytes: number } }> {
  const repo = await openRepo(root);
  const writer = await repo.writer();
  try {
    const result = await dumpDatabaseToBlobsDetailed({ dsn: dsnFor(database), role: 'main', writer, reporter, excludeData: [], skipCacheData: true });
    await writer.finish();
    return { ...result, added: { ...writer.stats } };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/** Streams `sql` into `mariadb DATABASE`, as a person with plain tools would. */
async function mariadbFrom(sql: AsyncIterable<Buffer>, database: string): Promise<void> {
  const child = spawn('mariadb', ['-h', '127.0.0.1', '-u', 'root', database], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await pipeline(Readable.from(sql), child.stdin);
  const code = await exited;
  assert.equal(code, 0, `mariadb failed: ${stderr}`);
}

/**
 * The scheme of db/restore.ts on the pieces, with its statement executor: the prelude on every
 * connection, the schema, the tables in parallel (each on one connection), the objects.
 */
async function restorePieces(record: DatabaseRecordV2, repo: Repository, database: string): Promise<void> {
  const pieces = databaseSqlPieces(record, repo.reader());
  const prelude: Buffer[] = [];
  for await (const statement of readStatements(pieces.prelude.open())) prelude.push(statement.sql);
  const connections: RestoreConnection[] = [];
  try {
    for (let i = 0; i < 2; i += 1) {
      const connection = await openRestoreConnection(dsnFor(database), database);
      connections.push(connection);
      for (const sql of prelude) await connection.run(sql);
    }
    const run = async (connection: RestoreConnection, piece: SqlPiece): Promise<void> => {
      for await (const statement of readStatements(piece.open())) await connection.run(statement.sql, { file: piece.name, statement: statement.index });
    };
    await run(connections[0], pieces.schema);
    const queue = [...pieces.tables].sort((a, b) => b.rawBytes - a.rawBytes);
    await Promise.all(
      connections.map(async (connection) => {
        for (let piece = queue.shift(); piece; piece = queue.shift()) await run(connection, piece);
      }),
    );
    await run(connections[0], pieces.objects);
  } finally {
    await Promise.all(connections.map((c) => c.close()));
  }
}

async function assertSameDatabase(source: string, target: string, record: DatabaseRecordV2): Promise<void> {
  const expected = await withRoot(source, (c) => databaseShape(c, source, ['civicrm_cache']));
  const restored = await withRoot(target, (c) => databaseShape(c, target, ['civicrm_cache']));
  assert.deepEqual(restored.checksums, expected.checksums);
  assert.deepEqual(Object.keys(restored.creates).sort(), Object.keys(expected.creates).sort());
  for (const key of Object.keys(expected.creates)) assert.deepEqual(restored.creates[key], expected.creates[key], key);
  // The row digests of the record, recomputed from the restored rows (decoded values).
  await withRoot(target, async (connection) => {
    for (const table of record.tables.filter((t) => !t.dataSkipped)) {
      const stored = storedColumns(await listColumns(connection, target, table.name));
      const digest = new TableDigest();
      for (const row of await collectRows(connection, selectStatement(table.name, stored, []), stored.length)) digest.addRow(row);
      assert.equal(digest.rows, table.rows, table.name);
      assert.equal(digest.hex(), table.digest, table.name);
    }
  });
}

async function collect(sql: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of sql) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('the acceptance fixture as blobs', () => {
  const SOURCE = uniqueName('cbt_blobs_src');
  const PLAIN = uniqueName('cbt_blobs_plain');
  const PIECES = uniqueName('cbt_blobs_pieces');
  const RESTORED = uniqueName('cbt_blobs_restored');
  let root: string;
  let first: Awaited<ReturnType<typeof dumpOnce>>;

  before(async () => {
    root = join(dir, 'fixture-repo');
    await createDatabase(SOURCE);
    createFixture(SOURCE);
    first = await dumpOnce(root, SOURCE);
  });
  after(() => {
    for (const name of [SOURCE, PLAIN, PIECES, RESTORED]) dropDatabase(name);
  });

  test('the record keeps the v1 table facts and lists blobs in restore order', () => {
    const { record } = first;
    const table = (name: string) => record.tables.find((t) => t.name === name)!;
    assert.equal(record.role, 'main');
    assert.ok(!('folder' in record));
    assert.deepEqual(table('gen_cols').generatedColumns, ['total_stored', 'total_virtual']);
    assert.equal(table('every_type').rows, 8);
    assert.equal(table('log_myisam').snapshot, false);
    assert.match(table('log_archive').readMode ?? '', /LOCK TABLES/);
    assert.match(table('civicrm_cache').dataSkipped ?? '', /cache/);
    assert.deepEqual(table('civicrm_cache').blobs, []);
    assert.equal(table('empty_table').digest, '0'.repeat(32));
    assert.equal(table('empty_table').blobs.length, 1, 'an empty table keeps its heading blob, as v1 keeps a comment-only part');
    // 8 MB values: several blobs, none above the maximum (a statement of hex is cut by the chain).
    assert.ok(table('big_values').blobs.length >= 8, String(table('big_values').blobs.length));
    assert.equal(record.counts.triggers, 4);
    assert.equal(record.counts.functions, 1);
    assert.equal(record.counts.procedures, 1);
    assert.equal(record.counts.events, 1);
    assert.equal(record.counts.views, 4);
    assert.ok(record.schemaBlobs.length >= 2 && record.objectBlobs.length >= 2);
    assert.equal(first.stats.blobs, databaseBlobIds(record).length);
    assert.equal(first.stats.newBlobs, new Set(databaseBlobIds(record)).size);
    assert.ok(first.added.addedBytes > 0 && first.added.addedBytes < first.stats.rawBytes);
  });

  test('every blob is whole statements at most the maximum size; a table starts with its heading', async () => {
    const repo = await openRepo(root);
    const reader = repo.reader();
    for (const table of first.record.tables) {
      for (const [i, id] of table.blobs.entries()) {
        const blob = await reader.get(id);
        assert.ok(blob.length <= DEFAULT_BLOB_CHUNKING.rowMaxBytes + 200, `${table.name} blob ${i}: ${blob.length}`);
        assert.ok(blob.subarray(-2).toString('latin1') === ';\n' || (i === 0 && blob.equals(tableHeading(table.name))), `${table.name} blob ${i} ends mid-statement`);
        if (i === 0) assert.ok(blob.subarray(0, tableHeading(table.name).length).equals(tableHeading(table.name)));
      }
    }
  });

  test('the SQL is the v1 dump SQL: schema and objects byte for byte, the same rows in the same order', async () => {
    const setDir = join(dir, 'v1-set');
    // Same statement limit as the blobs (1 MiB), so large-row chains are cut alike.
    await dumpDatabase({
      dsn: dsnFor(SOURCE),
      role: 'main',
      folder: 'db',
      setDir,
      codec: { compression: 'none', level: 0 },
      reporter,
      excludeData: [],
      skipCacheData: true,
      statementBytes: DEFAULT_BLOB_CHUNKING.rowMaxBytes,
    });
    const v1 = (name: string): Buffer => readFileSync(join(setDir, 'db', name));
    const pieces = databaseSqlPieces(first.record, (await openRepo(root)).reader());
    assert.deepEqual(await collect(pieces.prelude.sql()), v1('000-prelude.sql'));
    assert.deepEqual(await collect(pieces.schema.sql()), v1('100-schema.sql'));
    const objects = Buffer.concat(['750-routines.sql', '800-views.sql', '900-triggers-events.sql', '999-postlude.sql'].map(v1));
    assert.deepEqual(await collect(pieces.objects.sql()), objects);
    // Rows: statement ends differ by design (content-defined vs size), nothing else may.
    const rowsOnly = (sql: string): string => sql.replace(/^-- CiviBackup: rows of table[^\n]*\n/, '').replace(/\);\nINSERT INTO [^\n]* VALUES\n\(/g, '),\n(');
    const files = readdirSync(join(setDir, 'db'));
    for (const piece of pieces.tables) {
      const base = piece.name.slice('db/'.length, -'.sql'.length);
      const parts = files.filter((f) => f === `${base}.sql` || f.startsWith(`${base}.0`)).sort();
      assert.ok(parts.length > 0, piece.name);
      const expected = Buffer.concat(parts.map(v1)).toString('latin1');
      assert.equal(rowsOnly((await collect(piece.sql())).toString('latin1')), rowsOnly(expected), piece.name);
    }
  });

  test('the whole stream restores exactly through the mariadb client', async () => {
    await createDatabase(PLAIN);
    await mariadbFrom(databaseSqlFromBlobs(first.record, (await openRepo(root)).reader()), PLAIN);
    await assertSameDatabase(SOURCE, PLAIN, first.record);
  });

  test('the pieces restore exactly through the restore executor, tables in parallel', async () => {
    await createDatabase(PIECES);
    await restorePieces(first.record, await openRepo(root), PIECES);
    await assertSameDatabase(SOURCE, PIECES, first.record);
  });

  test('the database restores exactly through db/restore.ts from blobRestoreSource (tables in parallel, indexes deferred)', async () => {
    const { database, source } = blobRestoreSource(first.record, (await openRepo(root)).reader());
    assert.deepEqual(
      source.plan.data.map((d) => d.table),
      first.record.tables.filter((t) => t.blobs.length > 0).map((t) => t.name),
    );
    const result = await restoreDatabase({ database, source, target: dsnFor(RESTORED), force: false, jobs: 2, reporter });
    assert.equal(result.createdDatabase, true);
    assert.ok(result.deferredTables > 0);
    assert.equal(result.rawBytes, first.stats.rawBytes);
    await assertSameDatabase(SOURCE, RESTORED, first.record);
  });

  test('memory stays bounded: at most DEFAULT_PUTS_IN_FLIGHT blobs are being stored at once, 8 MB values included', async () => {
    const repo = await openRepo(join(dir, 'bounded-repo'));
    const real = await repo.writer();
    let running = 0;
    let most = 0;
    let largest = 0;
    // A spy around the real writer: counts the puts running at once and the largest blob.
    const spy: BlobWriter = {
      idOf: (content) => real.idOf(content),
      has: (id) => real.has(id),
      get stats() {
        return real.stats;
      },
      finish: () => real.finish(),
      abort: () => real.abort(),
      put: async (content, options) => {
        running += 1;
        most = Math.max(most, running);
        largest = Math.max(largest, content.length);
        try {
          return await real.put(content, options);
        } finally {
          running -= 1;
        }
      },
    };
    const result = await dumpDatabaseToBlobsDetailed({ dsn: dsnFor(SOURCE), role: 'main', writer: spy, reporter, excludeData: [], skipCacheData: true });
    await real.finish();
    assert.deepEqual(result.record, first.record);
    assert.ok(most >= 2, `puts overlap (${most})`);
    assert.ok(most <= DEFAULT_PUTS_IN_FLIGHT, `${most} puts at once`);
    assert.ok(largest <= DEFAULT_BLOB_CHUNKING.rowMaxBytes + 200, `largest blob ${largest}`);
  });

  test('an unchanged second dump stores nothing and lists the same blobs', async () => {
    const second = await dumpOnce(root, SOURCE);
    assert.deepEqual(second.record, first.record);
    assert.equal(second.stats.newBlobs, 0);
    assert.equal(second.added.newBlobs, 0);
    assert.equal(second.added.addedBytes, 0);
    assert.equal(second.stats.reusedRawBytes, first.stats.rawBytes);
  });
});

describe('a big table changes by a few blobs', () => {
  const SOURCE = uniqueName('cbt_blobs_big');
  let root: string;
  const bigBlobs = (result: BlobDumpResult): string[] => result.record.tables.find((t) => t.name === 'big')!.blobs;

  before(async () => {
    root = join(dir, 'big-repo');
    await createDatabase(SOURCE);
    // ~14 MB of SQL in 40,000 rows of varied text (ids with gaps, so rows can be inserted between).
    mariadbCli(
      `CREATE TABLE big (id INT PRIMARY KEY, contact_id INT, note TEXT, amount DECIMAL(12,2), at DATETIME) ENGINE=InnoDB;
       INSERT INTO big SELECT seq * 2, seq % 977, CONCAT(REPEAT(CONCAT(MD5(seq), ' note '), 1 + seq % 15), ' ', seq), seq / 7, '2020-01-01' + INTERVAL seq MINUTE FROM seq_1_to_40000;
       CREATE TABLE small (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB; INSERT INTO small VALUES (1, 'one');`,
      SOURCE,
    );
  });
  after(() => dropDatabase(SOURCE));

  test('unchanged: nothing stored; one row updated, inserted or deleted: only the blobs around it', async () => {
    const full = await dumpOnce(root, SOURCE);
    const blobs = bigBlobs(full);
    const tableBytes = full.record.tables.find((t) => t.name === 'big')!;
    assert.ok(blobs.length >= 12, `${blobs.length} blobs`);
    assert.ok(full.stats.rawBytes > 10 * 1024 * 1024, String(full.stats.rawBytes));
    assert.equal(tableBytes.rows, 40000);

    const unchanged = await dumpOnce(root, SOURCE);
    assert.deepEqual(unchanged.record, full.record);
    assert.equal(unchanged.added.newBlobs, 0);
    assert.equal(unchanged.added.addedBytes, 0);

    const changedBlobs = (before: string[], now: string[]): number => now.filter((id) => !before.includes(id)).length;
    mariadbCli("UPDATE big SET note = CONCAT(note, ' changed') WHERE id = 40000;", SOURCE);
    const updated = await dumpOnce(root, SOURCE);
    assert.equal(updated.record.tables.find((t) => t.name === 'big')!.rows, 40000);
    assert.notEqual(updated.record.tables.find((t) => t.name === 'big')!.digest, tableBytes.digest);
    const updatedChanged = changedBlobs(blobs, bigBlobs(updated));
    assert.ok(updatedChanged >= 1 && updatedChanged <= 2, `an update changed ${updatedChanged} blobs`);
    assert.equal(updated.added.newBlobs, updatedChanged, 'only the changed blobs of big are new (schema and small unchanged)');
    assert.ok(updated.stats.newRawBytes < full.stats.rawBytes * 0.1, `${updated.stats.newRawBytes} of ${full.stats.rawBytes} bytes new`);
    assert.ok(updated.added.addedBytes < full.added.addedBytes * 0.1, `${updated.added.addedBytes} of ${full.added.addedBytes} stored bytes added`);

    mariadbCli("INSERT INTO big VALUES (20001, 1, 'inserted between two rows', 1.00, '2021-01-01'); DELETE FROM big WHERE id = 60000;", SOURCE);
    const edited = await dumpOnce(root, SOURCE);
    const editedChanged = changedBlobs(bigBlobs(updated), bigBlobs(edited));
    assert.ok(editedChanged >= 2 && editedChanged <= 4, `an insert and a delete changed ${editedChanged} blobs`);
    assert.ok(Math.abs(bigBlobs(edited).length - blobs.length) <= 2);
  });
  test('a full disk fails the dump with DISK_FULL, without hanging, and abort leaves no temp pack', async (t) => {
    const mountPoint = join(dir, 'tmpfs');
    mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
    } catch (error) {
      t.skip(`cannot mount a tmpfs here (needs root): ${(error as Error).message}`);
      return;
    }
    try {
      const repo = await openRepository(mountPoint, { create: true, compression: 'none', level: 0 });
      const writer = await repo.writer();
      await assert.rejects(
        dumpDatabaseToBlobsDetailed({ dsn: dsnFor(SOURCE), role: 'main', writer, reporter, excludeData: [], skipCacheData: true }),
        (error: unknown) => toBackupError(error).code === 'DISK_FULL',
      );
      await writer.abort();
      assert.deepEqual(readdirSync(join(mountPoint, 'tmp')), []);
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });

  test('a cancelled dump stops within a blob with CANCELLED', async () => {
    const controller = new AbortController();
    const watching = createReporter({
      mode: 'silent',
      progressIntervalMs: 0,
      onEvent: (event) => {
        if (event.type === 'progress' && event.item === 'big' && (event.rows ?? 0) > 0) controller.abort();
      },
    });
    const repo = await openRepo(join(dir, 'cancel-repo'));
    const writer = await repo.writer();
    await assert.rejects(
      dumpDatabaseToBlobsDetailed({ dsn: dsnFor(SOURCE), role: 'main', writer, reporter: watching, signal: controller.signal, excludeData: [], skipCacheData: true }),
      (error: unknown) => error instanceof BackupError && error.code === 'CANCELLED',
    );
    await writer.abort();
  });
});

test('text is cut at content-defined line ends: a change in one line changes one blob', () => {
  const chunking = { textTargetBytes: 4096, textMinBytes: 1024, textMaxBytes: 16384 };
  const lines = Array.from({ length: 2000 }, (_v, i) => `CREATE TABLE t${i} (id INT) AUTO_INCREMENT=${i * 7};\n`);
  const before = textBlobs(Buffer.from(lines.join('')), chunking);
  assert.equal(Buffer.concat(before).toString(), lines.join(''));
  assert.ok(before.length >= 5, String(before.length));
  for (const blob of before) assert.ok(blob.length <= chunking.textMaxBytes);
  lines[1000] = 'CREATE TABLE t1000 (id INT) AUTO_INCREMENT=99999;\n';
  const after = textBlobs(Buffer.from(lines.join('')), chunking);
  const old = new Set(before.map((b) => b.toString('latin1')));
  assert.equal(after.filter((b) => !old.has(b.toString('latin1'))).length, 1);
  // A line longer than a blob is cut at the maximum; nothing is lost.
  const long = Buffer.from(`${'x'.repeat(40000)}\nshort\n`);
  const cut = textBlobs(long, chunking);
  assert.equal(Buffer.concat(cut).toString(), long.toString());
  for (const blob of cut) assert.ok(blob.length <= chunking.textMaxBytes);
  assert.deepEqual(textBlobs(Buffer.alloc(0), chunking), []);
});
