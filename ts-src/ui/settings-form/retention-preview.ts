/**
 * What a retention policy keeps, previewed on a simulated history: one backup per scheduled
 * period over the last two years (400 days for hourly runs). It calls the helper's own pure
 * policy (ts-src/protocol/retention-policy.ts: type-only imports, no node: modules, a few
 * hundred bytes minified), so the preview and the real pruning can never disagree.
 */
import type { RetentionPolicy } from '../../protocol/job.js';
import type { SetSummary } from '../../protocol/sets.js';
import { applyRetention, policyIsEmpty, type RetentionSet } from '../../protocol/retention-policy.js';

export type ScheduleFrequency = 'Hourly' | 'Daily' | 'Weekly' | 'Monthly';

const STEP_MS: Record<ScheduleFrequency, number> = {
  Hourly: 3_600_000,
  Daily: 86_400_000,
  Weekly: 7 * 86_400_000,
  Monthly: 30 * 86_400_000,
};

export interface RetentionPreview {
  keepsEverything: boolean;
  simulated: number;
  kept: Array<{ time: string; reasons: string[] }>;
  /** Age of the oldest kept set in days. */
  reachDays: number;
}

export function previewRetention(policy: RetentionPolicy, frequency: ScheduleFrequency, now: Date): RetentionPreview {
  const spanDays = frequency === 'Hourly' ? 400 : 730;
  const step = STEP_MS[frequency];
  const count = Math.floor((spanDays * 86_400_000) / step);
  const sets: RetentionSet[] = [];
  for (let i = 0; i < count; i++) {
    const time = new Date(now.getTime() - i * step).toISOString();
    sets.push({ id: `sim-${i}`, time, complete: true });
  }
  const decisions = applyRetention(sets, policy, now);
  const kept = decisions.filter((d) => d.action === 'keep').map((d) => ({ time: d.time, reasons: d.reasons }));
  const oldest = kept.length ? Date.parse(kept[kept.length - 1].time) : now.getTime();
  return {
    keepsEverything: policyIsEmpty(policy),
    simulated: count,
    kept,
    reachDays: Math.round((now.getTime() - oldest) / 86_400_000),
  };
}

export interface SpaceEstimate {
  /** Estimated bytes at the destination once the policy keeps `keptCount` sets. */
  bytes: number;
  /** Bytes a new set adds, estimated from recent sets (the median). */
  perSetBytes: number;
  /** True when the estimate comes from deduplicated sets (each adds what changed). */
  deduplicated: boolean;
}

/** How many recent sets the per-set estimate looks at: a week of daily backups. */
const RECENT_SETS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Space the kept sets will take, from the real sizes of this destination's recent sets (the
 * list the page shows, newest first). Deduplicated sets share what did not change: the newest
 * set's referenced bytes, plus what each further kept set adds (the median of the recent sets'
 * added bytes, leaving out the oldest listed set, which may be a first run that stored
 * everything). Full-copy (0.1.0) sets each cost their size. Null without sets to go by.
 */
export function estimateRetainedSpace(sets: readonly SetSummary[], keptCount: number): SpaceEstimate | null {
  const newest = sets[0];
  if (!newest || keptCount < 1) return null;
  const deduplicated = newest.format === 2;
  if (!deduplicated) {
    const perSetBytes = median(sets.slice(0, RECENT_SETS).map((s) => s.bytes));
    return { bytes: perSetBytes * keptCount, perSetBytes, deduplicated };
  }
  const recent = sets.filter((s) => s.format === 2).slice(0, RECENT_SETS + 1);
  // The oldest listed format-2 set may be the first run (it added everything); leave it out
  // when there are others to go by.
  const followUps = recent.length > 1 ? recent.slice(0, -1) : recent;
  const perSetBytes = median(followUps.map((s) => s.addedBytes ?? s.bytes));
  const base = newest.referencedBytes ?? newest.bytes;
  return { bytes: base + perSetBytes * (keptCount - 1), perSetBytes, deduplicated };
}
