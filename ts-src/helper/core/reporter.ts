/**
 * One event stream, two printers (as restic does): NDJSON on stdout with --json, or human
 * lines plus a live progress bar on stderr for a terminal. Code emits event bodies; the
 * reporter numbers and stamps them.
 */
import { randomBytes } from 'node:crypto';
import type { EventBody, HelperEvent, PhaseEvent, ProgressEvent } from '../../protocol/events.js';
import { EVENT_VERSION } from '../../protocol/events.js';
import { redactSecrets } from './redact.js';

export type OutputMode = 'json' | 'tty' | 'plain' | 'silent';

export interface Reporter {
  readonly runId: string;
  emit(body: EventBody): HelperEvent;
  /** Progress is throttled: at most one event per interval per phase, plus the final one. */
  progress(body: EventBody<ProgressEvent>, force?: boolean): void;
  readonly events: readonly HelperEvent[];
}

export interface ReporterOptions {
  mode: OutputMode;
  runId?: string;
  /** Keep emitted events in memory (tests, and the result summary). */
  keep?: boolean;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  progressIntervalMs?: number;
  /** Extra listener, e.g. a test collecting events. */
  onEvent?: (event: HelperEvent) => void;
}

export function createRunId(): string {
  return randomBytes(6).toString('hex');
}

export function createReporter(options: ReporterOptions): Reporter {
  const runId = options.runId ?? createRunId();
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const interval = options.progressIntervalMs ?? (options.mode === 'json' ? 500 : 200);
  const events: HelperEvent[] = [];
  let seq = 0;
  let lastProgressAt = 0;
  let phase: PhaseEvent | undefined;
  let phaseStartedAt = Date.now();
  let barShown = false;

  const clearBar = (): void => {
    if (barShown) {
      err.write('\r\x1b[2K');
      barShown = false;
    }
  };

  const printHuman = (event: HelperEvent): void => {
    switch (event.type) {
      case 'start':
        err.write(`civibackup ${event.command}${event.set ? ` ${event.set}` : ''} (run ${event.runId})\n`);
        break;
      case 'phase':
        clearBar();
        err.write(`- ${event.phase}\n`);
        break;
      case 'progress':
        if (options.mode === 'tty') {
          err.write(`\r\x1b[2K${formatProgressLine(event, phase, phaseStartedAt, err.columns ?? 100)}`);
          barShown = true;
        }
        break;
      case 'warning':
        clearBar();
        err.write(`warning: ${event.message}\n`);
        break;
      case 'result':
        clearBar();
        break;
      case 'error':
        clearBar();
        err.write(`error [${event.code}]: ${event.message}\n  what to do: ${event.hint}\n`);
        break;
    }
  };

  const emit = (body: EventBody): HelperEvent => {
    seq += 1;
    const event = redactSecrets({ v: EVENT_VERSION, seq, runId, time: new Date().toISOString(), ...body }) as HelperEvent;
    if (event.type === 'phase') {
      phase = event;
      phaseStartedAt = Date.now();
    }
    if (options.keep) events.push(event);
    options.onEvent?.(event);
    if (options.mode === 'json') out.write(`${JSON.stringify(event)}\n`);
    else if (options.mode !== 'silent') printHuman(event);
    return event;
  };

  return {
    runId,
    events,
    emit,
    progress(body, force = false) {
      const now = Date.now();
      if (!force && now - lastProgressAt < interval) return;
      lastProgressAt = now;
      emit(body);
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function formatProgressLine(event: ProgressEvent, phase: PhaseEvent | undefined, startedAt: number, columns: number): string {
  const elapsed = (Date.now() - startedAt) / 1000;
  const total = event.bytesTotal ?? phase?.totalBytes;
  const fraction = total && total > 0 ? Math.min(1, event.bytes / total) : undefined;
  const width = 20;
  const bar = fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}] ${(fraction * 100).toFixed(0)}% `;
  const rate = elapsed > 0 ? event.bytes / elapsed : 0;
  const eta = fraction && fraction > 0 && rate > 0 && total ? ` ETA ${Math.max(0, Math.round((total - event.bytes) / rate))}s` : '';
  const rows = event.rows !== undefined ? ` ${event.rows} rows` : '';
  const files = event.files !== undefined ? ` ${event.files} files` : '';
  const line = `${bar}${event.phase} ${event.item}${rows}${files} ${formatBytes(event.bytes)} ${formatBytes(rate)}/s${eta}`;
  return line.length > columns - 1 ? line.slice(0, columns - 1) : line;
}
