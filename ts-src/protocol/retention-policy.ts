/**
 * Retention: which backup sets to keep and which to remove, with the reason for each. A pure
 * function of the sets, the policy and "now", after restic's snapshot policy
 * (internal/data/snapshot_policy.go), so it is tested with golden files.
 *
 * Rules, in the order they are applied:
 *  - Only complete sets (with a manifest) are counted by the keep-* rules.
 *  - keep-last N keeps the N newest complete sets.
 *  - keep-hourly/daily/weekly/monthly/yearly N keep the newest set of each of the N newest
 *    periods THAT HAVE A SET (restic semantics): with keep-daily 7 and two failed days, the 7
 *    kept days reach 9 calendar days back. Periods are UTC: hour, day, ISO week (Monday to
 *    Sunday), month, year; a server in another time zone still buckets by UTC.
 *  - The newest complete set and the newest set whose verification is 'restorable' are never
 *    removed, whatever the policy (so a policy can never delete the last good backup).
 *  - A set that `verify` found damaged is not counted by any keep-* rule, so it cannot take
 *    the slot of a good set; it is kept, not removed, because a wrong verdict must never make
 *    retention delete a set: a person removes it.
 *  - Pinned sets are kept (a `pinned` file beside the manifest, see PINNED_FILE).
 *  - Clock skew: a set dated more than FUTURE_TOLERANCE_MS after `now` is kept and NOT counted,
 *    so a set written while the clock was wrong cannot push real sets out of keep-last.
 *  - Incomplete sets (no manifest) older than 24 h are removed; younger ones are kept, as a
 *    run may still be writing them (possibly from another host).
 *  - A policy with no keep-* rule keeps everything: retention only ever removes when asked to.
 */
import type { RetentionPolicy } from './job.js';
import type { VerificationState } from './sets.js';

/** A file of this name in a set directory (or object under a remote set) pins the set. */
export const PINNED_FILE = 'pinned';
export const INCOMPLETE_GRACE_MS = 24 * 60 * 60 * 1000;
export const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

export interface RetentionSet {
  /** Set id (directory name). */
  id: string;
  /** ISO 8601 UTC: the manifest's createdAt, or the time in the set id for incomplete sets. */
  time: string;
  complete: boolean;
  verification?: VerificationState;
  pinned?: boolean;
}

export type RetentionAction = 'keep' | 'remove';

export interface RetentionDecision {
  id: string;
  time: string;
  action: RetentionAction;
  /** Why, in words; several rules may keep the same set. */
  reasons: string[];
}

type Bucket = { name: string; count: number | undefined; key: (t: Date) => string };

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** ISO 8601 week of a UTC date: "2026-W48" (the year is the week's Thursday's year). */
export function isoWeek(t: Date): string {
  const day = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const weekday = day.getUTCDay() || 7; // Monday 1 .. Sunday 7
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${pad(week)}`;
}

function buckets(policy: RetentionPolicy): Bucket[] {
  return [
    { name: 'hourly', count: policy.keepHourly, key: (t) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}T${pad(t.getUTCHours())}` },
    { name: 'daily', count: policy.keepDaily, key: (t) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}` },
    { name: 'weekly', count: policy.keepWeekly, key: isoWeek },
    { name: 'monthly', count: policy.keepMonthly, key: (t) => `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}` },
    { name: 'yearly', count: policy.keepYearly, key: (t) => `${t.getUTCFullYear()}` },
  ];
}

export function policyIsEmpty(policy: RetentionPolicy): boolean {
  return [policy.keepLast, policy.keepHourly, policy.keepDaily, policy.keepWeekly, policy.keepMonthly, policy.keepYearly].every((n) => !n || n <= 0);
}

/** Newest first; the id breaks ties so the order (and the golden files) are stable. */
function newestFirst(a: { at: number; id: string }, b: { at: number; id: string }): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Decides every set. The result is newest first; the input is not modified. */
export function applyRetention(sets: readonly RetentionSet[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const nowMs = now.getTime();
  const entries = sets
    .map((set) => ({ set, id: set.id, at: Date.parse(set.time), reasons: [] as string[] }))
    .sort(newestFirst);
  const keepAll = policyIsEmpty(policy);

  for (const entry of entries) {
    if (Number.isNaN(entry.at)) entry.reasons.push('unreadable date: kept for a person to look at');
  }
  const dated = entries.filter((e) => !Number.isNaN(e.at));
  const complete = dated.filter((e) => e.set.complete);
  const future = complete.filter((e) => e.at > nowMs + FUTURE_TOLERANCE_MS);
  const present = complete.filter((e) => e.at <= nowMs + FUTURE_TOLERANCE_MS);
  const counted = present.filter((e) => e.set.verification !== 'damaged');

  for (const entry of future) entry.reasons.push('dated in the future (clock skew?): kept, not counted');
  for (const entry of present) {
    if (entry.set.verification === 'damaged') entry.reasons.push('verify found it damaged: kept for a person to look at, not counted');
  }

  if (present[0]) present[0].reasons.push('newest complete set');
  const restorable = counted.find((e) => e.set.verification === 'restorable') ?? future.find((e) => e.set.verification === 'restorable');
  if (restorable) restorable.reasons.push('newest set proven restorable');

  const keepLast = policy.keepLast ?? 0;
  counted.slice(0, Math.max(0, keepLast)).forEach((entry, index) => entry.reasons.push(`last ${index + 1}/${keepLast}`));

  for (const bucket of buckets(policy)) {
    if (!bucket.count || bucket.count <= 0) continue;
    let remaining = bucket.count;
    let lastKey: string | undefined;
    for (const entry of counted) {
      if (remaining === 0) break;
      const key = bucket.key(new Date(entry.at));
      if (key === lastKey) continue;
      lastKey = key;
      remaining -= 1;
      entry.reasons.push(`${bucket.name} ${key}`);
    }
  }

  if (keepAll) for (const entry of counted) if (entry.reasons.length === 0) entry.reasons.push('no retention rule given: keep everything');

  for (const entry of entries) {
    if (entry.set.pinned) entry.reasons.push('pinned');
    if (!entry.set.complete && !Number.isNaN(entry.at)) {
      const age = nowMs - entry.at;
      if (age < INCOMPLETE_GRACE_MS) entry.reasons.push('incomplete, younger than 24 h: a run may still be writing it');
    }
  }

  return entries.map(({ set, reasons }) => {
    if (reasons.length > 0) return { id: set.id, time: set.time, action: 'keep', reasons };
    const why = set.complete ? 'not kept by any rule' : 'incomplete (no manifest) and older than 24 h';
    return { id: set.id, time: set.time, action: 'remove', reasons: [why] };
  });
}
