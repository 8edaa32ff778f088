/**
 * Retention for a local destination directory: reads every set directory (complete or not),
 * keeps to the sets of one source (./source.ts: a directory may be shared by several sites),
 * applies the pure policy, and removes what it says to remove. The caller holds the
 * destination lock (prune takes it; a backup run already holds it).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, SET_ID_PATTERN, setIdTime, sourceIdentity } from '../../protocol/manifest.js';
import type { RetentionPolicy } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';
import { readManifest, readVerification } from '../set/set-store.js';
import { PINNED_FILE, type RetentionDecision } from '../../protocol/retention-policy.js';
import { applySourcedRetention, type LeftAlone, type SourceScope, type SourcedRetentionSet, type SourceSelection } from './source.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

export interface LocalRetentionSet extends SourcedRetentionSet {
  /** The manifest exists but does not read or validate. */
  problem?: string;
}

export async function loadLocalRetentionSets(destination: string): Promise<LocalRetentionSet[]> {
  const abs = resolve(destination);
  const entries = await readdir(abs, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new BackupError('USAGE', `The destination ${abs} does not exist.`);
    throw error;
  });
  const sets: LocalRetentionSet[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !SET_ID_PATTERN.test(entry.name)) continue;
    const dir = join(abs, entry.name);
    const pinned = await exists(join(dir, PINNED_FILE));
    const idTime = setIdTime(entry.name)?.toISOString() ?? 'invalid';
    if (!(await exists(join(dir, MANIFEST_FILE)))) {
      sets.push({ id: entry.name, time: idTime, complete: false, pinned });
      continue;
    }
    try {
      const manifest = await readManifest(dir);
      const verification = await readVerification(dir);
      const source = sourceIdentity(manifest);
      sets.push({ id: entry.name, time: manifest.createdAt, complete: true, verification: verification.state, pinned, ...(source !== undefined ? { source } : {}) });
    } catch (error) {
      sets.push({ id: entry.name, time: idTime, complete: false, pinned, problem: (error as Error).message });
    }
  }
  return sets;
}

export interface LocalPruneResult {
  location: string;
  /** The source pruned and how it was chosen (see SourceScope). */
  source: string | undefined;
  /** Complete sets of that source given to the policy (0: the source has no set there). */
  completeCounted: number;
  sourceChosen: SourceSelection<LocalRetentionSet>['chosen'];
  /** Decisions for the pruned source's sets and for incomplete sets. */
  decisions: RetentionDecision[];
  removed: string[];
  /** Complete sets of other sources (or without identity): not counted, not removed. */
  leftAlone: LeftAlone[];
}

/** `scope` is required: every caller must say whose sets it prunes. */
export async function applyLocalRetention(destination: string, policy: RetentionPolicy, now: Date, scope: SourceScope, options: { dryRun?: boolean } = {}): Promise<LocalPruneResult> {
  const abs = resolve(destination);
  const sets = await loadLocalRetentionSets(abs);
  const selected = applySourcedRetention(sets, policy, now, scope);
  const decisions = selected.decisions.map((decision) => {
    const problem = sets.find((s) => s.id === decision.id)?.problem;
    // A manifest that exists but does not read is not "incomplete": leave it for a person.
    return decision.action === 'remove' && problem ? { ...decision, action: 'keep' as const, reasons: [`manifest unreadable, kept for a person to look at: ${problem}`] } : decision;
  });
  const removed: string[] = [];
  if (!options.dryRun) {
    for (const decision of decisions) {
      if (decision.action !== 'remove') continue;
      const dir = join(abs, decision.id);
      // Manifest first: if removal stops half way, the rest is an incomplete set, never a damaged complete one.
      await rm(join(dir, MANIFEST_FILE), { force: true });
      await rm(dir, { recursive: true, force: true });
      removed.push(decision.id);
    }
  }
  return { location: abs, source: selected.source, sourceChosen: selected.chosen, completeCounted: selected.completeCounted, decisions, removed, leftAlone: selected.leftAlone };
}
