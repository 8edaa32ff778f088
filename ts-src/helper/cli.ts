#!/usr/bin/env node
/**
 * civibackup: the bundled helper's entry point. Parses the verb, sets up the event reporter,
 * turns every failure into an `error` event with a stable code, and exits 0/1/2/3.
 */
import { COMMANDS } from './commands/index.js';
import { BackupError, toBackupError } from './core/errors.js';
import { createReporter, type OutputMode } from './core/reporter.js';
import { TOOL_VERSION } from './version.js';

const MIN_NODE_MAJOR = 20;

function helpText(): string {
  const lines = [`civibackup ${TOOL_VERSION}: backups of a CiviCRM site`, '', 'usage:'];
  for (const command of COMMANDS) lines.push(`  ${command.usage}`, `      ${command.summary}`);
  lines.push('', 'Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 damage found.');
  lines.push('Secrets come from the environment (CIVIBACKUP_DSN, ...) or files, never from the command line.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  if (args[0] === '--version' || args[0] === '-V') {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return 0;
  }
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return args.length === 0 ? 2 : 0;
  }
  const mode: OutputMode = json ? 'json' : process.stderr.isTTY ? 'tty' : 'plain';
  // The extension chooses the run id (its run directory's name) and passes it in, so the
  // events' runId matches what Backup.run returned to the page.
  const givenRunId = process.env.CIVIBACKUP_RUN_ID;
  const runId = givenRunId && /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(givenRunId) ? givenRunId : undefined;
  const reporter = createReporter({ mode, runId });
  const command = COMMANDS.find((c) => c.name === args[0]);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const major = Number(process.versions.node.split('.')[0]);
    if (major < MIN_NODE_MAJOR) throw new BackupError('NODE_VERSION', `Node.js ${process.versions.node} is too old.`);
    if (!command) throw new BackupError('USAGE', `Unknown command "${args[0]}".\n${helpText()}`);
    reporter.emit({ type: 'start', command: command.name, toolVersion: TOOL_VERSION });
    const result = await command.run({
      args: args.slice(1),
      reporter,
      env: process.env,
      signal: controller.signal,
      print: (line) => {
        if (!json) process.stdout.write(`${line}\n`);
      },
    });
    reporter.emit({ type: 'result', command: command.name, set: result.set, summary: result.summary });
    return result.exitCode ?? 0;
  } catch (thrown) {
    const error = controller.signal.aborted ? new BackupError('CANCELLED', 'The run was cancelled.', { cause: thrown }) : toBackupError(thrown);
    reporter.emit({
      type: 'error',
      code: error.code,
      message: error.message,
      hint: error.hint,
      retryable: error.retryable,
      exitCode: error.exitCode,
    });
    if (error.code === 'INTERNAL' && process.env.CIVIBACKUP_DEBUG) process.stderr.write(`${(thrown as Error).stack ?? ''}\n`);
    return error.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// If the event loop empties while the command still awaits (a stream that never ends or
// errors), Node would exit 0 with nothing done: make that a failure, never a silent success.
let settled = false;
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('civibackup: stopped before the command finished (an internal wait never ended); nothing was completed.\n');
  process.exitCode = 1;
});

// Flush stdout before exiting so a piped NDJSON consumer sees the last line.
main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    settled = true;
    process.stderr.write(`civibackup: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
