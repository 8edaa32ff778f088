/**
 * civibackup delete SET: removes one set of either format from a local destination, under the
 * destination lock. A v1 set directory goes whole (manifest first). A v2 set loses its
 * manifest folder, then the repository prune frees the packs that no remaining set of any
 * source needs (retention/local.ts pruneRepositoryData), so deleting a set frees at most what
 * it alone needed.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../../protocol/manifest.js';
import { PINNED_FILE } from '../../protocol/retention-policy.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import { formatBytes } from '../core/reporter.js';
import { pruneRepositoryData } from '../retention/local.js';
import { openSet } from '../set/set-reader.js';
import { acquireLock } from '../set/set-store.js';
import type { CommandModule } from './command.js';

export const deleteCommand: CommandModule = {
  name: 'delete',
  summary: 'Delete one set (either format) from a local destination; for a deduplicated set, free the data no other set needs',
  usage: 'civibackup delete SET [--json]',
  async run({ args, reporter, print }) {
    const { positionals } = parseCommandArgs(args, {}, this.usage);
    if (positionals.length !== 1) throw new BackupError('USAGE', `delete takes one set.\nusage: ${this.usage}`);
    // Open without keys: only the plaintext manifest is needed to know what the set is.
    const reader = await openSet(positionals[0]!);
    if (await stat(join(reader.path, PINNED_FILE)).then(() => true, () => false)) {
      throw new BackupError('USAGE', `Set ${reader.setId} is pinned (${join(reader.path, PINNED_FILE)}); remove that file first if it really should go.`);
    }
    reporter.emit({ type: 'phase', phase: 'prune' });
    const lock = await acquireLock(reader.destination, reporter.runId);
    try {
      // Manifest first: a delete stopped half way leaves an incomplete set, never a damaged complete one.
      await rm(join(reader.path, MANIFEST_FILE), { force: true });
      await rm(reader.path, { recursive: true, force: true });
      print(`deleted ${reader.setId} from ${reader.destination}`);
      const repository = reader.format === 2 ? await pruneRepositoryData(reader.destination, reporter.runId, reporter) : undefined;
      if (repository) {
        print(
          repository.skipped
            ? `deduplicated data: not pruned: ${repository.skipped}`
            : `deduplicated data: removed ${repository.removedPacks} packs (${formatBytes(repository.freedBytes)}) no remaining set needs; ${repository.keptPacks} packs kept`,
        );
      }
      return { set: reader.path, summary: { setId: reader.setId, format: reader.format, deleted: true, ...(repository ? { repository } : {}) } };
    } finally {
      await lock.release();
    }
  },
};
