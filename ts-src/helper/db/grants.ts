/**
 * What to tell an administrator when the database user may not do something: the exact
 * GRANT statement, for the account the helper is connected as.
 *
 * CiviCRM's installation guide gives its database user these privileges on its own database,
 * and nothing global (no RELOAD, PROCESS, SUPER, no CREATE on other databases). Backup, quick
 * verify and restore into a database the user holds them on work with exactly these; a deep
 * verify or a restore into another database needs that database granted the same way.
 */
import { quoteIdentifier } from './sql-literal.js';

export const CIVICRM_DATABASE_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'INDEX',
  'ALTER',
  'CREATE TEMPORARY TABLES',
  'LOCK TABLES',
  'TRIGGER',
  'CREATE ROUTINE',
  'ALTER ROUTINE',
  'CREATE VIEW',
  'SHOW VIEW',
  'EXECUTE',
  'REFERENCES',
] as const;

/** CURRENT_USER() ("user@host") as an account name for SQL: 'user'@'host'. */
export function accountName(currentUser: string): string {
  const at = currentUser.lastIndexOf('@');
  const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return at < 0 ? quote(currentUser) : `${quote(currentUser.slice(0, at))}@${quote(currentUser.slice(at + 1))}`;
}

/** CREATE DATABASE (when it must be made) and the GRANT of CiviCRM's privileges on it. */
export function grantDatabaseStatements(database: string, account: string, create: boolean): string {
  const db = quoteIdentifier(database);
  return `${create ? `CREATE DATABASE ${db}; ` : ''}GRANT ${CIVICRM_DATABASE_PRIVILEGES.join(', ')} ON ${db}.* TO ${account};`;
}

/** The account of a connection, for a message; a placeholder when even that cannot be asked. */
export async function currentAccount(rows: <T>(sql: string) => Promise<T[]>): Promise<string> {
  try {
    const [row] = await rows<{ user: string }>('SELECT CURRENT_USER() AS user');
    return accountName(String(row.user));
  } catch {
    return "'user'@'host'";
  }
}
