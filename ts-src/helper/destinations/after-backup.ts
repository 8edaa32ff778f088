/**
 * What a backup run does once its local set is complete: copy it to every offsite destination
 * of the job, then apply the retention policy locally and on each destination that took the
 * copy, to the sets of this run's source only (the new set's sourceIdentity: a directory or
 * prefix may be shared with other sites, whose sets are left alone and reported). Called by backup/run-backup.ts while it still holds the local destination lock, so no
 * prune can remove the set during its upload.
 *
 * A failed offsite copy does not undo the local set (it is complete and stays), but the run
 * still fails (DESTINATION, exit 1) after the other destinations and retention have been
 * handled, so the failure reaches the person through the normal alerting.
 */
import type { DestinationSpec, RetentionPolicy } from '../../protocol/job.js';
import { isManifestV2, sourceIdentity, type Manifest, type ManifestV2 } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import { applyLocalRetention, loadLocalRetentionSets, pruneRepositoryData } from '../retention/local.js';
import { policyIsEmpty, type RetentionDecision } from '../../protocol/retention-policy.js';
import { describeLeftAlone, type LeftAlone, type SourceScope } from '../retention/source.js';
import type { VerificationState } from '../../protocol/sets.js';
import { createDestination } from './open.js';
import { RetryingDestination } from './retry.js';
import { SftpDestination } from './sftp.js';
import { applyRemoteRetention } from './remote-retention.js';
import { uploadSet } from './remote-sets.js';
import { uploadRepositorySet } from './remote-repository.js';

export interface AfterBackupOptions {
  /** Local destination directory (holds the set; for a format-2 set, the repository's root). */
  destination: string;
  setDir: string;
  /** The new set's manifest: format 1 (its parts are in setDir) or format 2 (packs in the repository). */
  manifest: Manifest | ManifestV2;
  offsite?: DestinationSpec[];
  retention?: RetentionPolicy;
  reporter: Reporter;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface OffsiteOutcome {
  name: string;
  location: string;
  uploaded: boolean;
  alreadyPresent?: boolean;
  /** Bytes of the set (format 1) or of the packs it needs (format 2) at the destination. */
  bytes?: number;
  /** Format 2: bytes actually sent (only the packs the destination lacked). */
  sentBytes?: number;
  seconds?: number;
  error?: { code: string; message: string };
  removed?: string[];
  /** Sets of other sources there, left alone by retention. */
  otherSources?: number;
}

export interface AfterBackupSummary {
  offsite: OffsiteOutcome[];
  retention?: {
    removed: string[];
    kept: number;
    decisions: RetentionDecision[];
    /** The source whose sets were pruned (the new set's). */
    source?: string;
    /** Complete sets of other sources (or without identity) in the local destination: left alone. */
    leftAlone: LeftAlone[];
  };
}

export async function copyOffsiteAndPrune(options: AfterBackupOptions): Promise<AfterBackupSummary> {
  const { reporter } = options;
  const now = options.now ?? (() => new Date());
  const outcomes: OffsiteOutcome[] = [];
  const specs = options.offsite ?? [];
  const policy = options.retention && !policyIsEmpty(options.retention) ? options.retention : undefined;
  // Whose sets retention may count and remove: the run's own source, taken from the set it
  // just wrote. A set without identity (impossible for a new set, which always records its
  // host name) would leave every set alone, never prune another site's.
  const scope: SourceScope = { source: sourceIdentity(options.manifest) ?? '(none)' };
  const reportLeftAlone = (leftAlone: LeftAlone[], location: string, item?: string): void => {
    const message = describeLeftAlone(leftAlone, location);
    if (message) reporter.emit({ type: 'warning', code: 'OTHER_SOURCES_LEFT_ALONE', message, ...(item ? { item } : {}) });
  };
  // A set proven restorable locally holds the same bytes remotely (uploads are hash-checked),
  // so remote retention protects it too.
  const localStates = new Map<string, VerificationState>();
  if (policy && specs.length > 0) {
    for (const set of await loadLocalRetentionSets(options.destination)) if (set.verification) localStates.set(set.id, set.verification);
  }

  const manifest = options.manifest;
  const setId = isManifestV2(manifest) ? manifest.id : manifest.setId;
  if (specs.length > 0) {
    const totalBytes = isManifestV2(manifest) ? manifest.packs.reduce((sum, p) => sum + p.bytes, 0) : manifest.parts.reduce((sum, p) => sum + p.bytes, 0);
    reporter.emit({ type: 'phase', phase: 'upload', totalBytes: totalBytes * specs.length, totalItems: specs.length });
  }
  for (const [index, spec] of specs.entries()) {
    let destination;
    let sftpUnpinned: SftpDestination | undefined;
    const started = Date.now();
    try {
      const bare = createDestination(spec, options.env);
      sftpUnpinned = spec.type === 'sftp' && !spec.hostKey && bare instanceof SftpDestination ? bare : undefined;
      destination = new RetryingDestination(bare, {
        signal: options.signal,
        onRetry: (info) =>
          reporter.emit({
            type: 'warning',
            code: 'DESTINATION_RETRY',
            item: spec.name,
            message: `${spec.name}: ${info.operation} ${info.key} failed (${info.error.message}); attempt ${info.attempt + 1} in ${(info.delayMs / 1000).toFixed(1)} s.`,
          }),
      });
      const onProgress = (p: { bytesDone: number; bytesTotal: number }): void => {
        reporter.emit({ type: 'progress', phase: 'upload', item: spec.name, bytes: p.bytesDone, bytesTotal: p.bytesTotal, itemsDone: index, itemsTotal: specs.length });
      };
      // Format 2 sends only the packs the destination lacks; format 1 the whole set.
      const result = isManifestV2(manifest)
        ? await uploadRepositorySet(options.destination, manifest, destination, { runId: reporter.runId, signal: options.signal, onProgress })
        : { ...(await uploadSet(options.setDir, manifest, destination, { signal: options.signal, onProgress })), bytesSent: undefined };
      if (sftpUnpinned?.seenHostKey) {
        reporter.emit({
          type: 'warning',
          code: 'SFTP_HOST_KEY_NOT_PINNED',
          item: spec.name,
          message: `${spec.name}: the SFTP server's host key is not pinned, so any server answering at that address is trusted. Check and pin it: ${sftpUnpinned.seenHostKey}`,
        });
      }
      const outcome: OffsiteOutcome = {
        name: spec.name,
        location: destination.location,
        uploaded: true,
        alreadyPresent: result.alreadyPresent,
        bytes: result.bytes,
        ...(result.bytesSent !== undefined ? { sentBytes: result.bytesSent } : {}),
        seconds: (Date.now() - started) / 1000,
      };
      if (policy) {
        reporter.emit({ type: 'phase', phase: 'prune' });
        const remote = await applyRemoteRetention(destination, policy, now(), scope, { verification: (id) => localStates.get(id), runId: reporter.runId, reporter });
        outcome.removed = remote.removed;
        outcome.otherSources = remote.leftAlone.length;
        reportLeftAlone(remote.leftAlone, destination.location, spec.name);
      }
      outcomes.push(outcome);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const failure = error instanceof BackupError ? error : new BackupError('DESTINATION', String((error as Error)?.message ?? error), { cause: error });
      outcomes.push({ name: spec.name, location: destination?.location ?? spec.name, uploaded: false, error: { code: failure.code, message: failure.message } });
      reporter.emit({ type: 'warning', code: 'OFFSITE_FAILED', item: spec.name, message: `Offsite copy to ${spec.name} failed: ${failure.message}` });
    } finally {
      await destination?.close().catch(() => undefined);
    }
  }

  let retention: AfterBackupSummary['retention'];
  if (policy) {
    reporter.emit({ type: 'phase', phase: 'prune' });
    const local = await applyLocalRetention(options.destination, policy, now(), scope);
    retention = {
      removed: local.removed,
      kept: local.decisions.filter((d) => d.action === 'keep').length,
      decisions: local.decisions,
      ...(local.source !== undefined ? { source: local.source } : {}),
      leftAlone: local.leftAlone,
    };
    reportLeftAlone(local.leftAlone, local.location);
    // Free the deduplicated data no remaining set needs. Another backup running at the same
    // destination holds the repository's shared lock: then the data waits for the next run.
    try {
      await pruneRepositoryData(options.destination, reporter.runId, reporter);
    } catch (error) {
      if (!(error instanceof BackupError) || error.code !== 'LOCKED') throw error;
      reporter.emit({ type: 'warning', code: 'PRUNE_DEFERRED', message: `Unused backup data was not freed this time: ${error.message}` });
    }
  }

  const failed = outcomes.filter((o) => !o.uploaded);
  if (failed.length > 0) {
    const error = new BackupError(
      failed.every((f) => f.error?.code === 'CONFIG') ? 'CONFIG' : 'DESTINATION',
      `The set ${setId} is complete in ${options.destination}, but its offsite copy failed: ${failed.map((f) => `${f.name}: ${f.error?.message}`).join('; ')}`,
    );
    (error as BackupError & { summary?: AfterBackupSummary }).summary = { offsite: outcomes, retention };
    throw error;
  }
  return { offsite: outcomes, retention };
}
