/** Test access to the machine's MariaDB (127.0.0.1:3306, root, empty password). */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { Connection } from 'mysql2';
import { openConnection, query, closeConnection } from '../../../ts-src/helper/db/connection.js';
import { parseDsn, type Dsn } from '../../../ts-src/helper/db/dsn.js';

export const ROOT_DSN_TEXT = 'mysql://root@127.0.0.1:3306/mysql';

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export function dsnText(database: string, user = 'root', password = ''): string {
  return `mysql://${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:3306/${database}`;
}

export function dsnFor(database: string): Dsn {
  return parseDsn(dsnText(database));
}

/** Runs SQL text with the mariadb client (handles DELIMITER and multi statements). */
export function mariadbCli(sql: string, database?: string): string {
  const run = spawnSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', '--default-character-set=utf8mb4', '--batch', '--skip-column-names', ...(database ? [database] : [])], {
    input: sql,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`mariadb failed (${run.status}): ${run.stderr}`);
  return run.stdout;
}

export async function withRoot<T>(database: string, body: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await openConnection(dsnFor(database));
  try {
    return await body(connection);
  } finally {
    await closeConnection(connection);
  }
}

export async function createDatabase(name: string): Promise<void> {
  mariadbCli(`DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;`);
}

export function dropDatabase(name: string): void {
  try {
    mariadbCli(`DROP DATABASE IF EXISTS \`${name}\`;`);
  } catch {
    /* best effort in cleanup */
  }
}

export { query };
