/**
 * The restore over a live database, as a site sees it: how long the restore takes, and how
 * long a reader polling the live database on its own connection had no valid answer.
 *
 * A "live" copy of the bench database is made (restored from the helper's set, then changed
 * so the old and the new data differ), a reader polls it as fast as it can with one
 * statement over three tables (row counts of civicrm_contact and civicrm_email and the
 * highest contact id), and the helper restores the set over it, atomically (staging
 * database, one RENAME TABLE) or --in-place (drop, then load: what every restore did before).
 *
 * An answer is valid when it is exactly the old or exactly the new data. The unavailable
 * window is the longest time between two valid answers: a reader blocked by a lock, or
 * answered with a missing, empty or half-loaded table, is counted as unavailable all along.
 * With nothing happening it is about one poll (tens of milliseconds at scale 1).
 */
import mysql from 'mysql2/promise';

export interface WindowResult {
  /** Longest time between two valid answers, ms. */
  unavailableMs: number;
  polls: number;
  /** Answers that were neither the old nor the new data (empty, partial) or errors (missing). */
  invalid: number;
  /** Median time of one poll, ms (what the window is when nothing is in the way). */
  medianPollMs: number;
  /** A few of the invalid answers, for the report. */
  examples: string[];
}

const q = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

export async function observe(connection: mysql.Connection, database: string): Promise<string> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM ${q(database)}.civicrm_contact) AS contacts, (SELECT COUNT(*) FROM ${q(database)}.civicrm_email) AS emails, (SELECT MAX(id) FROM ${q(database)}.civicrm_contact) AS maxId`,
  );
  const r = rows[0]!;
  return `contacts ${r.contacts}, emails ${r.emails}, max id ${r.maxId}`;
}

/** Changes a live copy so that its data differs from the set's (every 50th contact and its e-mails gone). */
export async function divergeLiveCopy(connection: mysql.Connection, database: string): Promise<void> {
  await connection.query('SET SESSION foreign_key_checks = 0');
  await connection.query(`DELETE FROM ${q(database)}.civicrm_email WHERE contact_id % 50 = 0`);
  await connection.query(`DELETE FROM ${q(database)}.civicrm_contact WHERE id % 50 = 0`);
  await connection.query('SET SESSION foreign_key_checks = 1');
}

/** Polls `database` until `during` settles; returns the window. */
export async function pollDuring(options: { connection: mysql.ConnectionOptions; database: string; valid: Set<string>; during: () => Promise<unknown> }): Promise<WindowResult> {
  const reader = await mysql.createConnection(options.connection);
  let stopped = false;
  const durations: number[] = [];
  const examples: string[] = [];
  let invalid = 0;
  let lastValid = Date.now();
  let unavailableMs = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      let answer: string;
      try {
        answer = await observe(reader, options.database);
      } catch (error) {
        answer = `error: ${(error as Error).message}`;
      }
      const now = Date.now();
      durations.push(now - started);
      if (options.valid.has(answer)) {
        unavailableMs = Math.max(unavailableMs, now - lastValid);
        lastValid = now;
      } else {
        invalid += 1;
        if (examples.length < 3 && !examples.includes(answer)) examples.push(answer);
      }
    }
  })();
  try {
    await options.during();
  } finally {
    stopped = true;
    await loop;
    await reader.end();
  }
  // Still invalid at the end (e.g. a failed restore): the window runs to the end.
  unavailableMs = Math.max(unavailableMs, Date.now() - lastValid);
  durations.sort((a, b) => a - b);
  return { unavailableMs, polls: durations.length, invalid, medianPollMs: durations[Math.floor(durations.length / 2)] ?? 0, examples };
}
