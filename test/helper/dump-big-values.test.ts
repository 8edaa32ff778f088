/**
 * A value far larger than a statement is written as a chain of session-variable chunks; the
 * chunks must go to the part file as it takes them, never all at once (a 24 MiB value is
 * 48 MiB of hex; with max_allowed_packet at 1 GiB a value could be 2 GiB of hex). dumpTable
 * reports the most bytes that ever waited for a compressor; it must stay near the lane
 * buffer, and the value must come back byte for byte.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { dumpTable, LANE_BUFFER_BYTES, statementLimit } from '../../ts-src/helper/db/dump-table.js';
import { listColumns, primaryKey } from '../../ts-src/helper/db/introspect.js';
import type { Connection } from 'mysql2';
import { closeConnection, openConnection } from '../../ts-src/helper/db/connection.js';
import { createDatabase, dropDatabase, dsnFor, mariadbCli, query, uniqueName, withRoot } from './support/mariadb.js';

const SOURCE = uniqueName('cbt_bigval');
const VALUE_MIB = 24;
const PACKET = 64 * 1024 * 1024;
let dir = '';
let packetBefore = '';
/** Holds the server-wide lock under which this file changes max_allowed_packet. */
let lockHolder: Connection | undefined;

before(async () => {
  // The packet size is the server's, for every connection: a second run of this file beside
  // this one (the other Node pass, another developer) waits, so neither puts back the other's value.
  lockHolder = await openConnection(dsnFor('mysql'));
  const [lock] = await query<{ got: number | null }>(lockHolder, "SELECT GET_LOCK('civibackup_test_max_allowed_packet', 600) AS got");
  assert.equal(Number(lock.got), 1, 'the max_allowed_packet lock was not free within 10 minutes');
  packetBefore = mariadbCli('SELECT @@GLOBAL.max_allowed_packet;').trim();
  // A 24 MiB row needs more than the 16 MiB default packet (new connections see it).
  mariadbCli(`SET GLOBAL max_allowed_packet = ${PACKET};`);
  await createDatabase(SOURCE);
  // Built on the server from 1 MiB pieces, so no client sends a huge packet.
  mariadbCli(
    `CREATE TABLE doc (id INT PRIMARY KEY, body LONGBLOB) ENGINE=InnoDB;
     INSERT INTO doc VALUES (1, 'small'), (2, ''), (3, 'small too');
     SET @mib = REPEAT(RANDOM_BYTES(1024), 1024);
     ${Array.from({ length: VALUE_MIB }, () => 'UPDATE doc SET body = CONCAT(body, @mib) WHERE id = 2;').join('\n')}`,
    SOURCE,
  );
  dir = mkdtempSync(join(tmpdir(), 'cbt-bigval-'));
});

after(async () => {
  if (packetBefore) mariadbCli(`SET GLOBAL max_allowed_packet = ${packetBefore};`);
  // Closing the connection releases the lock.
  if (lockHolder) await closeConnection(lockHolder);
  dropDatabase(SOURCE);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a 24 MiB value goes to its part chunk by chunk: at most ~2 lane buffers wait, and the chain restores it exactly', { timeout: 300_000 }, async () => {
  await withRoot(SOURCE, async (connection) => {
    const columns = await listColumns(connection, SOURCE, 'doc');
    const result = await dumpTable({
      connection,
      table: 'doc',
      columns,
      primaryKey: await primaryKey(connection, SOURCE, 'doc'),
      setDir: dir,
      logicalBase: 'db/200-data-doc',
      codec: { compression: 'gzip', level: 1 },
      maxAllowedPacket: PACKET,
    });
    assert.equal(result.rows, 3);
    const limit = statementLimit(PACKET);
    const bound = 2 * LANE_BUFFER_BYTES + 2 * limit;
    assert.ok(result.maxQueuedBytes <= bound, `${(result.maxQueuedBytes / 2 ** 20).toFixed(1)} MiB waited for the compressor (bound ${(bound / 2 ** 20).toFixed(1)} MiB; the value is ${2 * VALUE_MIB} MiB of hex)`);
    assert.ok(result.rawBytes > 2 * VALUE_MIB * 2 ** 20, 'the hex of the value is in the part');

    // Replay the part as written (the chain of SET ... CONCAT and the INSERT) into a copy.
    const sql = gunzipSync(readFileSync(join(dir, result.parts[0].path))).toString('latin1');
    assert.match(sql, /SET @cb_v1 = CONCAT\(@cb_v1, 0x/);
    mariadbCli(`CREATE TABLE copy LIKE doc; RENAME TABLE doc TO doc_orig, copy TO doc;`, SOURCE);
    const load = Buffer.from(`SET NAMES utf8mb4;\n${sql}`, 'latin1');
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', `--max-allowed-packet=${PACKET}`, SOURCE], { input: load, maxBuffer: 1 << 20 });
    assert.equal(run.status, 0, String(run.stderr));
    const sums = (table: string) => mariadbCli(`SELECT id, LENGTH(body), SHA2(body, 256) FROM ${table} ORDER BY id;`, SOURCE);
    assert.equal(sums('doc'), sums('doc_orig'));
    assert.match(sums('doc'), new RegExp(`\\b${VALUE_MIB * 2 ** 20}\\b`));
  });
});
