/**
 * Child process of dedup-lifecycle.test.ts: what `civibackup prune DIR --keep-last N --source S`
 * does (retention, then the repository's data), SIGKILLing itself just before repository
 * deletion number argv[5] (1-based), as a power cut or `kill -9` would stop a real prune.
 * argv: destination, keepLast, source, killAt.
 */
import { createReporter } from '../../../ts-src/helper/core/reporter.js';
import { applyLocalRetention, pruneRepositoryData } from '../../../ts-src/helper/retention/local.js';
import { acquireLock } from '../../../ts-src/helper/set/set-store.js';

const [destination, keepLast, source, killAtText] = process.argv.slice(2);
const killAt = Number(killAtText);
const reporter = createReporter({ mode: 'silent' });
const lock = await acquireLock(destination, reporter.runId);
const retention = await applyLocalRetention(destination, { keepLast: Number(keepLast) }, new Date(), { source });
let deletions = 0;
const repository = await pruneRepositoryData(destination, reporter.runId, reporter, {
  hooks: {
    beforeDelete: () => {
      deletions += 1;
      if (deletions === killAt) process.kill(process.pid, 'SIGKILL');
    },
  },
});
await lock.release();
process.stdout.write(`${JSON.stringify({ removed: retention.removed, repository, deletions })}\n`);
