/**
 * Deduplication benchmark (issue #14's targets), side by side with restic in one run:
 *
 *  1. A mixed attachments tree (default 1 GiB in 10,000 files: scans, photos, office files,
 *     text), encrypted on both sides: first run, unchanged re-run, 1 % of the files changed.
 *     Time and bytes added to the destination / repository.
 *  2. The same unchanged re-run with an S3 offsite copy (s3rver on 127.0.0.1): bytes sent,
 *     against the first upload.
 *  3. 100,000 small files: first run and unchanged re-run, against restic and `tar -czf`.
 *  4. 1,000,000 small files (optional, --huge): the helper's peak RSS.
 *
 * Every command runs in its own process, measured by bench/measure.ts (wall time, GNU time's
 * peak RSS). Bytes are counted on disk (`du`-like sum of file sizes) before and after a run.
 *
 *   npx tsx bench/dedup.ts [--tree-mb 1024] [--tree-files 10000] [--small 100000] [--reruns 1] [--huge 0]
 *                          [--work /tmp/civibackup-dedup] [--helper dist/civibackup.mjs] [--no-s3] [--keep]
 *                          [--no-huge-restic] [--no-huge-restore] [--plain-node]
 *
 * --tree-files 0 leaves out parts 1 and 2. --reruns N runs the small files' unchanged re-run N
 * times, helper and restic alternating, and reports each pair and the median ratio (on a
 * shared machine one pair says little).
 *
 * The helper runs with the environment the extension's launcher gives it (HELPER_ENV in
 * CRM/Civibackup/Launcher.php: V8's young generation and glibc's malloc arenas, for memory);
 * --plain-node runs it as bare `node` instead, for a before/after of those settings.
 *
 * --huge N measures the helper's peak RSS (GNU time) for N small files: the first run, an
 * unchanged re-run and a restore of the files (--no-huge-restore leaves it out), restic
 * beside the two backups (--no-huge-restic leaves it out). Creating a million files takes
 * minutes: with --keep the work dir is not emptied at the start, and a huge tree a previous
 * run finished creating (`<work>/huge.complete-N`) is re-used; only its backups start afresh.
 *
 * Needs restic (`apt-get install restic`, Debian's 0.14) and the age CLI on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { directoryBytes, measureShell, newestSetPath, sh, type RunResult } from './measure.js';

const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));
const TEXT_LINE = 'Contact,Émile Dubois,emile@example.org,+33 1 23 45 67 89,Rue de la Paix 12,75002 Paris,2024-05-01,100.00\n';
const RESTIC_PASSWORD = 'bench-only-password';

interface Row {
  what: string;
  helper: RunResult & { addedBytes: number };
  restic?: RunResult & { addedBytes: number };
  tar?: RunResult & { bytes: number };
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function bytesText(bytes: number): string {
  return bytes < 1048576 ? `${bytes} B` : mib(bytes);
}

/**
 * Attachments as a CiviCRM site collects them: scans (PDF: random bytes with a text layer),
 * photos (JPEG: random), office files (DOCX/XLSX are ZIPs: random), text (CSV, HTML:
 * compressible). Sizes vary around the mean so the total lands near targetBytes.
 */
async function createAttachments(root: string, files: number, targetBytes: number): Promise<void> {
  const mean = targetBytes / files;
  for (let i = 0; i < files; i += 1) {
    const kind = i % 10;
    const dir = join(root, `${2020 + (i % 6)}`, `${String(1 + (i % 12)).padStart(2, '0')}`);
    if (i < 72) await mkdir(dir, { recursive: true });
    const size = Math.max(1024, Math.round(mean * (0.25 + ((i * 7919) % 1000) / 666)));
    let name: string;
    let content: Buffer;
    if (kind < 3) {
      name = `scan_${i}.pdf`;
      content = Buffer.concat([randomBytes(Math.round(size * 0.9)), Buffer.from(TEXT_LINE.repeat(Math.ceil((size * 0.1) / TEXT_LINE.length)))]);
    } else if (kind < 6) {
      name = `photo_${i}.jpg`;
      content = randomBytes(size);
    } else if (kind < 8) {
      name = `letter_${i}.${kind === 6 ? 'docx' : 'xlsx'}`;
      content = randomBytes(size);
    } else {
      name = `export_${i}.${kind === 8 ? 'csv' : 'html'}`;
      content = Buffer.from(TEXT_LINE.repeat(Math.ceil(size / 3 / TEXT_LINE.length)).replace(/100\.00/g, String(i)));
    }
    await writeFile(join(dir, name), content);
  }
}

/** Rewrites every hundredth file with new content of the same kind (1 % of the files changed). */
async function changeOnePercent(root: string): Promise<number> {
  let changed = 0;
  let index = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (index++ % 100 === 0) {
        const size = (await stat(path)).size;
        await writeFile(path, /\.(csv|html)$/.test(entry.name) ? Buffer.from(`changed ${index}\n` + TEXT_LINE.repeat(Math.ceil(size / 3 / TEXT_LINE.length))) : randomBytes(size));
        changed += 1;
      }
    }
  };
  await walk(root);
  return changed;
}

async function createSmallFiles(root: string, count: number): Promise<void> {
  const perDir = 500;
  for (let i = 0; i < count; i += 1) {
    const dir = join(root, `d${Math.floor(i / perDir / 40)}`, `s${Math.floor(i / perDir)}`);
    if (i % perDir === 0) await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${i}.php`), `<?php\n// file ${i}\nfunction f${i}() { return ${i}; }\n` + '// '.padEnd(200 + (i % 1800), 'x') + '\n');
  }
}

async function run(script: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const result = await measureShell(script, { env });
  if (result.exitCode !== 0) throw new Error(`failed (${result.exitCode}): ${script}\n${result.stderr.slice(-2000)}`);
  return result;
}

/**
 * The helper's memory settings as the extension's launcher sets them (CRM/Civibackup/Launcher.php
 * HELPER_ENV, read from there so the two cannot drift), as a command prefix: `env NAME=value ... node`.
 */
async function launcherNode(): Promise<string> {
  const php = await readFile(join(PROJECT_ROOT, 'CRM/Civibackup/Launcher.php'), 'utf8');
  const list = php.match(/HELPER_ENV = \[([^\]]*)\]/)?.[1];
  if (list === undefined) throw new Error('HELPER_ENV not found in CRM/Civibackup/Launcher.php');
  const pairs = [...list.matchAll(/'([A-Z_]+)' => '([^']*)'/g)].map(([, name, value]) => `${name}=${sh(value!)}`);
  return `env ${pairs.join(' ')} node`;
}

/** How the helper is started: as the launcher starts it, or plain `node` with --plain-node. */
let helperNode = 'node';

function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'tree-mb': { type: 'string', default: '1024' },
      'tree-files': { type: 'string', default: '10000' },
      small: { type: 'string', default: '100000' },
      reruns: { type: 'string', default: '1' },
      huge: { type: 'string', default: '0' },
      work: { type: 'string', default: '/tmp/civibackup-dedup' },
      helper: { type: 'string', default: join(PROJECT_ROOT, 'dist/civibackup.mjs') },
      's3': { type: 'boolean', default: true },
      'no-s3': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'no-huge-restic': { type: 'boolean', default: false },
      'no-huge-restore': { type: 'boolean', default: false },
      'plain-node': { type: 'boolean', default: false },
    },
  });
  if (!values['plain-node']) helperNode = await launcherNode();
  for (const tool of ['restic', 'age-keygen']) {
    if (spawnSync('which', [tool]).status !== 0) throw new Error(`${tool} is not on PATH: apt-get install ${tool === 'restic' ? 'restic' : 'age'}`);
  }
  const work = resolve(values.work!);
  const helper = resolve(values.helper!);
  if (!values.keep) await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const keyFile = join(work, 'age.key');
  if (!existsSync(keyFile)) spawnSync('age-keygen', ['-o', keyFile]);
  const recipient = (await readFile(keyFile, 'utf8')).match(/public key: (age1[0-9a-z]+)/)![1]!;
  const env: NodeJS.ProcessEnv = { ...process.env, RESTIC_PASSWORD, RESTIC_CACHE_DIR: join(work, 'restic-cache') };
  const rows: Row[] = [];
  const log = (line: string): void => console.log(line);
  log(`load average at start: ${loadavg().map((n) => n.toFixed(2)).join(' ')}; restic: ${spawnSync('restic', ['version']).stdout.toString().trim()}; helper started as: ${helperNode}`);

  /** One helper run and one restic run of the same tree, each measured with the bytes it added. */
  const pair = async (what: string, tree: string, label: string, dest: string, repo: string, state: string, extra = ''): Promise<Row> => {
    const before = await directoryBytes(dest);
    const helperRun = await run(`${helperNode} ${sh(helper)} backup --no-db --to ${sh(dest)} --files ${label}=${sh(tree)} --recipient ${recipient} --state-dir ${sh(state)} ${extra} --json > /dev/null`, env);
    const helperAdded = (await directoryBytes(dest)) - before;
    const resticBefore = await directoryBytes(repo);
    const resticRun = await run(`restic -q --repo ${sh(repo)} backup ${sh(tree)} > /dev/null`, env);
    const row: Row = { what, helper: { ...helperRun, addedBytes: helperAdded }, restic: { ...resticRun, addedBytes: (await directoryBytes(repo)) - resticBefore } };
    rows.push(row);
    log(`${what}: helper ${helperRun.seconds.toFixed(2)} s +${bytesText(helperAdded)}, restic ${resticRun.seconds.toFixed(2)} s +${bytesText(row.restic!.addedBytes)}`);
    return row;
  };

  // 1. The attachments tree.
  const tree = join(work, 'attachments');
  const treeFiles = Number(values['tree-files']);
  let first: Row | undefined;
  let unchanged: Row | undefined;
  let changed: Row | undefined;
  let s3Line = 'S3: skipped (--no-s3)';
  if (treeFiles > 0) {
    for (const name of ['attachments', 'dest', 'state', 'restic', 's3', 's3-local', 's3-state']) await rm(join(work, name), { recursive: true, force: true }); // --keep
    await createAttachments(tree, treeFiles, Number(values['tree-mb']) * 1048576);
    log(`attachments: ${treeFiles} files, ${mib(await directoryBytes(tree))}`);
    const dest = join(work, 'dest');
    const state = join(work, 'state');
    const repo = join(work, 'restic');
    await run(`restic -q init --repo ${sh(repo)} > /dev/null`, env);
    first = await pair('tree: first run', tree, 'attachments', dest, repo, state);
    unchanged = await pair('tree: unchanged re-run', tree, 'attachments', dest, repo, state);
    const changedCount = await changeOnePercent(tree);
    changed = await pair(`tree: ${changedCount} files (1 %) changed`, tree, 'attachments', dest, repo, state);

    // 2. S3 offsite: first upload and an unchanged re-run, bytes the server received.
    if (values.s3 && !values['no-s3']) {
      s3Line = await s3Rerun(work, helper, tree, recipient, env).catch((error: Error) => `S3: failed: ${error.message.slice(-600)}`);
      log(s3Line);
    }
  }

  // 3. Small files.
  const smallCount = Number(values.small);
  let smallRows: Row[] = [];
  let tarRun: (RunResult & { bytes: number }) | undefined;
  if (smallCount > 0) {
    const small = join(work, 'small');
    await createSmallFiles(small, smallCount);
    const smallDest = join(work, 'small-dest');
    const smallRepo = join(work, 'small-restic');
    for (const dir of [smallDest, smallRepo, join(work, 'small-state')]) await rm(dir, { recursive: true, force: true }); // --keep
    await run(`restic -q init --repo ${sh(smallRepo)} > /dev/null`, env);
    smallRows = [await pair(`${smallCount} small files: first run`, small, 'code', smallDest, smallRepo, join(work, 'small-state'))];
    for (let i = 0; i < Math.max(1, Number(values.reruns)); i += 1) {
      smallRows.push(await pair(`${smallCount} small files: unchanged re-run`, small, 'code', smallDest, smallRepo, join(work, 'small-state')));
    }
    const tarFile = join(work, 'small.tar.gz');
    const t = await run(`tar -czf ${sh(tarFile)} -C ${sh(small)} .`, env);
    tarRun = { ...t, bytes: (await stat(tarFile)).size };
    log(`${smallCount} small files: tar -czf ${t.seconds.toFixed(2)} s`);
    await rm(small, { recursive: true, force: true });
  }

  // 4. A million small files: peak RSS of the first run, an unchanged re-run and a restore, beside restic.
  let hugeLine = '';
  const hugeCount = Number(values.huge);
  if (hugeCount > 0) {
    const huge = join(work, 'huge');
    const complete = join(work, `huge.complete-${hugeCount}`);
    if (!existsSync(complete)) {
      await rm(huge, { recursive: true, force: true });
      await createSmallFiles(huge, hugeCount);
      await writeFile(complete, '');
    }
    const hugeDest = join(work, 'huge-dest');
    const hugeRepo = join(work, 'huge-restic');
    const hugeState = join(work, 'huge-state');
    const restored = join(work, 'huge-restored');
    for (const dir of [hugeDest, hugeRepo, hugeState, restored]) await rm(dir, { recursive: true, force: true });
    const withRestic = !values['no-huge-restic'];
    if (withRestic) await run(`restic -q init --repo ${sh(hugeRepo)} > /dev/null`, env);
    const helperOnly = async (what: string): Promise<RunResult> => {
      const result = await run(`${helperNode} ${sh(helper)} backup --no-db --to ${sh(hugeDest)} --files code=${sh(huge)} --recipient ${recipient} --state-dir ${sh(hugeState)} --json > /dev/null`, env);
      log(`${what}: helper ${result.seconds.toFixed(2)} s, ${result.peakRssMiB.toFixed(0)} MiB RSS`);
      return result;
    };
    const firstRun = withRestic ? (await pair(`${hugeCount} small files: first run`, huge, 'code', hugeDest, hugeRepo, hugeState)).helper : await helperOnly(`${hugeCount} small files: first run`);
    const again = withRestic ? (await pair(`${hugeCount} small files: unchanged re-run`, huge, 'code', hugeDest, hugeRepo, hugeState)).helper : await helperOnly(`${hugeCount} small files: unchanged re-run`);
    hugeLine = `${hugeCount} small files: helper peak RSS first run ${firstRun.peakRssMiB.toFixed(0)} MiB (${firstRun.seconds.toFixed(1)} s), unchanged re-run ${again.peakRssMiB.toFixed(0)} MiB (${again.seconds.toFixed(1)} s)`;
    if (!values['no-huge-restore']) {
      const set = await newestSetPath(hugeDest);
      if (!set) throw new Error(`no set at ${hugeDest}`);
      const restore = await run(`${helperNode} ${sh(helper)} restore ${sh(set)} --files code=${sh(restored)} --identity ${sh(keyFile)} --json > /dev/null`, env);
      log(`${hugeCount} small files: restore ${restore.seconds.toFixed(2)} s, ${restore.peakRssMiB.toFixed(0)} MiB RSS`);
      hugeLine += `, restore ${restore.peakRssMiB.toFixed(0)} MiB (${restore.seconds.toFixed(1)} s)`;
      await rm(restored, { recursive: true, force: true });
    }
    hugeLine += ' (target <= 200 MB = 190.7 MiB)';
    log(hugeLine);
    if (!values.keep) await rm(huge, { recursive: true, force: true });
  }

  // The report: ratios against the targets of issue #14.
  const lines: string[] = [];
  lines.push('| run | helper | restic | helper / restic |', '|---|---|---|---|');
  for (const row of [...rows]) {
    lines.push(
      `| ${row.what} | ${row.helper.seconds.toFixed(2)} s, +${bytesText(row.helper.addedBytes)}, ${row.helper.peakRssMiB.toFixed(0)} MiB RSS | ${row.restic!.seconds.toFixed(2)} s, +${bytesText(row.restic!.addedBytes)}, ${row.restic!.peakRssMiB.toFixed(0)} MiB RSS | time ${ratio(row.helper.seconds, row.restic!.seconds)}, bytes ${ratio(row.helper.addedBytes, row.restic!.addedBytes)} |`,
    );
  }
  if (tarRun) lines.push(`| ${smallCount} small files: tar -czf | | | tar ${tarRun.seconds.toFixed(2)} s, ${mib(tarRun.bytes)} |`);
  lines.push('');
  lines.push('Targets (issue #14):');
  if (first && unchanged && changed) {
    lines.push(`- first run <= 1.0x restic's time: ${ratio(first.helper.seconds, first.restic!.seconds)}`);
    lines.push(`- unchanged re-run <= 1.5x restic's time: ${ratio(unchanged.helper.seconds, unchanged.restic!.seconds)}; <= 1 % of the first run's bytes: ${((100 * unchanged.helper.addedBytes) / first.helper.addedBytes).toFixed(3)} %`);
    lines.push(`- 1 % changed: added bytes <= 1.1x restic's: ${ratio(changed.helper.addedBytes, changed.restic!.addedBytes)}`);
    lines.push(`- ${s3Line}`);
  }
  const reruns = smallRows.slice(1);
  if (reruns.length > 0) {
    const ratios = reruns.map((r) => r.helper.seconds / r.restic!.seconds).sort((a, b) => a - b);
    const median = ratios[Math.floor((ratios.length - 1) / 2)]!;
    lines.push(`- ${smallCount} small files, unchanged re-run <= 1.0x restic's time: ${median.toFixed(2)}x${reruns.length > 1 ? ` (median of ${reruns.length} pairs: ${reruns.map((r) => ratio(r.helper.seconds, r.restic!.seconds)).join(', ')})` : ''}`);
  }
  if (hugeLine) lines.push(`- ${hugeLine}`);
  lines.push(`- load average at the end: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  console.log('\n' + lines.join('\n'));
  if (!values.keep) await rm(work, { recursive: true, force: true });
}

/** s3rver in a child process (its own CPU), a job with one S3 offsite copy, two runs of the same tree. */
async function s3Rerun(work: string, helper: string, tree: string, recipient: string, env: NodeJS.ProcessEnv): Promise<string> {
  const s3dir = join(work, 's3');
  await mkdir(s3dir, { recursive: true });
  const serverScript = join(work, 's3server.mjs');
  await writeFile(
    serverScript,
    `import S3rver from ${JSON.stringify(join(PROJECT_ROOT, 'node_modules/s3rver/lib/s3rver.js'))};
// Bytes received, counted on the sockets (a 'data' listener on requests would steal the bodies).
let closedBytes = 0;
const live = new Set();
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(s3dir)}, configureBuckets: [{ name: 'offsite' }] });
const info = await server.run();
server.httpServer.on('connection', (socket) => {
  live.add(socket);
  socket.on('close', () => { closedBytes += socket.bytesRead; live.delete(socket); });
});
const received = () => closedBytes + [...live].reduce((sum, socket) => sum + socket.bytesRead, 0);
process.stdout.write(JSON.stringify({ port: info.port }) + '\\n');
process.stdin.on('data', () => process.stdout.write(JSON.stringify({ received: received() }) + '\\n'));
`,
  );
  const child = spawn(process.execPath, ['--openssl-legacy-provider', serverScript], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines = child.stdout.setEncoding('utf8');
    const nextLine = async (): Promise<Record<string, number>> => JSON.parse(String((await once(lines, 'data'))[0]).trim().split('\n')[0]!);
    const { port } = await nextLine();
    const received = async (): Promise<number> => {
      child.stdin.write('?\n');
      return (await nextLine()).received!;
    };
    const dest = join(work, 's3-local');
    const jobFile = join(work, 's3-job.json');
    const job = {
      version: 1,
      command: 'backup',
      to: dest,
      files: [{ label: 'attachments', path: tree }],
      encryption: { recipients: [recipient] },
      stateDir: join(work, 's3-state'),
      offsite: [{ type: 's3', name: 'bench-s3', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', bucket: 'offsite', forcePathStyle: true, accessKeyId: 'S3RVER', secretEnv: 'BENCH_S3_SECRET' }],
    };
    await writeFile(jobFile, JSON.stringify(job));
    const s3env = { ...env, BENCH_S3_SECRET: 'S3RVER' };
    const firstRun = await run(`${helperNode} ${sh(helper)} backup --no-db --job ${sh(jobFile)} --json > /dev/null`, s3env);
    const afterFirst = await received();
    const rerun = await run(`${helperNode} ${sh(helper)} backup --no-db --job ${sh(jobFile)} --json > /dev/null`, s3env);
    const afterRerun = (await received()) - afterFirst;
    return `S3 offsite: first upload ${mib(afterFirst)} (${firstRun.seconds.toFixed(1)} s); unchanged re-run sent ${bytesText(afterRerun)} = ${((100 * afterRerun) / afterFirst).toFixed(3)} % of the first upload (target <= 1 %; ${rerun.seconds.toFixed(1)} s)`;
  } finally {
    child.kill();
  }
}

await main();
