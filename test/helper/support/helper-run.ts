/** Runs the built helper bundle as a user would, collecting its NDJSON events. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { HelperEvent } from '../../../ts-src/protocol/events.js';
import { HELPER_BUNDLE } from './paths.js';

export interface HelperRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  events: HelperEvent[];
  stdout: string;
  stderr: string;
}

export function assertBundleBuilt(): void {
  if (!existsSync(HELPER_BUNDLE)) throw new Error(`${HELPER_BUNDLE} is missing: run \`npx rollup -c --silent\` (npm test builds it).`);
}

export function parseEvents(stdout: string): HelperEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as HelperEvent);
}

export function runHelper(args: string[], env: NodeJS.ProcessEnv = {}): HelperRun {
  const run = spawnSync(process.execPath, [HELPER_BUNDLE, ...args, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: run.status, signal: run.signal, events: parseEvents(run.stdout), stdout: run.stdout, stderr: run.stderr };
}

/** Starts the helper and lets the caller act while it runs (kill it, kill its connection...). */
export function startHelper(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [HELPER_BUNDLE, ...args, '--json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<HelperRun>((resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal, events: parseEvents(stdout), stdout, stderr }));
  });
  return { child, done, events: () => parseEvents(stdout) };
}

/** What runHelperAsync() returns: events loosely typed, so tests read any field. */
export interface CliRun {
  status: number;
  events: Array<Record<string, unknown> & { type: string }>;
  /** The last event, or {type: 'none'} when the helper printed none. */
  last: Record<string, unknown> & { type: string };
  stdout: string;
  stderr: string;
  /** stdout and stderr together, in arrival order (for "no secret anywhere" checks). */
  output: string;
}

/**
 * Runs the bundle asynchronously, so the test runner and in-process servers (s3rver) keep
 * running while the helper works. `json: false` leaves out --json (the human output).
 */
export function runHelperAsync(args: string[], env: NodeJS.ProcessEnv = {}, options: { json?: boolean } = {}): Promise<CliRun> {
  const json = options.json ?? true;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HELPER_BUNDLE, ...args, ...(json ? ['--json'] : [])], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      output += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      output += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const events = parseEvents(stdout) as unknown as CliRun['events'];
      resolve({ status: code ?? 1, events, last: events.at(-1) ?? { type: 'none' }, stdout, stderr, output });
    });
  });
}

export function lastEvent(run: HelperRun): HelperEvent | undefined {
  return run.events.at(-1);
}

/** Restores a set's db/ folder with plain tools, exactly as the docs say. */
export function plainRestore(setDir: string, database: string, folder = 'db'): void {
  const run = spawnSync('sh', ['-c', `cd "$1" && zcat ${folder}/*.sql.gz | mariadb -h 127.0.0.1 -u root "$2"`, 'sh', setDir, database], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`plain restore failed (${run.status}): ${run.stderr}`);
}

/**
 * Runs the bundle until it pauses at a named point (CIVIBACKUP_TEST_PAUSE_AT, see
 * ts-src/helper/core/test-pause.ts), or until `until` says so, then SIGKILLs it: a crash at
 * that exact moment. Returns what it printed.
 */
export async function killWhenPaused(args: string[], point: string | null, until?: () => Promise<boolean>, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [HELPER_BUNDLE, ...args, '--json'], {
    env: { ...process.env, ...env, ...(point ? { CIVIBACKUP_TEST_PAUSE_AT: point } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (point && stderr.includes(`civibackup-test-pause ${point}`)) break;
    if (until && (await until())) break;
    if (child.exitCode !== null) throw new Error(`the helper ended before ${point ?? 'the moment'}: ${stdout.slice(-600)} ${stderr.slice(-400)}`);
    if (Date.now() > deadline) throw new Error(`the helper never reached ${point ?? 'the moment'}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  await closed;
  return { stdout, stderr };
}
