/**
 * What a retention policy keeps, previewed on a simulated history: one backup per scheduled
 * period over the last two years (400 days for hourly runs). It calls the helper's own pure
 * policy (ts-src/protocol/retention-policy.ts: type-only imports, no node: modules, a few
 * hundred bytes minified), so the preview and the real pruning can never disagree.
 */
import type { RetentionPolicy } from '../../protocol/job.js';
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
