/**
 * A database for consistency and fault tests: accounts whose balances and a transfers
 * journal change together in transactions (an invariant spanning two tables, which only a
 * dump from one snapshot keeps), with a large filler table between them in dump order so
 * the dump takes a while and can be caught mid-table.
 */
import type { Connection } from 'mysql2';
import { query } from '../../../ts-src/helper/db/connection.js';
import { mariadbCli } from './mariadb.js';

export const ACCOUNTS = 50;
export const OPENING_BALANCE = 1000;
export const FILLER_TABLE = 'm_filler';

export function createBank(database: string, fillerRows = 400_000): void {
  mariadbCli(
    `
CREATE TABLE a_balances (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
INSERT INTO a_balances SELECT seq, ${OPENING_BALANCE} FROM seq_1_to_${ACCOUNTS};
CREATE TABLE ${FILLER_TABLE} (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32), n BIGINT) ENGINE=InnoDB;
INSERT INTO ${FILLER_TABLE} SELECT seq, MD5(seq), MD5(seq + 1), MD5(seq + 2), seq * 7919 FROM seq_1_to_${fillerRows};
CREATE TABLE z_transfers (id INT AUTO_INCREMENT PRIMARY KEY, from_id INT NOT NULL, to_id INT NOT NULL, amount BIGINT NOT NULL) ENGINE=InnoDB;
`,
    database,
  );
}

let seed = 12345;
function random(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

/** One transfer in one transaction: both balances and the journal row, or nothing. */
export async function transfer(connection: Connection): Promise<void> {
  const from = 1 + random(ACCOUNTS);
  const to = 1 + ((from + random(ACCOUNTS - 1)) % ACCOUNTS);
  const amount = 1 + random(50);
  await query(connection, 'START TRANSACTION');
  await query(connection, 'UPDATE a_balances SET balance = balance - ? WHERE id = ?', [amount, from]);
  await query(connection, 'UPDATE a_balances SET balance = balance + ? WHERE id = ?', [amount, to]);
  await query(connection, 'INSERT INTO z_transfers (from_id, to_id, amount) VALUES (?, ?, ?)', [from, to, amount]);
  await query(connection, 'COMMIT');
}

/** Problems with the invariant (empty = consistent): every balance equals opening + in - out. */
export async function bankProblems(connection: Connection): Promise<string[]> {
  const rows = await query<{ id: number; balance: string; expected: string }>(
    connection,
    `SELECT b.id, b.balance,
            ${OPENING_BALANCE} + COALESCE((SELECT SUM(amount) FROM z_transfers WHERE to_id = b.id), 0)
                               - COALESCE((SELECT SUM(amount) FROM z_transfers WHERE from_id = b.id), 0) AS expected
       FROM a_balances b ORDER BY b.id`,
  );
  const problems = rows.filter((r) => String(r.balance) !== String(r.expected)).map((r) => `account ${r.id}: balance ${r.balance}, journal says ${r.expected}`);
  const [total] = await query<{ total: string }>(connection, 'SELECT SUM(balance) AS total FROM a_balances');
  if (String(total.total) !== String(ACCOUNTS * OPENING_BALANCE)) problems.push(`total ${total.total} != ${ACCOUNTS * OPENING_BALANCE}`);
  return problems;
}

/** Polls until the helper's SELECT on `table` runs; returns that server connection's id. */
export async function waitForDumpOf(connection: Connection, database: string, table: string, afterId = 0, timeoutMs = 300_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // afterId: connections of an earlier, killed helper may linger on the server for a while
    const rows = await query<{ ID: number }>(
      connection,
      "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE CONCAT('SELECT %FROM `', ?, '`%') AND ID <> CONNECTION_ID() AND ID > ? ORDER BY ID DESC",
      [database, table, afterId],
    );
    if (rows.length > 0) return Number(rows[0].ID);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the helper never started reading ${table}`);
}

/** The newest server connection id now: connections opened later have larger ids. */
export async function currentConnectionId(connection: Connection): Promise<number> {
  const [row] = await query<{ id: number }>(connection, 'SELECT CONNECTION_ID() AS id');
  return Number(row.id);
}
