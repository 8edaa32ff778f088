/** What every CLI verb implements; cli.ts parses the verb and handles output and exit codes. */
import type { Command } from '../../protocol/events.js';
import type { Reporter } from '../core/reporter.js';

export interface CommandContext {
  /** Arguments after the verb. */
  args: string[];
  reporter: Reporter;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Human output (not --json): commands may print a short report to stdout. */
  print: (line: string) => void;
}

export interface CommandResult {
  /** Path or URL of the set the command wrote or read. */
  set?: string;
  summary: Record<string, unknown>;
  /** Default 0; verify uses 3 when it found damage it reports in the summary. */
  exitCode?: number;
}

export interface CommandModule {
  name: Command;
  summary: string;
  usage: string;
  run(context: CommandContext): Promise<CommandResult>;
}
