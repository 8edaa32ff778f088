/**
 * Directory-archive benchmark (not a test): a generated tree of many small files plus one large
 * file, archived by the helper's archiveDirectories (gzip) and by `tar -czf`, each in its own
 * process so peak RSS is that of the archiver alone. Prints time, throughput, peak RSS and the
 * helper/tar ratios; then extracts with restoreDirectory and `tar -xzf` the same way.
 *
 *   npx tsx bench/files.ts [--files 100000] [--large-mb 1024] [--level 6] [--keep] [--work DIR]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const TEXT = 'Contact,Émile Dubois,emile@example.org,+33 1 23 45 67 89,Rue de la Paix 12,75002 Paris,2024-05-01,100.00\n';

interface Measured {
  seconds: number;
  maxRssKiB: number;
  detail?: Record<string, unknown>;
}

async function generateTree(root: string, files: number, largeMiB: number): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  const perDir = 1000;
  for (let i = 0; i < files; i += 1) {
    const dir = join(root, `d${String(Math.floor(i / perDir)).padStart(4, '0')}`);
    if (i % perDir === 0) await mkdir(dir, { recursive: true });
    // 0 to ~4 KiB, mostly text (compressible), every fifth file random bytes (photos).
    const size = (i * 7919) % 4096;
    const content = i % 5 === 0 ? randomBytes(size) : Buffer.from(TEXT.repeat(Math.ceil(size / TEXT.length) || 0).slice(0, size));
    await writeFile(join(dir, `file-${i}.txt`), content);
    bytes += content.length;
  }
  // The large file: 1 MiB blocks, half random and half text, so gzip has real work to do.
  const block = Buffer.concat([randomBytes(512 * 1024), Buffer.from(TEXT.repeat(Math.ceil((512 * 1024) / TEXT.length))).subarray(0, 512 * 1024)]);
  const out = createWriteStream(join(root, 'large.bin'));
  for (let i = 0; i < largeMiB; i += 1) {
    const chunk = Buffer.from(block);
    chunk.writeUInt32LE(i, 0);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  bytes += largeMiB * 1024 * 1024;
  return { files: files + 1, bytes };
}

/** Runs a command and reports wall time and peak RSS (GNU time's %M, which covers the process tree's largest member). */
async function timed(command: string, args: string[]): Promise<Measured & { stdout: string }> {
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%M', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr}`);
  const lines = stderr.trim().split('\n');
  return { seconds, maxRssKiB: Number(lines[lines.length - 1]), stdout };
}

/** Child mode: archive or restore in a fresh process, print a JSON line. */
async function child(mode: string, a: string, b: string, level: number): Promise<void> {
  const { archiveDirectories, restoreDirectory } = await import('../ts-src/helper/files/index.js');
  const { createReporter } = await import('../ts-src/helper/core/reporter.js');
  const { createSetDirectory, readManifest, writeManifest } = await import('../ts-src/helper/set/set-store.js');
  const { MANIFEST_FORMAT, MANIFEST_VERSION } = await import('../ts-src/protocol/manifest.js');
  const reporter = createReporter({ mode: 'silent' });
  // Sample RSS while running: GNU time also gives the peak, this shows it is flat over time.
  let sampledMax = 0;
  const sampler = setInterval(() => (sampledMax = Math.max(sampledMax, process.memoryUsage().rss)), 50);
  const started = process.hrtime.bigint();
  let detail: Record<string, unknown>;
  if (mode === 'archive') {
    const set = await createSetDirectory(b);
    const result = await archiveDirectories([{ label: 'bench', path: a }], { setDir: set.dir, codec: { compression: 'gzip', level }, reporter, destination: b });
    detail = { set: set.dir, part: result.parts[0], files: result.files[0].files, bytes: result.files[0].bytes };
    // A complete set, so the restore child reads it as `civibackup restore` would.
    await writeManifest(set.dir, {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_VERSION,
      setId: set.id,
      tool: { name: 'civibackup', version: 'bench', node: process.version },
      createdAt: set.createdAt.toISOString(),
      finishedAt: new Date().toISOString(),
      source: { hostname: 'bench' },
      compression: { algorithm: 'gzip', level },
      encryption: null,
      parts: result.parts,
      databases: [],
      files: result.files,
      warnings: [],
    });
  } else {
    const restored = await restoreDirectory(a, await readManifest(a), 'bench', b, { reporter });
    detail = { files: restored.files, bytes: restored.bytes };
  }
  clearInterval(sampler);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, sampledMaxRss: sampledMax, detail })}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      a: { type: 'string' },
      b: { type: 'string' },
      files: { type: 'string', default: '100000' },
      'large-mb': { type: 'string', default: '1024' },
      level: { type: 'string', default: '6' },
      keep: { type: 'boolean' },
      work: { type: 'string' },
    },
  });
  const level = Number(values.level);
  if (values.child) return child(values.child, values.a ?? '', values.b ?? '', level);

  const work = values.work ?? (await mkdtemp(join(tmpdir(), 'cbt_files_bench_')));
  const tree = join(work, 'tree');
  const dest = join(work, 'dest');
  await mkdir(dest, { recursive: true });
  try {
    process.stderr.write(`generating ${values.files} small files and a ${values['large-mb']} MiB file in ${tree}...\n`);
    const info = await generateTree(tree, Number(values.files), Number(values['large-mb']));
    await run('sync', []);
    const mb = info.bytes / 1e6;

    const node = [process.execPath, ...process.execArgv, SELF];
    const helper = await timed(node[0], [...node.slice(1), '--child', 'archive', '--a', tree, '--b', dest, '--level', String(level)]);
    const helperOut = JSON.parse(helper.stdout.trim().split('\n').pop() ?? '{}') as { seconds: number; sampledMaxRss: number; detail: { set: string; part: { path: string; bytes: number } } };
    const tarFile = join(work, 'tar.tar.gz');
    const tar = await timed('sh', ['-c', `tar -cf - -C '${tree}' . | gzip -${level} > '${tarFile}'`]);
    const tarBytes = (await stat(tarFile)).size;

    const restoreTarget = join(work, 'restored-helper');
    const helperRestore = await timed(node[0], [...node.slice(1), '--child', 'restore', '--a', helperOut.detail.set, '--b', restoreTarget]);
    const helperRestoreOut = JSON.parse(helperRestore.stdout.trim().split('\n').pop() ?? '{}') as { seconds: number };
    const tarTarget = join(work, 'restored-tar');
    await mkdir(tarTarget);
    const tarRestore = await timed('tar', ['-xzf', tarFile, '-C', tarTarget]);

    const rows = [
      ['archive', 'helper archiveDirectories', helper.seconds, mb / helper.seconds, helper.maxRssKiB, helperOut.detail.part.bytes],
      ['archive', `tar -cf - \\| gzip -${level}`, tar.seconds, mb / tar.seconds, tar.maxRssKiB, tarBytes],
      ['extract', 'helper restoreDirectory (hash check + staging + swap)', helperRestore.seconds, mb / helperRestore.seconds, helperRestore.maxRssKiB, 0],
      ['extract', 'tar -xzf', tarRestore.seconds, mb / tarRestore.seconds, tarRestore.maxRssKiB, 0],
    ] as const;
    console.log(`\nTree: ${info.files} files (${values.files} small + 1 of ${values['large-mb']} MiB), ${mb.toFixed(0)} MB; gzip level ${level}; ${(await readdir(tree)).length} top-level entries`);
    console.log('| step | tool | seconds | MB/s | peak RSS MiB | output MB |');
    console.log('|---|---|---|---|---|---|');
    for (const [step, tool, s, rate, rss, out] of rows) {
      console.log(`| ${step} | ${tool} | ${s.toFixed(1)} | ${rate.toFixed(1)} | ${(rss / 1024).toFixed(0)} | ${out ? (out / 1e6).toFixed(1) : ''} |`);
    }
    console.log(`\nratio helper/tar, archive time: ${(helper.seconds / tar.seconds).toFixed(2)}; extract time: ${(helperRestore.seconds / tarRestore.seconds).toFixed(2)}`);
    console.log(`helper times without process start-up (tsx compiling the TypeScript): archive ${helperOut.seconds.toFixed(1)} s (ratio ${(helperOut.seconds / tar.seconds).toFixed(2)}), extract ${helperRestoreOut.seconds.toFixed(1)} s (ratio ${(helperRestoreOut.seconds / tarRestore.seconds).toFixed(2)})`);
    console.log(`helper archive RSS sampled every 50 ms peaked at ${(helperOut.sampledMaxRss / 1048576).toFixed(0)} MiB (GNU time: ${(helper.maxRssKiB / 1024).toFixed(0)} MiB)`);
  } finally {
    if (!values.keep) await rm(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  }
}

async function run(command: string, args: string[]): Promise<void> {
  const c = spawn(command, args, { stdio: 'ignore' });
  await once(c, 'close');
}

await main();
