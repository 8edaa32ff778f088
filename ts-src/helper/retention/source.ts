/**
 * Which sets at a destination a retention run may count and remove: only those of its own
 * source (protocol/manifest.ts sourceIdentity). Several sites, or a production and a staging
 * copy of one site, may be configured with the same directory or offsite prefix; without this
 * filter each site's keep-last counted the other's sets and removed them.
 *
 * This runs BEFORE applyRetention, which stays a pure policy over the sets it is given.
 * - Complete sets of another source are left alone (not counted, never removed) and reported.
 * - Complete sets without any identity are left alone too, unless the person opts in
 *   (`includeUnidentified`), because nobody can tell whose they are.
 * - Incomplete sets (no manifest) and sets whose manifest cannot be read carry no identity;
 *   they go to the policy as before: an incomplete set is removed after 24 h (a leftover of a
 *   killed run or upload, not a backup), an unreadable manifest is kept for a person.
 */
import type { RetentionPolicy } from '../../protocol/job.js';
import { applyRetention, type RetentionDecision, type RetentionSet } from '../../protocol/retention-policy.js';

export interface SourcedRetentionSet extends RetentionSet {
  /** sourceIdentity() of a complete set's manifest; undefined when it has none or is incomplete. */
  source?: string;
}

export interface SourceScope {
  /**
   * The source whose sets are pruned. Undefined: the source of the newest complete set that
   * has one (what `civibackup prune` does when no `--source` is given).
   */
  source?: string;
  /** Count and remove complete sets without a source identity as if they were this source's. */
  includeUnidentified?: boolean;
}

export interface LeftAlone {
  id: string;
  time: string;
  /** The set's source; undefined for a set without identity. */
  source?: string;
}

export interface SourceSelection<T extends SourcedRetentionSet> {
  /** The source pruned; undefined when none was given and no complete set has one. */
  source: string | undefined;
  /** How the source was chosen. */
  chosen: 'given' | 'newest complete set' | 'none';
  /** What the policy sees: this source's complete sets, and every incomplete set. */
  mine: T[];
  /** Complete sets of other sources, and (without opt-in) complete sets without identity. */
  leftAlone: LeftAlone[];
}

/** Newest complete set with an identity, by time then id (the same order the policy uses). */
function newestSource(sets: readonly SourcedRetentionSet[]): string | undefined {
  let best: SourcedRetentionSet | undefined;
  for (const set of sets) {
    if (!set.complete || set.source === undefined || Number.isNaN(Date.parse(set.time))) continue;
    const newer = !best || Date.parse(set.time) > Date.parse(best.time) || (Date.parse(set.time) === Date.parse(best.time) && set.id > best.id);
    if (newer) best = set;
  }
  return best?.source;
}

export function selectSource<T extends SourcedRetentionSet>(sets: readonly T[], scope: SourceScope): SourceSelection<T> {
  const source = scope.source ?? newestSource(sets);
  const chosen = scope.source !== undefined ? 'given' : source !== undefined ? 'newest complete set' : 'none';
  const mine: T[] = [];
  const leftAlone: LeftAlone[] = [];
  for (const set of sets) {
    const ours = !set.complete || (set.source === undefined ? scope.includeUnidentified === true : set.source === source);
    if (ours) mine.push(set);
    else leftAlone.push({ id: set.id, time: set.time, ...(set.source !== undefined ? { source: set.source } : {}) });
  }
  return { source, chosen, mine, leftAlone };
}

export interface SourcedRetention extends Omit<SourceSelection<SourcedRetentionSet>, 'mine'> {
  /** Complete sets of the source given to the policy (0: the source has no set here). */
  completeCounted: number;
  /** Decisions for this source's sets (and incomplete sets) only; sets left alone have none. */
  decisions: RetentionDecision[];
}

/** selectSource, then the pure policy over what it selected. */
export function applySourcedRetention(sets: readonly SourcedRetentionSet[], policy: RetentionPolicy, now: Date, scope: SourceScope): SourcedRetention {
  const { mine, ...rest } = selectSource(sets, scope);
  return { ...rest, completeCounted: mine.filter((s) => s.complete).length, decisions: applyRetention(mine, policy, now) };
}

/** One line for people: "N sets from other sources at this destination were left alone: ...". */
export function describeLeftAlone(leftAlone: readonly LeftAlone[], location: string): string | undefined {
  if (leftAlone.length === 0) return undefined;
  const counts = new Map<string, number>();
  for (const set of leftAlone) {
    const key = set.source ?? '(no source identity: made by an older helper?)';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const sources = [...counts].map(([source, n]) => `${n} from ${source}`).join('; ');
  const noun = leftAlone.length === 1 ? 'set' : 'sets';
  return `${leftAlone.length} ${noun} from other sources at ${location} ${leftAlone.length === 1 ? 'was' : 'were'} left alone (not counted, not removed): ${sources}.`;
}
