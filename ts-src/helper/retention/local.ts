/**
 * Retention for a local destination directory: reads every set (complete or not) of both
 * formats (v1 set directories `<id>/`, v2 sets `sets/<id>/`), keeps to the sets of one source
 * (./source.ts: a directory may be shared by several sites), applies the pure policy, and
 * removes what it says to remove. The caller holds the destination lock (prune takes it; a
 * backup run already holds it).
 *
 * Removing a v2 set removes only its manifest folder: its data stays in packs other sets may
 * share. pruneRepositoryData() then frees the packs that NO remaining v2 set of ANY source
 * lists, under the repository's exclusive lock (no backup can be adding references then).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, SET_ID_PATTERN, SETS_DIR, setIdTime, sourceIdentity } from '../../protocol/manifest.js';
import type { Reporter } from '../core/reporter.js';
import { pruneRepository, type PruneHooks, type PruneResult } from '../repo/prune.js';
import { isRepository, openRepository } from '../repo/repository.js';
import { readManifestV2 } from '../set/set-reader.js';
import type { RetentionPolicy } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';
import { readManifest, readVerification } from '../set/set-store.js';
import { PINNED_FILE, type RetentionDecision } from '../../protocol/retention-policy.js';
import { applySourcedRetention, type LeftAlone, type SourceScope, type SourcedRetentionSet, type SourceSelection } from './source.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

export interface LocalRetentionSet extends SourcedRetentionSet {
  /** The manifest exists but does not read or validate. */
  problem?: string;
  /** 2: a deduplicated set (`sets/<id>/`); absent: a v1 set directory. */
  format?: 2;
}

/** Where a set's folder is: `<id>/` (v1) or `sets/<id>/` (v2). */
function setFolder(destination: string, set: { id: string; format?: 2 }): string {
  return set.format === 2 ? join(destination, SETS_DIR, set.id) : join(destination, set.id);
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
  for (const entry of await readdir(join(abs, SETS_DIR), { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || !SET_ID_PATTERN.test(entry.name)) continue;
    const dir = join(abs, SETS_DIR, entry.name);
    const pinned = await exists(join(dir, PINNED_FILE));
    const idTime = setIdTime(entry.name)?.toISOString() ?? 'invalid';
    if (!(await exists(join(dir, MANIFEST_FILE)))) {
      sets.push({ id: entry.name, time: idTime, complete: false, pinned, format: 2 });
      continue;
    }
    try {
      const manifest = await readManifestV2(dir);
      const verification = await readVerification(dir);
      const source = sourceIdentity(manifest);
      sets.push({ id: entry.name, time: manifest.createdAt, complete: true, verification: verification.state, pinned, format: 2, ...(source !== undefined ? { source } : {}) });
    } catch (error) {
      sets.push({ id: entry.name, time: idTime, complete: false, pinned, format: 2, problem: (error as Error).message });
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
      const set = sets.find((s) => s.id === decision.id);
      const dir = setFolder(abs, set ?? { id: decision.id });
      // Manifest first: if removal stops half way, the rest is an incomplete set, never a damaged complete one.
      await rm(join(dir, MANIFEST_FILE), { force: true });
      await rm(dir, { recursive: true, force: true });
      removed.push(decision.id);
    }
  }
  return { location: abs, source: selected.source, sourceChosen: selected.chosen, completeCounted: selected.completeCounted, decisions, removed, leftAlone: selected.leftAlone };
}

export interface RepositoryPruneResult extends PruneResult {
  /** Packs every remaining v2 set (of every source) needs, kept. */
  keptPacks: number;
  /** Why nothing was freed, when nothing could safely be. */
  skipped?: string;
}

/**
 * Frees the repository's data that no remaining v2 set needs: under the exclusive lock (a
 * running backup's shared lock makes this refuse with LOCKED), read EVERY v2 manifest, of
 * every source (a pack another site's set lists is never freed), and remove the other packs
 * (repo/prune.ts: index before pack, so a kill half-way leaves only unreferenced data).
 * A manifest that does not read stops it: its packs are unknown, so none may go.
 * Undefined when the destination holds no repository (only v1 sets).
 */
export async function pruneRepositoryData(
  destination: string,
  runId: string,
  reporter: Reporter,
  options: { dryRun?: boolean; hooks?: PruneHooks } = {},
): Promise<RepositoryPruneResult | undefined> {
  const abs = resolve(destination);
  if (!(await isRepository(abs))) return undefined;
  const repository = await openRepository(abs, { compression: 'gzip', level: 6 });
  const lock = options.dryRun ? undefined : await repository.lockExclusive(runId);
  try {
    const needed = new Set<string>();
    const unreadable: string[] = [];
    for (const entry of await readdir(join(abs, SETS_DIR), { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const dir = join(abs, SETS_DIR, entry.name);
      if (!(await exists(join(dir, MANIFEST_FILE)))) continue; // incomplete: needs nothing kept
      try {
        for (const pack of (await readManifestV2(dir)).packs) needed.add(pack.name);
      } catch (error) {
        unreadable.push(`${entry.name}: ${(error as Error).message}`);
      }
    }
    if (unreadable.length > 0) {
      const skipped = `the manifests of ${unreadable.length} set(s) do not read (${unreadable.join('; ').slice(0, 500)}), so the packs they need are unknown and none was removed; fix or remove those sets`;
      reporter.emit({ type: 'warning', code: 'PRUNE_SKIPPED', message: `Repository data at ${abs} was not pruned: ${skipped}.` });
      return { removedPacks: 0, freedBytes: 0, keptPacks: needed.size, skipped };
    }
    if (options.dryRun) {
      let removedPacks = 0;
      let freedBytes = 0;
      for (const [pack, info] of repository.packs()) {
        if (needed.has(pack)) continue;
        removedPacks += 1;
        freedBytes += info.bytes;
      }
      return { removedPacks, freedBytes, keptPacks: needed.size };
    }
    const result = await pruneRepository(repository, needed, reporter, options.hooks);
    return { ...result, keptPacks: needed.size };
  } finally {
    await lock?.release();
  }
}
