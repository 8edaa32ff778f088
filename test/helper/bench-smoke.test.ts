import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { DEFAULT_DSN, parseDsn } from '../../bench/civicrm-sample.js';
import { runBench } from '../../bench/run.js';
import { renderTerminal } from '../../bench/report.js';

const database = `cbt_bench_${randomBytes(4).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'cbt-bench-'));

after(async () => {
  const conn = await mysql.createConnection(parseDsn(DEFAULT_DSN));
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`${database}%`]);
  for (const row of rows) await conn.query(`DROP DATABASE IF EXISTS \`${row.name}\``);
  await conn.end();
  rmSync(work, { recursive: true, force: true });
});

// No timing assertions: this only proves the benchmark runs end to end and reports numbers.
test('a tiny benchmark run measures every tool and writes the table', { timeout: 600_000 }, async () => {
  const doc = join(work, 'benchmarks.md');
  const report = await runBench({
    scale: 0.002,
    dsn: DEFAULT_DSN,
    database,
    work: join(work, 'run'),
    doc,
    levels: [6],
    filesMiB: 1,
    profile: false,
    keep: false,
    log: () => {},
  });
  assert.ok(existsSync(doc));
  const markdown = readFileSync(doc, 'utf8');
  assert.match(markdown, /\| phase \| tool \| time \(s\) \|/);
  assert.match(markdown, new RegExp(report.machine.nodeVersion.replace(/\./g, '\\.')));

  const peerDump = report.measurements.find((m) => m.id === 'peer-gzip6');
  assert.ok(peerDump?.ok, JSON.stringify(peerDump));
  assert.ok((peerDump.bytes ?? 0) > 0);
  const helperBackup = report.measurements.find((m) => m.id === 'helper-gzip6');
  assert.ok(helperBackup?.ok, JSON.stringify(helperBackup));
  const backupRatio = report.comparisons.find((c) => c.label === 'backup gzip -6');
  assert.ok(backupRatio && Number.isFinite(backupRatio.ratio) && backupRatio.ratio > 0, JSON.stringify(report.comparisons));
  for (const c of report.comparisons) assert.ok(Number.isFinite(c.ratio) && c.ratio > 0, `${c.label}: ${c.ratio}`);
  // The plain restore is checked against the source, table by table.
  const peerRestore = report.measurements.find((m) => m.id === 'peer-restore');
  assert.match(peerRestore?.check ?? '', /^all \d+ tables match$/);
  assert.match(renderTerminal(report), /targets:/);
});
