/**
 * Inputs of the retention golden files. Each case becomes golden/<name>.json holding the input
 * and the expected decisions; `UPDATE_GOLDEN=1` rewrites the expected part from the code (then
 * read the diff before committing it).
 */
import type { RetentionPolicy } from '../../../ts-src/protocol/job.js';
import type { RetentionSet } from '../../../ts-src/protocol/retention-policy.js';

export interface RetentionCase {
  name: string;
  description: string;
  now: string;
  policy: RetentionPolicy;
  sets: RetentionSet[];
}

/** A set id like the set store makes: yyyymmddThhmmssZ-<suffix>. */
function idFor(iso: string, suffix: string): string {
  return `${iso.slice(0, 19).replace(/[-:]/g, '')}Z-${suffix}`;
}

function set(iso: string, extra: Partial<RetentionSet> = {}, suffix = 'a1b2'): RetentionSet {
  return { id: idFor(iso, suffix), time: new Date(iso).toISOString(), complete: true, ...extra };
}

/** One complete set a day at 02:30 UTC, for `days` days ending on `lastDay` (YYYY-MM-DD). */
function daily(lastDay: string, days: number, skip: number[] = []): RetentionSet[] {
  const out: RetentionSet[] = [];
  const last = Date.parse(`${lastDay}T02:30:00Z`);
  for (let i = 0; i < days; i += 1) {
    if (skip.includes(i)) continue;
    out.push(set(new Date(last - i * 86_400_000).toISOString()));
  }
  return out;
}

export const CASES: RetentionCase[] = [
  {
    name: 'daily-weekly-monthly',
    description: '120 daily sets; keep 7 daily, 4 weekly, 3 monthly: restic buckets, UTC.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 },
    sets: daily('2026-11-26', 120),
  },
  {
    name: 'keep-last-and-hourly',
    description: 'Four sets an hour for a day; keep the last 3 and 6 hourly.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 3, keepHourly: 6 },
    sets: Array.from({ length: 24 * 4 }, (_, i) => set(new Date(Date.parse('2026-11-26T05:50:00Z') - i * 15 * 60_000).toISOString())),
  },
  {
    name: 'yearly',
    description: 'One set on the 1st of each month over 3 years; keep 2 monthly and 3 yearly.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepMonthly: 2, keepYearly: 3 },
    sets: Array.from({ length: 36 }, (_, i) => set(new Date(Date.UTC(2026, 10 - i, 1, 3, 0, 0)).toISOString())),
  },
  {
    name: 'gaps-of-failed-days',
    description: 'Daily sets with failed days (no set) in between: keep-daily 5 counts days that have a set, reaching further back.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepDaily: 5 },
    sets: daily('2026-11-26', 14, [1, 2, 4, 7, 8, 9]),
  },
  {
    name: 'clock-skew',
    description: 'Two sets dated in the future (a wrong clock) are kept but do not consume keep-last; the newest real set is still protected; 2 min ahead is within tolerance.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 2 },
    sets: [
      set('2031-01-01T00:00:00Z', {}, 'fut1'),
      set('2026-11-27T02:30:00Z', {}, 'fut2'),
      set('2026-11-26T06:02:00Z', {}, 'skew'),
      ...daily('2026-11-26', 5),
    ],
  },
  {
    name: 'pinned-set',
    description: 'A pinned set far back survives keep-last 2; a pinned incomplete set is kept too.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 2 },
    sets: [
      ...daily('2026-11-26', 6).map((s, i) => (i === 4 ? { ...s, pinned: true } : s)),
      { id: idFor('2026-11-10T02:30:00Z', 'pinx'), time: '2026-11-10T02:30:00.000Z', complete: false, pinned: true },
    ],
  },
  {
    name: 'only-one-complete-set',
    description: 'One complete set (6 days old) among incomplete ones: it is kept; incomplete sets older than 24 h go, a young one (a run in progress) stays.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 1 },
    sets: [
      { id: idFor('2026-11-26T05:30:00Z', 'run1'), time: '2026-11-26T05:30:00.000Z', complete: false },
      { id: idFor('2026-11-25T02:30:00Z', 'dead'), time: '2026-11-25T02:30:00.000Z', complete: false },
      set('2026-11-20T02:30:00Z'),
      { id: idFor('2026-11-19T02:30:00Z', 'dead'), time: '2026-11-19T02:30:00.000Z', complete: false },
    ],
  },
  {
    name: 'all-incomplete',
    description: 'No complete set at all: nothing counts; incomplete sets older than 24 h are removed, younger ones kept.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 3, keepDaily: 7 },
    sets: [
      { id: idFor('2026-11-26T05:59:00Z', 'now1'), time: '2026-11-26T05:59:00.000Z', complete: false },
      { id: idFor('2026-11-25T06:30:00Z', 'edge'), time: '2026-11-25T06:30:00.000Z', complete: false },
      { id: idFor('2026-11-25T05:00:00Z', 'old1'), time: '2026-11-25T05:00:00.000Z', complete: false },
      { id: idFor('2026-11-01T02:30:00Z', 'old2'), time: '2026-11-01T02:30:00.000Z', complete: false },
    ],
  },
  {
    name: 'newest-restorable-protected',
    description: 'Only the 2 newest are kept by policy, but the newest set proven restorable (older) is kept; an older restorable one is not.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 2 },
    sets: daily('2026-11-26', 8).map((s, i) => (i === 4 || i === 6 ? { ...s, verification: 'restorable' as const } : i < 2 ? { ...s, verification: 'hashes-ok' as const } : s)),
  },
  {
    name: 'no-rule-keeps-everything',
    description: 'An empty policy never removes a complete set; old incomplete sets still go.',
    now: '2026-11-26T06:00:00Z',
    policy: {},
    sets: [...daily('2026-11-26', 3), { id: idFor('2026-11-01T02:30:00Z', 'old1'), time: '2026-11-01T02:30:00.000Z', complete: false }],
  },
  {
    name: 'damaged-sets-not-counted',
    description: 'keep-last 2 with damaged sets among them: they take no slot (an older good set is kept instead) and are kept, never removed by retention.',
    now: '2026-11-26T06:00:00Z',
    policy: { keepLast: 2 },
    sets: [
      set('2026-11-26T02:30:00Z', { verification: 'damaged' }),
      set('2026-11-25T02:30:00Z'),
      set('2026-11-24T02:30:00Z', { verification: 'damaged' }),
      set('2026-11-23T02:30:00Z', { verification: 'restorable' }),
      set('2026-11-22T02:30:00Z'),
    ],
  },
  {
    name: 'utc-buckets-and-week-edges',
    description: 'Sets around midnight UTC and across an ISO week/year edge (2026-12-31 Thu .. 2027-01-04 Mon): keep 3 daily, 2 weekly, 2 yearly.',
    now: '2027-01-05T00:00:00Z',
    policy: { keepDaily: 3, keepWeekly: 2, keepYearly: 2 },
    sets: [
      set('2027-01-04T00:00:01Z', {}, 'mon1'),
      set('2027-01-03T23:59:59Z', {}, 'sun2'),
      set('2027-01-03T00:10:00Z', {}, 'sun1'),
      set('2027-01-01T12:00:00Z', {}, 'fri1'),
      set('2026-12-31T23:59:59Z', {}, 'thu1'),
      set('2026-12-28T10:00:00Z', {}, 'mon0'),
      set('2026-12-27T10:00:00Z', {}, 'sun0'),
    ],
  },
];
