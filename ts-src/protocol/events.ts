/**
 * Progress events: the helper prints one JSON object per line (`--json`); PHP stores them
 * and the page polls them. Version `v` changes only when a field changes meaning.
 */
import type { ErrorCode } from './errors.js';

export const EVENT_VERSION = 1 as const;

export type Command = 'backup' | 'restore' | 'verify' | 'list' | 'prune' | 'keygen' | 'delete' | 'test-destination';

/** Phases in the order a backup passes them; restore and verify use a subset. */
export type Phase =
  | 'prepare'
  | 'schema'
  | 'data'
  | 'objects'
  | 'logdb'
  | 'files'
  | 'manifest'
  | 'upload'
  | 'verify'
  | 'restore'
  /** Restore over a live database: the staged tables are swapped in. */
  | 'swap'
  | 'prune'
  | 'cleanup';

interface EventBase {
  v: typeof EVENT_VERSION;
  /** 1, 2, 3... per run, so a poller asks for "events after seq N". */
  seq: number;
  runId: string;
  /** ISO 8601 UTC. */
  time: string;
}

export interface StartEvent extends EventBase {
  type: 'start';
  command: Command;
  toolVersion: string;
  /** Set id (directory name) being written or read, when known. */
  set?: string;
}

export interface PhaseEvent extends EventBase {
  type: 'phase';
  phase: Phase;
  /** Estimates for the phase when known, for the ETA. */
  totalBytes?: number;
  totalRows?: number;
  totalItems?: number;
}

export interface ProgressEvent extends EventBase {
  type: 'progress';
  phase: Phase;
  /** Table name, or directory label, currently worked on. */
  item: string;
  rows?: number;
  rowsTotal?: number;
  /** Uncompressed bytes processed so far in this phase. */
  bytes: number;
  bytesTotal?: number;
  files?: number;
  /** Path inside a directory being archived or extracted. */
  path?: string;
  /** Items done and total in this phase (tables, directories, parts). */
  itemsDone?: number;
  itemsTotal?: number;
}

export interface WarningEvent extends EventBase {
  type: 'warning';
  code: string;
  message: string;
  item?: string;
  path?: string;
}

export interface ResultEvent extends EventBase {
  type: 'result';
  command: Command;
  /** Absolute path (or destination URL) of the set the command wrote or read. */
  set?: string;
  /** Command-specific summary: sizes, counts, verification state. */
  summary: Record<string, unknown>;
}

export interface ErrorEvent extends EventBase {
  type: 'error';
  code: ErrorCode;
  message: string;
  hint: string;
  retryable: boolean;
  exitCode: number;
}

export type HelperEvent = StartEvent | PhaseEvent | ProgressEvent | WarningEvent | ResultEvent | ErrorEvent;

/** Event bodies as emitted by code; the reporter adds v, seq, runId and time. */
export type EventBody<E extends HelperEvent = HelperEvent> = E extends HelperEvent
  ? Omit<E, keyof EventBase>
  : never;

/** Parses one NDJSON line; returns null for blank or non-event lines (e.g. a stray log line). */
export function parseEventLine(line: string): HelperEvent | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    const value = JSON.parse(trimmed) as Partial<HelperEvent>;
    if (value && value.v === EVENT_VERSION && typeof value.seq === 'number' && typeof value.type === 'string') {
      return value as HelperEvent;
    }
  } catch {
    /* not an event */
  }
  return null;
}
