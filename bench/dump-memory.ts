/**
 * Memory benchmark of the dump (a script, not a test): builds a table of 1 GB or more plus a
 * table of 8 MB rows, backs it up with the built helper, and reports the helper's peak RSS
 * (target: below 200 MB whatever the table size) next to time and throughput, and the same
 * for `mariadb-dump | gzip` at the same level when --compare is given.
 *
 *   npx rollup -c --silent && npx tsx bench/dump-memory.ts [--gib 1.1] [--keep] [--compare] [--level 6]
 *       [--compression gzip|zstd] [--node PATH] [--database NAME]
 *
 * --node runs the helper under another Node (e.g. Node 24 from scripts/fetch-node.mjs: zstd
 * needs 22.15 or newer). The database (cbt_bench_mem, or --database) is kept with --keep so a
 * second run skips the generation.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

let DATABASE = 'cbt_bench_mem';
const HELPER = fileURLToPath(new URL('../dist/civibackup.mjs', import.meta.url));
/** Bytes of one generated row's payload (text that compresses about as well as CiviCRM data). */
const ROW_PAYLOAD = 960;

function sql(statement: string, database?: string): string {
  const run = spawnSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', '--batch', '--skip-column-names', ...(database ? [database] : [])], {
    input: statement,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(run.stderr);
  return run.stdout.trim();
}

function ensureData(gib: number): { rows: number; dataBytes: number } {
  const wantedRows = Math.ceil((gib * 1024 ** 3) / (ROW_PAYLOAD + 40));
  const exists = sql(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DATABASE}' AND TABLE_NAME = 'big'`) === '1';
  const haveRows = exists ? Number(sql('SELECT COUNT(*) FROM big', DATABASE)) : 0;
  if (haveRows < wantedRows) {
    process.stderr.write(`generating ${wantedRows} rows (about ${gib} GiB of SQL)...\n`);
    sql(`DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};`);
    sql(
      `CREATE TABLE big (id INT PRIMARY KEY, contact_id INT, subject VARCHAR(255), details TEXT, created DATETIME, amount DECIMAL(20,2), KEY (contact_id)) ENGINE=InnoDB;
       CREATE TABLE rows8mb (id INT PRIMARY KEY, payload LONGBLOB) ENGINE=InnoDB;`,
      DATABASE,
    );
    const batch = 200_000;
    for (let start = 1; start <= wantedRows; start += batch) {
      const end = Math.min(wantedRows, start + batch - 1);
      sql(
        `INSERT INTO big SELECT seq, seq % 50000, CONCAT('Subject ', seq, ' ', MD5(seq)),
                CONCAT(REPEAT(CONCAT(MD5(seq), ' lorem ipsum ', seq % 977, ' '), ${Math.floor(ROW_PAYLOAD / 60)})),
                '2020-01-01' + INTERVAL (seq % 100000) MINUTE, (seq % 100000) / 100
           FROM seq_${start}_to_${end};`,
        DATABASE,
      );
      process.stderr.write(`  ${end} rows\n`);
    }
    sql(`INSERT INTO rows8mb SELECT seq, REPEAT(UNHEX(SHA2(seq, 256)), 262144) FROM seq_1_to_4;`, DATABASE);
  }
  const dataBytes = Number(sql(`SELECT SUM(DATA_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DATABASE}'`));
  return { rows: Number(sql('SELECT COUNT(*) FROM big', DATABASE)), dataBytes };
}

interface Measured {
  seconds: number;
  peakRssMb: number;
  output: string;
}

/** Runs a command, sampling its RSS (VmHWM, the kernel's own peak) until it exits. */
function measure(command: string, args: string[], options: { shell?: boolean } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], shell: options.shell });
    let output = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const sample = setInterval(() => {
      const status = spawnSync('cat', [`/proc/${child.pid}/status`], { encoding: 'utf8' }).stdout;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
    }, 200);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sample);
      if (code !== 0) reject(new Error(`${command} exited ${code}: ${output.slice(-2000)}`));
      else resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, peakRssMb: peak, output });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gib: { type: 'string', default: '1.1' },
      keep: { type: 'boolean' },
      compare: { type: 'boolean' },
      level: { type: 'string' },
      compression: { type: 'string', default: 'gzip' },
      node: { type: 'string', default: process.execPath },
      database: { type: 'string', default: DATABASE },
    },
  });
  DATABASE = values.database!;
  const compression = values.compression!;
  const level = values.level ?? (compression === 'zstd' ? '3' : '6');
  const node = values.node!;
  const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const data = ensureData(Number(values.gib));
  const dir = mkdtempSync(join(tmpdir(), 'cbt-bench-mem-'));
  try {
    const helper = await measure(node, [HELPER, 'backup', '--to', dir, '--db', `mysql://root@127.0.0.1:3306/${DATABASE}`, '--compression', compression, '--level', level, '--json']);
    const result = JSON.parse(helper.output.trim().split('\n').at(-1)!) as { summary: { rawBytes: number; bytes: number; rows: number; parts: number } };
    const mb = (n: number): string => (n / 1024 ** 2).toFixed(0);
    const lines = [
      `table data on disk: ${mb(data.dataBytes)} MB, ${data.rows} rows + 4 rows of 8 MB`,
      `helper backup (Node ${nodeVersion}): ${helper.seconds.toFixed(1)} s, SQL ${mb(result.summary.rawBytes)} MB -> ${mb(result.summary.bytes)} MB ${compression} -${level}, ${result.summary.parts} parts, ` +
        `${(result.summary.rawBytes / 1024 ** 2 / helper.seconds).toFixed(1)} MB/s of SQL, peak RSS ${helper.peakRssMb.toFixed(0)} MB (target < 200 MB)`,
    ];
    if (values.compare) {
      const tool = compression === 'zstd' ? 'zstd' : 'gzip';
      const peer = await measure('sh', ['-c', `mariadb-dump -h 127.0.0.1 -u root --single-transaction --hex-blob ${DATABASE} | ${tool} -${level} > ${join(dir, 'peer.sql')}`]);
      lines.push(`mariadb-dump | ${tool} -${level}: ${peer.seconds.toFixed(1)} s; ratio helper/peer ${(helper.seconds / peer.seconds).toFixed(2)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (!values.keep) sql(`DROP DATABASE IF EXISTS ${DATABASE}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
