/**
 * Where the dump's main-thread time goes, per row, without the noise of a whole backup:
 * reads rows of one table of the sample database once (as the dump reads them: mysql2, text
 * protocol, typeCast off), then times the dump's own pieces on them in memory (CPU time,
 * best of 3), next to prototypes of cheaper ways to do the same work.
 *
 *   npx tsx bench/row-encoding.ts [--database cbbench_s1] [--table civicrm_contribution] [--rows 200000]
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeConnection, openConnection } from '../ts-src/helper/db/connection.js';
import { insertStatements, readRowBatches } from '../ts-src/helper/db/dump-table.js';
import { parseDsn } from '../ts-src/helper/db/dsn.js';
import { listColumns, primaryKey, selectStatement, storedColumns, type ColumnInfo } from '../ts-src/helper/db/introspect.js';
import { TableDigest } from '../ts-src/helper/db/row-digest.js';
import type { ValueKind } from '../ts-src/helper/db/sql-literal.js';

type Row = (Buffer | null)[];

export interface EncodingTiming {
  label: string;
  microsPerRow: number;
}

/** The rows in batches of 256, as readRowBatches() hands them to insertStatements(). */
async function* fromArray(rows: Row[]): AsyncGenerator<Row[]> {
  for (let i = 0; i < rows.length; i += 256) yield rows.slice(i, i + 256);
}

/** A digest that does nothing, to time the statement building alone. */
class NoDigest extends TableDigest {
  override addRow(): void {}
}

const ESCAPE = new Int16Array(256).fill(-1);
ESCAPE[0x00] = 0x30;
ESCAPE[0x0a] = 0x6e;
ESCAPE[0x0d] = 0x72;
ESCAPE[0x1a] = 0x5a;
ESCAPE[0x27] = 0x27;
ESCAPE[0x5c] = 0x5c;

/**
 * Prototype: statements written straight into one reusable buffer (no Buffer per value, no
 * literal arrays, no Buffer.concat); one copy per finished statement.
 */
export function* directStatements(rows: Iterable<Row>, header: Buffer, kinds: ValueKind[], limit: number): Generator<Buffer> {
  let buf = Buffer.allocUnsafe(limit + 64);
  let o = 0;
  const ensure = (n: number) => {
    if (o + n > buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, o + n));
      buf.copy(bigger, 0, 0, o);
      buf = bigger;
    }
  };
  for (const row of rows) {
    const rowStart = o;
    if (o === 0) {
      ensure(header.length);
      o += header.copy(buf, o);
    } else {
      buf[o++] = 0x2c;
      buf[o++] = 0x0a;
    }
    ensure(2);
    buf[o++] = 0x28;
    for (let i = 0; i < row.length; i += 1) {
      if (i > 0) buf[o++] = 0x2c;
      const v = row[i];
      if (v === null) {
        ensure(5);
        o += buf.write('NULL', o, 'latin1');
        continue;
      }
      const kind = kinds[i];
      if (kind === 'number') {
        ensure(v.length + 1);
        o += v.copy(buf, o);
      } else if (kind === 'binary') {
        ensure(v.length * 2 + 3);
        if (v.length === 0) {
          buf[o++] = 0x27;
          buf[o++] = 0x27;
        } else {
          buf[o++] = 0x30;
          buf[o++] = 0x78;
          o += buf.write(v.toString('hex'), o, 'latin1');
        }
      } else {
        ensure(v.length * 2 + 3);
        buf[o++] = 0x27;
        for (let j = 0; j < v.length; j += 1) {
          const b = v[j]!;
          const e = ESCAPE[b]!;
          if (e < 0) buf[o++] = b;
          else {
            buf[o++] = 0x5c;
            buf[o++] = e;
          }
        }
        buf[o++] = 0x27;
      }
    }
    ensure(3);
    buf[o++] = 0x29;
    if (o + 2 > limit && rowStart > 0) {
      // This row overflows: emit the statement without it, start the next one with it.
      const rowBytes = Buffer.from(buf.subarray(rowStart + 2, o));
      const statement = Buffer.allocUnsafe(rowStart + 2);
      buf.copy(statement, 0, 0, rowStart);
      statement[rowStart] = 0x3b;
      statement[rowStart + 1] = 0x0a;
      yield statement;
      o = header.copy(buf, 0);
      o += rowBytes.copy(buf, o);
    }
  }
  if (o > 0) {
    ensure(2);
    buf[o++] = 0x3b;
    buf[o++] = 0x0a;
    yield Buffer.from(buf.subarray(0, o));
  }
}

async function cpuMicros(rows: number, work: () => Promise<void> | void): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i += 1) {
    const before = process.cpuUsage();
    await work();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / rows);
  }
  return best;
}

export async function measureRowEncoding(dsnText: string, table: string, limitRows: number): Promise<{ rows: number; bytes: number; timings: EncodingTiming[] }> {
  const dsn = parseDsn(dsnText);
  const connection = await openConnection(dsn);
  try {
    const columns: ColumnInfo[] = await listColumns(connection, dsn.database, table);
    const stored = storedColumns(columns);
    const pk = await primaryKey(connection, dsn.database, table);
    const sql = selectStatement(table, stored, pk) + ` LIMIT ${limitRows}`;
    const rows: Row[] = [];
    const readMicros = await cpuMicros(1, async () => {
      rows.length = 0;
      for await (const batch of readRowBatches(connection, sql)) for (const row of batch) rows.push(row);
    });
    const n = rows.length;
    const timings: EncodingTiming[] = [{ label: 'read rows into an array (engine: readRowBatches; first, cold run)', microsPerRow: readMicros / n }];
    // The former engine path, for comparison: mysql2's object-mode stream, one promise per row.
    const streamMicros = await cpuMicros(n, async () => {
      let count = 0;
      for await (const row of connection.query({ sql, rowsAsArray: true, typeCast: false }).stream({ highWaterMark: 64 }) as AsyncIterable<Row>) if (row) count += 1;
      if (count !== n) throw new Error(`read ${count} rows, expected ${n}`);
    });
    timings.push({ label: 'read rows (mysql2 query().stream(), for await per row: the former engine path)', microsPerRow: streamMicros });
    const batchMicros = await cpuMicros(n, async () => {
      let count = 0;
      for await (const batch of readRowBatches(connection, sql)) count += batch.length;
      if (count !== n) throw new Error(`read ${count} rows, expected ${n}`);
    });
    timings.push({ label: 'read rows (engine: readRowBatches, counting only, warm)', microsPerRow: batchMicros });
    // The same rows through the query's 'result' events: no object-mode stream, no promise per row.
    const eventMicros = await cpuMicros(n, async () => {
      let count = 0;
      await new Promise<void>((resolve, reject) => {
        connection
          .query({ sql, rowsAsArray: true, typeCast: false })
          .on('result', () => {
            count += 1;
          })
          .on('error', reject)
          .on('end', () => resolve());
      });
      if (count !== n) throw new Error(`read ${count} rows, expected ${n}`);
    });
    timings.push({ label: "read rows (mysql2 'result' events, typeCast off)", microsPerRow: eventMicros });
    const rawMicros = await cpuMicros(n, async () => {
      await new Promise<void>((resolve, reject) => {
        connection.query({ sql: sql.replace(/^SELECT .* FROM/s, 'SELECT 1 FROM') }).on('error', reject).on('end', () => resolve());
      });
    });
    timings.push({ label: "read the same number of one-column rows ('SELECT 1', events): protocol floor", microsPerRow: rawMicros });
    let bytes = 0;
    const engine = async (digest: TableDigest) => {
      bytes = 0;
      for await (const s of insertStatements(fromArray(rows), table, columns, 1024 * 1024, digest)) bytes += s.length;
    };
    timings.push({ label: 'engine: insertStatements + TableDigest', microsPerRow: await cpuMicros(n, () => engine(new TableDigest())) });
    timings.push({ label: 'engine: insertStatements only (digest off)', microsPerRow: await cpuMicros(n, () => engine(new NoDigest())) });
    timings.push({
      label: 'engine: TableDigest.addRow only',
      microsPerRow: await cpuMicros(n, () => {
        const d = new TableDigest();
        for (const r of rows) d.addRow(r);
      }),
    });
    const header = Buffer.from(`INSERT INTO \`${table}\` VALUES\n`);
    const kinds = stored.map((c) => c.kind);
    timings.push({
      label: 'prototype: statements written into one reusable buffer',
      microsPerRow: await cpuMicros(n, () => {
        for (const s of directStatements(rows, header, kinds, 1024 * 1024)) void s;
      }),
    });
    return { rows: n, bytes, timings };
  } finally {
    await closeConnection(connection);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      database: { type: 'string', default: 'cbbench_s1' },
      table: { type: 'string', default: 'civicrm_contribution' },
      rows: { type: 'string', default: '200000' },
      dsn: { type: 'string', default: process.env.CIVIBACKUP_BENCH_DSN ?? 'mysql://root@127.0.0.1:3306' },
    },
  });
  const dsn = `${values.dsn!.replace(/\/+$/, '')}/${values.database}`;
  measureRowEncoding(dsn, values.table!, Number(values.rows)).then(
    (r) => {
      process.stdout.write(`${values.table}: ${r.rows} rows, ${(r.bytes / 1e6).toFixed(1)} MB of INSERT statements; CPU µs per row, best of 3:\n`);
      for (const t of r.timings) process.stdout.write(`  ${t.microsPerRow.toFixed(2).padStart(7)}  ${t.label}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`row-encoding: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
