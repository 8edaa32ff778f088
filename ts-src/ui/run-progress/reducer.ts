/**
 * Pure reducer from the helper's progress events (ts-src/protocol/events.ts) to what the
 * run-progress view shows. No DOM, no clock: time comes from the events themselves, so the
 * same NDJSON always yields the same state (tests replay recorded runs).
 *
 * Events may arrive twice (overlapping polls) or out of order; anything with a seq at or
 * below the last one applied is ignored, so folding is idempotent.
 */
import type { ErrorCode } from '../../protocol/errors.js';
import type { Command, HelperEvent, Phase } from '../../protocol/events.js';

export interface RunWarning {
  code: string;
  message: string;
  item?: string;
}

export type RunOutcome =
  | { kind: 'done'; set: string | null; summary: Record<string, unknown> }
  | { kind: 'error'; code: ErrorCode; message: string; hint: string; retryable: boolean };

export interface RunViewState {
  runId: string | null;
  command: Command | null;
  /** Set id or path being written or read, when the helper named it. */
  set: string | null;
  phase: Phase | null;
  /** Phases in the order they began, for a step list. */
  phases: Phase[];
  /** Table or directory label currently worked on. */
  item: string | null;
  /** File path inside a directory being archived, when reported. */
  path: string | null;
  rows: number | null;
  rowsTotal: number | null;
  /** Uncompressed bytes processed so far in the current phase. */
  bytes: number;
  bytesTotal: number | null;
  itemsDone: number | null;
  itemsTotal: number | null;
  /** Bytes per second in the current phase, from event timestamps. */
  throughput: number | null;
  /** Seconds left in the current phase, when a total is known and progress was measured. */
  etaSeconds: number | null;
  /** 0..100 for the current phase, or null when no total is known (indeterminate). */
  percent: number | null;
  warnings: RunWarning[];
  outcome: RunOutcome | null;
  startedAt: string | null;
  lastTime: string | null;
  lastSeq: number;
  /** ms timestamp when the current phase began (from its phase event). */
  phaseStartedMs: number | null;
}

export const INITIAL_RUN_STATE: RunViewState = Object.freeze({
  runId: null,
  command: null,
  set: null,
  phase: null,
  phases: [],
  item: null,
  path: null,
  rows: null,
  rowsTotal: null,
  bytes: 0,
  bytesTotal: null,
  itemsDone: null,
  itemsTotal: null,
  throughput: null,
  etaSeconds: null,
  percent: null,
  warnings: [],
  outcome: null,
  startedAt: null,
  lastTime: null,
  lastSeq: 0,
  phaseStartedMs: null,
}) as RunViewState;

function timeMs(iso: string): number | null {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

function clampPercent(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.max(0, Math.min(100, Math.round((done / total) * 1000) / 10));
}

/** Percent of the phase: bytes when a byte total is known, else items, else rows, else none. */
function phasePercent(s: RunViewState): number | null {
  if (s.bytesTotal !== null && s.bytesTotal > 0) return clampPercent(s.bytes, s.bytesTotal);
  if (s.itemsTotal !== null && s.itemsTotal > 0 && s.itemsDone !== null) return clampPercent(s.itemsDone, s.itemsTotal);
  if (s.rowsTotal !== null && s.rowsTotal > 0 && s.rows !== null) return clampPercent(s.rows, s.rowsTotal);
  return null;
}

function withRates(s: RunViewState, now: number | null): RunViewState {
  let throughput: number | null = null;
  let etaSeconds: number | null = null;
  if (now !== null && s.phaseStartedMs !== null && now > s.phaseStartedMs && s.bytes > 0) {
    throughput = s.bytes / ((now - s.phaseStartedMs) / 1000);
    if (s.bytesTotal !== null && s.bytesTotal >= s.bytes && throughput > 0) {
      etaSeconds = Math.round((s.bytesTotal - s.bytes) / throughput);
    }
  }
  return { ...s, throughput, etaSeconds, percent: phasePercent(s) };
}

export function reduceRunEvent(state: RunViewState, event: HelperEvent): RunViewState {
  if (event.seq <= state.lastSeq) return state;
  // Once a run has an outcome nothing later changes it (a stray event after the result).
  if (state.outcome) return state;
  const base: RunViewState = {
    ...state,
    runId: state.runId ?? event.runId,
    lastSeq: event.seq,
    lastTime: event.time,
    startedAt: state.startedAt ?? event.time,
  };
  switch (event.type) {
    case 'start':
      return { ...base, command: event.command, set: event.set ?? base.set };
    case 'phase':
      return withRates(
        {
          ...base,
          phase: event.phase,
          phases: base.phases.includes(event.phase) ? base.phases : [...base.phases, event.phase],
          item: null,
          path: null,
          rows: null,
          rowsTotal: event.totalRows ?? null,
          bytes: 0,
          bytesTotal: event.totalBytes ?? null,
          itemsDone: event.totalItems !== undefined ? 0 : null,
          itemsTotal: event.totalItems ?? null,
          phaseStartedMs: timeMs(event.time),
        },
        timeMs(event.time),
      );
    case 'progress': {
      const samePhase = base.phase === event.phase;
      const next: RunViewState = {
        ...base,
        phase: event.phase,
        phases: base.phases.includes(event.phase) ? base.phases : [...base.phases, event.phase],
        phaseStartedMs: samePhase ? base.phaseStartedMs : timeMs(event.time),
        item: event.item,
        path: event.path ?? null,
        rows: event.rows ?? null,
        rowsTotal: event.rowsTotal ?? (samePhase ? base.rowsTotal : null),
        bytes: event.bytes,
        bytesTotal: event.bytesTotal ?? (samePhase ? base.bytesTotal : null),
        itemsDone: event.itemsDone ?? (samePhase ? base.itemsDone : null),
        itemsTotal: event.itemsTotal ?? (samePhase ? base.itemsTotal : null),
      };
      return withRates(next, timeMs(event.time));
    }
    case 'warning':
      return {
        ...base,
        warnings: [...base.warnings, { code: event.code, message: event.message, ...(event.item ? { item: event.item } : {}) }],
      };
    case 'result':
      return {
        ...base,
        command: base.command ?? event.command,
        set: event.set ?? base.set,
        percent: 100,
        etaSeconds: 0,
        outcome: { kind: 'done', set: event.set ?? base.set, summary: event.summary },
      };
    case 'error':
      return {
        ...base,
        etaSeconds: null,
        outcome: { kind: 'error', code: event.code, message: event.message, hint: event.hint, retryable: event.retryable },
      };
    default:
      return base;
  }
}

/** Folds a batch of events (e.g. one Backup.status poll, or a recorded NDJSON file). */
export function reduceRunEvents(state: RunViewState, events: readonly HelperEvent[]): RunViewState {
  return [...events].sort((a, b) => a.seq - b.seq).reduce(reduceRunEvent, state);
}
