/**
 * `npm run bench`: the helper against the established tools, in one run on one machine.
 *
 * Generates (or reuses) the CiviCRM-shaped database at a scale, then measures backup
 * (helper gzip -6/-1 vs `mariadb-dump | gzip -6/-1` vs `mydumper --threads 2 --compress`),
 * restore (helper vs `zcat | mariadb` vs `myloader --threads 2`), the restore over a live
 * database (atomic vs --in-place, with the time a polling reader had no valid answer:
 * bench/restore-window.ts), deep verify, and the files
 * phase (helper vs `tar -czf`), each with wall time, size and peak RSS; checks every restore
 * against the source with CHECKSUM TABLE; prints a table of times, sizes and ratios and
 * writes it to docs/benchmarks.md with the machine and the date.
 *
 *   npm run bench -- [--scale 1] [--dsn mysql://root@127.0.0.1:3306] [--work /tmp/civibackup-bench]
 *                    [--doc docs/benchmarks.md] [--no-doc] [--levels 6,1] [--files-mb 200] [--profile] [--keep]
 *                    [--helper dist/civibackup.mjs]
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { createSampleDatabase, DEFAULT_DSN, parseDsn } from './civicrm-sample.js';
import { createFileTree } from './file-tree.js';
import { describeMachine, loadAverage, type Machine } from './machine.js';
import { measureShell, newestSetPath, sh, type RunResult } from './measure.js';
import { summariseCpuProfiles } from './profile-summary.js';
import { renderMarkdown, renderTerminal, type BenchReport, type Comparison, type Measurement } from './report.js';
import { measureLiveRestores } from './restore-window.js';

const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));
const DEFAULT_HELPER = join(PROJECT_ROOT, 'dist/civibackup.mjs');
export const ANALYSIS_MARKER = '<!-- Everything below this line is hand-written and kept when npm run bench rewrites the page. -->';

export interface BenchOptions {
  scale: number;
  dsn: string;
  database?: string;
  work: string;
  /** Where to write the markdown report; undefined = do not write. */
  doc?: string;
  levels: number[];
  filesMiB: number;
  profile: boolean;
  keep: boolean;
  /** The helper bundle to measure (default dist/civibackup.mjs); a private copy keeps a long run safe from rebuilds. */
  helper?: string;
  log: (line: string) => void;
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { log } = options;
  const HELPER = options.helper ?? DEFAULT_HELPER;
  const database = options.database ?? `cbbench_s${String(options.scale).replace(/[^0-9a-z]/gi, '_')}`;
  const server = parseDsn(options.dsn);
  const dsnFor = (db: string) => `${options.dsn.replace(/\/+$/, '')}/${db}`;
  const clientArgs = `-h ${sh(server.host ?? '127.0.0.1')} -P ${server.port ?? 3306} -u ${sh(server.user ?? 'root')}`;
  // Passwords reach the command-line tools through the environment, never argv.
  const env: NodeJS.ProcessEnv = { ...process.env, MYSQL_PWD: String(server.password ?? ''), CIVIBACKUP_DSN: dsnFor(database) };
  delete env.CIVIBACKUP_RUN_ID;

  await rm(options.work, { recursive: true, force: true });
  await mkdir(options.work, { recursive: true });
  const startedAt = new Date();
  const loadBefore = loadAverage();
  const machine: Machine = await describeMachine(options.dsn);
  log(`machine: ${machine.cpuModel}, ${machine.cpus} cores, ${machine.memoryGiB} GiB, ${machine.mariadbVersion}, Node ${machine.nodeVersion}, load ${loadBefore}`);

  const generation = await createSampleDatabase({ dsn: options.dsn, database, scale: options.scale, log });
  const conn = await mysql.createConnection({ ...server, charset: 'utf8mb4_unicode_ci' });
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  try {
    const [sizeRows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes, SUM(TABLE_ROWS) AS approxRows FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
      [database],
    );
    const onDiskBytes = Number(sizeRows[0]!.bytes);
    const sourceChecksums = await checksums(conn, database);

    const run = async (id: string, phase: Measurement['phase'], tool: string, script: string, output?: string): Promise<Measurement> => {
      log(`${phase}: ${tool} ...`);
      const loadAtStart = loadavg()[0]!;
      const result: RunResult = await measureShell(script, { env, cwd: options.work });
      // The helper's --json events: kept for reading afterwards; the last one says why it failed.
      if (script.includes(' --json')) await writeFile(join(options.work, `${id}.ndjson`), result.stdout);
      const bytes = output ? await sizeOf(output) : undefined;
      const m: Measurement = {
        id,
        phase,
        tool,
        command: script.replace(options.work + '/', ''),
        seconds: result.seconds,
        bytes,
        peakRssMiB: result.peakRssMiB,
        treeRssMiB: result.treeRssMiB,
        cpuSeconds: result.cpuSeconds,
        loadAtStart,
        ok: result.exitCode === 0,
      };
      if (!m.ok) m.note = `exit ${result.exitCode}: ${lastLines(result.stderr + '\n' + result.stdout, 2)}`;
      measurements.push(m);
      log(`${phase}: ${tool}: ${m.ok ? 'ok' : 'FAILED'} ${m.seconds.toFixed(1)} s${bytes !== undefined ? `, ${(bytes / 1e6).toFixed(1)} MB` : ''}, peak RSS ${m.peakRssMiB.toFixed(0)} MiB${m.note ? ` (${m.note})` : ''}`);
      return m;
    };

    const dumpFlags = '--single-transaction --routines --triggers --events --hex-blob';
    const sqlSize = await run('dump-null', 'backup', 'mariadb-dump > /dev/null (no compression)', `mariadb-dump ${clientArgs} ${dumpFlags} ${sh(database)} | wc -c > plain-size.txt`);
    const plainSqlBytes = Number((await readText(join(options.work, 'plain-size.txt'))).trim());
    sqlSize.bytes = plainSqlBytes;

    const haveHelper = existsSync(HELPER);
    if (!haveHelper) notes.push(`The helper bundle ${HELPER} is missing (run \`npx rollup -c\`); helper rows were not measured.`);
    const helperSets: Record<number, string> = {};
    for (const level of options.levels) {
      await run(`peer-gzip${level}`, 'backup', `mariadb-dump | gzip -${level}`, `mariadb-dump ${clientArgs} ${dumpFlags} ${sh(database)} | gzip -${level} > mariadb-dump-${level}.sql.gz`, join(options.work, `mariadb-dump-${level}.sql.gz`));
      if (haveHelper) {
        const to = join(options.work, `helper-gzip${level}`);
        await mkdir(to, { recursive: true });
        const m = await run(
          `helper-gzip${level}`,
          'backup',
          `civibackup backup --compression gzip --level ${level}`,
          `${sh(process.execPath)} ${sh(HELPER)} backup --to ${sh(to)} --compression gzip --level ${level} --no-skip-cache-data --json`,
          to,
        );
        if (m.ok) helperSets[level] = (await newestSetPath(to)) ?? '';
      }
    }
    const haveMydumper = await commandExists('mydumper');
    if (haveMydumper) {
      await run('mydumper', 'backup', 'mydumper --threads 2 --compress', `mydumper ${clientArgs} -B ${sh(database)} --threads 2 --compress --triggers --events --routines -o mydumper`, join(options.work, 'mydumper'));
    } else {
      notes.push('mydumper is not installed: its rows were not measured.');
    }

    // Restores, each into a fresh database, each checked table by table against the source.
    const restoreInto = async (id: string, tool: string, script: (target: string) => string, createFirst: boolean) => {
      const target = `${database}_r_${id.replace(/[^a-z0-9]/gi, '_')}`.slice(0, 64);
      await conn.query(`DROP DATABASE IF EXISTS \`${target}\``);
      if (createFirst) await conn.query(`CREATE DATABASE \`${target}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      const m = await run(id, 'restore', tool, script(target));
      if (m.ok) {
        const restored = await checksums(conn, target);
        const mismatched = Object.keys(sourceChecksums).filter((t) => restored[t] !== sourceChecksums[t]);
        m.check = mismatched.length === 0 ? `all ${Object.keys(sourceChecksums).length} tables match` : `${mismatched.length} tables differ: ${mismatched.slice(0, 6).join(', ')}`;
      }
      if (!options.keep) await conn.query(`DROP DATABASE IF EXISTS \`${target}\``);
    };
    const restoreLevel = options.levels[0]!;
    if (haveHelper && helperSets[restoreLevel]) {
      await restoreInto('helper-restore', 'civibackup restore', (target) => `${sh(process.execPath)} ${sh(HELPER)} restore ${sh(helperSets[restoreLevel]!)} --db ${sh(dsnFor(target))} --force --json`, true);
    }
    await restoreInto('peer-restore', 'zcat dump.sql.gz | mariadb', (target) => `zcat mariadb-dump-${restoreLevel}.sql.gz | mariadb ${clientArgs} ${sh(target)}`, true);
    if (haveMydumper) {
      await restoreInto('myloader', 'myloader --threads 2', (target) => `myloader ${clientArgs} -d mydumper -B ${sh(target)} --threads 2 -o`, false);
    }
    // Restore over a live database: the same set over a live copy, atomic and in place, with
    // a reader polling the copy (bench/restore-window.ts).
    if (haveHelper && helperSets[restoreLevel]) {
      await measureLiveRestores({
        conn,
        connection: { ...server, charset: 'utf8mb4_unicode_ci' },
        database,
        live: `${database}_live`.slice(0, 56), // room for the _cbstage and _cbold work databases
        set: helperSets[restoreLevel]!,
        helper: HELPER,
        dsnFor,
        env,
        work: options.work,
        sourceChecksums: async () => sourceChecksums,
        checksums: (db) => checksums(conn, db),
        run: (id, tool, script) => run(id, 'restore', tool, script),
        notes,
        log,
      });
    }
    if (haveHelper && helperSets[restoreLevel]) {
      const scratch = `${database}_verify`.slice(0, 64);
      await conn.query(`DROP DATABASE IF EXISTS \`${scratch}\``);
      await run('helper-verify', 'verify', 'civibackup verify --deep', `${sh(process.execPath)} ${sh(HELPER)} verify ${sh(helperSets[restoreLevel]!)} --deep --scratch-db ${sh(dsnFor(scratch))} --json`);
      await conn.query(`DROP DATABASE IF EXISTS \`${scratch}\``);
    }

    // Files phase: the same generated tree through the helper and through tar.
    const tree = join(options.work, 'files-tree');
    const treeInfo = await createFileTree(tree, options.filesMiB);
    notes.push(`File tree: ${treeInfo.files} files, ${(treeInfo.bytes / 1e6).toFixed(0)} MB (text, images, PDFs, many small files).`);
    for (const level of [options.levels[0]!]) {
      await run(`peer-tar${level}`, 'files', `tar -czf (gzip -${level})`, `tar -cf - -C ${sh(tree)} . | gzip -${level} > files-${level}.tar.gz`, join(options.work, `files-${level}.tar.gz`));
      if (haveHelper) {
        const to = join(options.work, `helper-files${level}`);
        await mkdir(to, { recursive: true });
        // Schema only for the database part, so the time is the files phase (plus about a second).
        await run(
          `helper-files${level}`,
          'files',
          `civibackup backup --files (gzip -${level}, database schema only)`,
          `${sh(process.execPath)} ${sh(HELPER)} backup --to ${sh(to)} --compression gzip --level ${level} --exclude-data '*' --files custom=${sh(tree)} --json`,
          to,
        );
      }
    }

    if (options.profile && haveHelper) {
      // Profiled runs are extra runs: the profiler slows the helper, so they are not in the ratios.
      const backupProf = join(options.work, 'cpu-profile-backup');
      const to = join(options.work, 'helper-profiled');
      await mkdir(to, { recursive: true });
      await run('profiled-backup', 'backup', `node --cpu-prof civibackup backup --level ${restoreLevel} (profiled)`, `${sh(process.execPath)} --cpu-prof --cpu-prof-dir ${sh(backupProf)} ${sh(HELPER)} backup --to ${sh(to)} --compression gzip --level ${restoreLevel} --no-skip-cache-data --json`, to);
      notes.push('CPU profile of the helper backup (self time; one .cpuprofile per thread):\n\n' + (await summariseCpuProfiles(backupProf, 15)).markdown);
      const profiledSet = await newestSetPath(to);
      if (profiledSet) {
        const restoreProf = join(options.work, 'cpu-profile-restore');
        const target = `${database}_r_profiled`.slice(0, 64);
        await conn.query(`DROP DATABASE IF EXISTS \`${target}\``);
        await conn.query(`CREATE DATABASE \`${target}\``);
        await run('profiled-restore', 'restore', 'node --cpu-prof civibackup restore (profiled)', `${sh(process.execPath)} --cpu-prof --cpu-prof-dir ${sh(restoreProf)} ${sh(HELPER)} restore ${sh(profiledSet)} --db ${sh(dsnFor(target))} --force --json`);
        await conn.query(`DROP DATABASE IF EXISTS \`${target}\``);
        notes.push('CPU profile of the helper restore (self time; one .cpuprofile per thread):\n\n' + (await summariseCpuProfiles(restoreProf, 15)).markdown);
      }
    }

    const loadAfter = loadAverage();
    const report: BenchReport = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      loadBefore,
      loadAfter,
      scale: options.scale,
      database,
      generatedSeconds: generation.generated ? generation.seconds : undefined,
      onDiskBytes,
      plainSqlBytes,
      measurements,
      comparisons: compare(measurements, options.levels),
      notes,
    };
    await writeFile(join(options.work, 'results.json'), JSON.stringify(report, null, 2) + '\n');
    if (options.doc) {
      await mkdir(resolve(options.doc, '..'), { recursive: true });
      // Text below the marker is written by people (analysis, proposals) and survives re-runs.
      const previous = await readText(options.doc);
      const kept = previous.includes(ANALYSIS_MARKER) ? previous.slice(previous.indexOf(ANALYSIS_MARKER)) : `${ANALYSIS_MARKER}\n`;
      await writeFile(options.doc, renderMarkdown(report) + '\n' + kept);
    }
    return report;
  } finally {
    await conn.end();
    if (!options.keep) {
      for (const name of await readdir(options.work).catch(() => [] as string[])) {
        if (name !== 'results.json' && !name.endsWith('.ndjson') && !name.startsWith('cpu-profile')) await rm(join(options.work, name), { recursive: true, force: true });
      }
    }
  }
}

/** Helper / peer ratios with the targets of issue 8. */
export function compare(ms: Measurement[], levels: number[]): Comparison[] {
  const by = (id: string) => ms.find((m) => m.id === id && m.ok);
  const pairs: Array<[string, string, string, number, 'time' | 'rss']> = [];
  for (const level of levels) pairs.push([`backup gzip -${level}`, `helper-gzip${level}`, `peer-gzip${level}`, level === levels[0] ? 0.6 : 0.6, 'time']);
  pairs.push([`backup gzip -${levels[0]} vs mydumper`, `helper-gzip${levels[0]}`, 'mydumper', 0.8, 'time']);
  pairs.push(['restore vs zcat | mariadb', 'helper-restore', 'peer-restore', 0.6, 'time']);
  pairs.push(['restore vs myloader', 'helper-restore', 'myloader', 0.8, 'time']);
  pairs.push(['deep verify vs helper restore', 'helper-verify', 'helper-restore', 1.2, 'time']);
  pairs.push([`files vs tar -czf`, `helper-files${levels[0]}`, `peer-tar${levels[0]}`, 1.0, 'time']);
  const out: Comparison[] = [];
  for (const [label, helperId, peerId, target, kind] of pairs) {
    const h = by(helperId);
    const p = by(peerId);
    if (!h || !p) continue;
    const ratio = h.seconds / p.seconds;
    const cpuRatio = (h.cpuSeconds ?? Number.NaN) / (p.cpuSeconds ?? Number.NaN);
    out.push({ label, helper: helperId, peer: peerId, ratio, ...(Number.isFinite(cpuRatio) ? { cpuRatio } : {}), target, met: ratio <= target, kind });
  }
  const atomic = by('helper-restore-live');
  if (atomic?.unavailableMs !== undefined) {
    // Not a ratio against a peer: the window in seconds against the target of one second.
    out.push({ label: 'unavailable window of a restore over a live database, s / 1 s', helper: atomic.id, peer: '', ratio: Math.max(atomic.unavailableMs, 1) / 1000, target: 1, met: atomic.unavailableMs <= 1000, kind: 'time' });
  }
  const helperRss = ms.filter((m) => m.id.startsWith('helper-') && m.ok && Number.isFinite(m.peakRssMiB));
  if (helperRss.length > 0) {
    const worst = helperRss.reduce((a, b) => (b.peakRssMiB > a.peakRssMiB ? b : a));
    out.push({ label: `helper peak RSS (${worst.tool}), MiB / 200 MiB`, helper: worst.id, peer: '', ratio: worst.peakRssMiB / 200, target: 1, met: worst.peakRssMiB <= 200, kind: 'rss' });
  }
  return out;
}

export async function checksums(conn: mysql.Connection, database: string): Promise<Record<string, string>> {
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [database],
  );
  const out: Record<string, string> = {};
  for (const t of tables) {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`CHECKSUM TABLE \`${database}\`.\`${String(t.name).replace(/`/g, '``')}\``);
    out[t.name as string] = String(rows[0]!.Checksum);
  }
  return out;
}

async function sizeOf(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

async function commandExists(name: string): Promise<boolean> {
  const r = await measureShell(`command -v ${sh(name)} >/dev/null`);
  return r.exitCode === 0;
}

async function readText(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path, 'utf8').catch(() => '');
}

/** The lines that say why a command failed: the first error line and the last few lines. */
function lastLines(text: string, n: number): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at ') && !/^Node\.js v/.test(l));
  const firstError = lines.find((l) => /error/i.test(l));
  const picked = [...new Set([...(firstError ? [firstError] : []), ...lines.slice(-n)])];
  return picked.join(' | ').slice(0, 400);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      dsn: { type: 'string', default: process.env.CIVIBACKUP_BENCH_DSN ?? DEFAULT_DSN },
      database: { type: 'string' },
      work: { type: 'string', default: '/tmp/civibackup-bench' },
      doc: { type: 'string', default: join(PROJECT_ROOT, 'docs/benchmarks.md') },
      'no-doc': { type: 'boolean', default: false },
      levels: { type: 'string', default: '6,1' },
      'files-mb': { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      helper: { type: 'string' },
    },
  });
  const scale = Number(values.scale);
  const report = await runBench({
    scale,
    dsn: values.dsn!,
    database: values.database,
    work: resolve(values.work!),
    doc: values['no-doc'] ? undefined : resolve(values.doc!),
    levels: values.levels!.split(',').map(Number),
    filesMiB: values['files-mb'] ? Number(values['files-mb']) : Math.max(2, Math.round(200 * scale)),
    profile: values.profile!,
    keep: values.keep!,
    helper: values.helper ? resolve(values.helper) : undefined,
    log: (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`),
  });
  process.stdout.write(renderTerminal(report) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
