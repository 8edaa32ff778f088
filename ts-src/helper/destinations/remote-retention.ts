/**
 * Retention on an offsite destination, over the sets of both formats together: 0.1.0 set
 * folders ("<setId>/", remote-sets.ts) and deduplicated sets ("sets/<setId>/",
 * remote-repository.ts). One policy counts them as one history, so a site that moved to
 * deduplicated sets sees its older full copies age out as usual. Removing a deduplicated set
 * removes its manifest; the packs no remaining set of ANY source needs are then deleted by
 * pruneRemoteRepository under an exclusive remote lock (skipped, and said, while an upload
 * holds a lock: nothing is lost by freeing them at the next run).
 */
import { setIdTime, sourceIdentity } from '../../protocol/manifest.js';
import type { RetentionPolicy } from '../../protocol/job.js';
import type { VerificationState } from '../../protocol/sets.js';
import type { RetentionDecision } from '../../protocol/retention-policy.js';
import { PINNED_FILE } from '../../protocol/retention-policy.js';
import type { Reporter } from '../core/reporter.js';
import { applySourcedRetention, type LeftAlone, type SourceScope, type SourceSelection, type SourcedRetentionSet } from '../retention/source.js';
import type { Destination } from './destination.js';
import { listRemoteV2Sets, pruneRemoteRepository, removeRemoteV2Set, type RemotePackPruneResult } from './remote-repository.js';
import { listAllRemoteSets, removeRemoteSet } from './remote-sets.js';
import type { RemoteLockOptions } from './remote-lock.js';

export interface RemotePruneResult {
  location: string;
  /** The source pruned and how it was chosen (see SourceScope). */
  source: string | undefined;
  /** Complete sets of that source given to the policy (0: the source has no set there). */
  completeCounted: number;
  sourceChosen: SourceSelection<SourcedRetentionSet>['chosen'];
  /** Decisions for the pruned source's sets and for incomplete sets. */
  decisions: RetentionDecision[];
  removed: string[];
  /** Complete sets of other sources (or without identity): not counted, not removed. */
  leftAlone: LeftAlone[];
  /** Deduplicated data freed after the removals (undefined: no deduplicated set there, or a dry run). */
  packs?: RemotePackPruneResult;
}

/**
 * Remote retention, with the same policy function as local sets, over the sets of one source
 * only (retention/source.ts: an offsite prefix may be shared by several sites). `verification`
 * may give the state known locally for a set id (a set proven restorable locally is the same
 * bytes remotely). `scope` is required: every caller must say whose sets it prunes.
 */
export async function applyRemoteRetention(
  destination: Destination,
  policy: RetentionPolicy,
  now: Date,
  scope: SourceScope,
  options: { dryRun?: boolean; verification?: (setId: string) => VerificationState | undefined; runId?: string; reporter?: Reporter; lock?: RemoteLockOptions } = {},
): Promise<RemotePruneResult> {
  const v1 = await listAllRemoteSets(destination);
  const v2 = await listRemoteV2Sets(destination);
  const problems = new Map<string, string>();
  const candidates: SourcedRetentionSet[] = [];
  for (const s of v1) {
    if (s.problem) problems.set(s.setId, s.problem);
    const source = s.manifest ? sourceIdentity(s.manifest) : undefined;
    candidates.push({
      id: s.setId,
      time: s.manifest?.createdAt ?? setIdTime(s.setId)?.toISOString() ?? 'invalid',
      complete: s.complete,
      verification: options.verification?.(s.setId),
      pinned: s.pinned,
      ...(source !== undefined ? { source } : {}),
    });
  }
  for (const s of v2) {
    if (s.problem) problems.set(s.setId, s.problem);
    const source = s.manifest ? sourceIdentity(s.manifest) : undefined;
    candidates.push({
      id: s.setId,
      time: s.manifest?.createdAt ?? setIdTime(s.setId)?.toISOString() ?? 'invalid',
      complete: s.manifest !== undefined,
      verification: options.verification?.(s.setId),
      pinned: s.keys.some((k) => k.endsWith(`/${PINNED_FILE}`)),
      ...(source !== undefined ? { source } : {}),
    });
  }
  const selected = applySourcedRetention(candidates, policy, now, scope);
  const decisions = selected.decisions.map((decision) => {
    const problem = problems.get(decision.id);
    // A manifest that exists but cannot be read is not "incomplete": leave it for a person.
    return decision.action === 'remove' && problem ? { ...decision, action: 'keep' as const, reasons: [`manifest unreadable, kept for a person to look at: ${problem}`] } : decision;
  });
  const removed: string[] = [];
  let packs: RemotePackPruneResult | undefined;
  if (!options.dryRun) {
    for (const decision of decisions) {
      if (decision.action !== 'remove') continue;
      const old = v1.find((s) => s.setId === decision.id);
      if (old) await removeRemoteSet(destination, old);
      else await removeRemoteV2Set(destination, v2.find((s) => s.setId === decision.id)!);
      removed.push(decision.id);
    }
    if (v2.length > 0 && options.runId) packs = await pruneRemoteRepository(destination, options.runId, options.reporter, { lock: options.lock });
  }
  return {
    location: destination.location,
    source: selected.source,
    sourceChosen: selected.chosen,
    completeCounted: selected.completeCounted,
    decisions,
    removed,
    leftAlone: selected.leftAlone,
    ...(packs ? { packs } : {}),
  };
}
