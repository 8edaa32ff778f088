/**
 * Runs one benchmarked command and measures it: wall time (monotonic clock), peak RSS of the
 * largest single process (GNU time's %M, i.e. the kernel's ru_maxrss over the waited-for
 * process tree) and peak RSS of the whole process tree (sampled from /proc every 100 ms, so
 * a pipeline `a | b` counts a and b together).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  seconds: number;
  /** Largest single process, MiB (GNU time %M), or NaN without /usr/bin/time. */
  peakRssMiB: number;
  /** Largest sum over the process tree seen by sampling, MiB. */
  treeRssMiB: number;
  /** User + system CPU seconds of the command's processes (GNU time %U + %S; not the server's). */
  cpuSeconds: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep the last this many characters of stdout (default 256 KB). */
  keepStdout?: number;
}

const GNU_TIME = '/usr/bin/time';
const PAGE_SIZE = 4096;

/** Runs `bash -c script` and measures it. Never throws for a non-zero exit: the caller decides. */
export async function measureShell(script: string, options: RunOptions = {}): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'cbbench-time-'));
  const timeFile = join(dir, 'time.txt');
  const haveTime = existsSync(GNU_TIME);
  // pipefail: a pipeline whose first stage fails (mariadb-dump) must not look like a success.
  const command = haveTime ? GNU_TIME : 'bash';
  const args = haveTime
    ? ['-f', '%M %e %U %S', '-o', timeFile, 'bash', '-o', 'pipefail', '-c', script]
    : ['-o', 'pipefail', '-c', script];
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = options.keepStdout ?? 256_000;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout = (stdout + d.toString('utf8')).slice(-keep);
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-20_000);
  });
  let treePeak = 0;
  const sampler = setInterval(() => {
    if (child.pid !== undefined) treePeak = Math.max(treePeak, treeRssBytes(child.pid));
  }, 100);
  const exitCode: number = await new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  clearInterval(sampler);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let peakRssMiB = Number.NaN;
  let cpuSeconds = Number.NaN;
  if (haveTime) {
    const text = await readFile(timeFile, 'utf8').catch(() => '');
    // The last line holds "%M %e %U %S"; earlier lines may say "Command exited with non-zero status".
    const fields = (text.trim().split('\n').at(-1) ?? '').split(' ').map(Number);
    if (Number.isFinite(fields[0])) peakRssMiB = fields[0]! / 1024;
    if (Number.isFinite(fields[2]) && Number.isFinite(fields[3])) cpuSeconds = fields[2]! + fields[3]!;
  }
  await rm(dir, { recursive: true, force: true });
  return { seconds, peakRssMiB, treeRssMiB: treePeak / (1024 * 1024), cpuSeconds, exitCode, stdout, stderr };
}

/** Sum of resident memory of `root` and all its descendants, bytes. */
export function treeRssBytes(root: number): number {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const parent = Number(fields[1]);
      const list = children.get(parent) ?? [];
      list.push(Number(entry));
      children.set(parent, list);
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    try {
      const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
      total += Number(statm[1]) * PAGE_SIZE;
    } catch {
      // gone
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Quotes a value for bash. */
export function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Total size of the regular files under a directory (what a destination or repository holds); 0 when absent. */
export async function directoryBytes(root: string): Promise<number> {
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) total += (await lstat(path)).size;
    }
  };
  await walk(root);
  return total;
}

/**
 * The newest set at a destination, as a path the helper's `restore` takes: a 0.1.0 set
 * (`<dir>/<id>/manifest.json`) or a deduplicated one (`<dir>/sets/<id>/manifest.json`).
 */
export async function newestSetPath(dir: string): Promise<string | undefined> {
  const { existsSync } = await import('node:fs');
  const { readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const candidates: Array<{ id: string; path: string }> = [];
  for (const base of [dir, join(dir, 'sets')]) {
    for (const name of await readdir(base).catch(() => [] as string[])) {
      if (existsSync(join(base, name, 'manifest.json'))) candidates.push({ id: name, path: join(base, name) });
    }
  }
  return candidates.sort((a, b) => (a.id < b.id ? 1 : -1))[0]?.path;
}
