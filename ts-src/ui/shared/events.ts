/**
 * The page's custom events: typed, bubbling and composed, so the app root hears them across
 * shadow roots. Listen with `addEventListener(RUN_STARTED, ...)`; detail types are checked
 * through HTMLElementEventMap.
 */
import type { HelperEvent } from '../../protocol/events.js';

export const RUN_STARTED = 'civibackup-run-started';
export const RUN_FINISHED = 'civibackup-run-finished';
export const SETS_CHANGED = 'civibackup-sets-changed';
export const CONFIG_SAVED = 'civibackup-config-saved';

export interface RunStartedDetail {
  runId: string;
}
export interface RunFinishedDetail {
  runId: string;
  outcome: 'done' | 'error' | 'cancelled';
  lastEvent: HelperEvent | null;
  /** A restore over the live site: its safety backup's set id, when it was written. */
  safetySetId?: string;
}
export interface SetsChangedDetail {
  reason: 'deleted' | 'verified' | 'restored';
  setId: string;
}

export function pageEvent<T>(name: string, detail: T): CustomEvent<T> {
  return new CustomEvent<T>(name, { detail, bubbles: true, composed: true });
}

declare global {
  interface HTMLElementEventMap {
    'civibackup-run-started': CustomEvent<RunStartedDetail>;
    'civibackup-run-finished': CustomEvent<RunFinishedDetail>;
    'civibackup-sets-changed': CustomEvent<SetsChangedDetail>;
    'civibackup-config-saved': CustomEvent<Record<string, never>>;
  }
}
