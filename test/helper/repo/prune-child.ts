/**
 * Child process of prune.test.ts: prunes the repository at argv[2] keeping the packs listed
 * (comma-separated) in argv[3], and SIGKILLs itself just before deletion number argv[4]
 * (1-based; 0 = never), as a power cut or `kill -9` would stop a real prune.
 */
import { createReporter } from '../../../ts-src/helper/core/reporter.js';
import { pruneRepository } from '../../../ts-src/helper/repo/prune.js';
import { openRepository } from '../../../ts-src/helper/repo/repository.js';

const [root, keepList, killAtText] = process.argv.slice(2);
const killAt = Number(killAtText);
const repo = await openRepository(root, { compression: 'gzip', level: 6 });
const reporter = createReporter({ mode: 'silent' });
const lock = await repo.lockExclusive(reporter.runId);
let deletions = 0;
const result = await pruneRepository(repo, new Set(keepList.split(',').filter(Boolean)), reporter, {
  beforeDelete: () => {
    deletions += 1;
    if (deletions === killAt) process.kill(process.pid, 'SIGKILL');
  },
});
await lock.release();
process.stdout.write(`${JSON.stringify({ ...result, deletions })}\n`);
