/**
 * Consistency under load: a writer moves money between accounts (balances + transfers
 * journal, one transaction each) while a backup runs. The helper is frozen (SIGSTOP) after
 * it has read the balances and while it reads the filler table; transfers committed in that
 * window would break the restored invariant unless every table comes from one snapshot.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeConnection, openConnection, query } from '../../ts-src/helper/db/connection.js';
import { createDatabase, dropDatabase, dsnFor, dsnText, uniqueName, withRoot } from './support/mariadb.js';
import { bankProblems, createBank, currentConnectionId, FILLER_TABLE, transfer, waitForDumpOf } from './support/bank-db.js';
import { assertBundleBuilt, lastEvent, runHelper, startHelper } from './support/helper-run.js';

const SOURCE = uniqueName('cbt_dump_bank');
const TARGET = uniqueName('cbt_dump_bankr');
let dir: string;

before(async () => {
  assertBundleBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cbt-dump-cons-'));
  await createDatabase(SOURCE);
  await createDatabase(TARGET);
  createBank(SOURCE);
});

after(() => {
  dropDatabase(SOURCE);
  dropDatabase(TARGET);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a backup taken while transfers commit restores with the invariant exact', { timeout: 600_000 }, async () => {
  const writer = await openConnection(dsnFor(SOURCE));
  const watcher = await openConnection(dsnFor(SOURCE));
  let stop = false;
  let committed = 0;
  const writing = (async () => {
    while (!stop) {
      await transfer(writer);
      committed += 1;
    }
  })();
  try {
    const since = await currentConnectionId(watcher);
    const helper = startHelper(['backup', '--to', join(dir, 'sets'), '--db', dsnText(SOURCE)]);
    await waitForDumpOf(watcher, SOURCE, FILLER_TABLE, since);
    // The balances are read; freeze the dump inside the filler table and let transfers commit.
    process.kill(helper.child.pid!, 'SIGSTOP');
    const before = committed;
    while (committed < before + 100) await transfer(watcher).then(() => (committed += 1));
    process.kill(helper.child.pid!, 'SIGCONT');
    const run = await helper.done;
    stop = true;
    await writing;
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const setDir = (lastEvent(run) as { set: string }).set;

    assert.deepEqual(await withRoot(SOURCE, bankProblems), [], 'the source itself must be consistent');
    // The default format (v2, the database as blobs): restored by the helper into the empty target.
    const restore = runHelper(['restore', setDir, '--db', dsnText(TARGET)]);
    assert.equal(restore.status, 0, restore.stdout + restore.stderr);
    await withRoot(TARGET, async (c) => {
      assert.deepEqual(await bankProblems(c), []);
      const [restored] = await query<{ n: number }>(c, 'SELECT COUNT(*) AS n FROM z_transfers');
      // the restored journal is a proper prefix: transfers committed during the dump are not in it
      assert.ok(Number(restored.n) < committed, `restored ${restored.n} transfers, ${committed} committed in all`);
    });
  } finally {
    stop = true;
    await writing.catch(() => undefined);
    await closeConnection(writer);
    await closeConnection(watcher);
  }
});
