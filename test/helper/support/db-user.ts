/** A real MariaDB account for a test, created by root and dropped afterwards. */
import { mariadbCli, uniqueName } from './mariadb.js';

/** Both host forms: 127.0.0.1 over TCP with skip_name_resolve, localhost when names are resolved. */
const HOSTS = ['127.0.0.1', 'localhost'];

export interface TestDbUser {
  user: string;
  password: string;
  /** Runs each statement for every host form; `{user}` stands for 'name'@'host'. */
  grant(statement: string): void;
  drop(): void;
}

export function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function createDbUser(prefix: string, password: string): TestDbUser {
  const user = uniqueName(prefix).slice(0, 32);
  const accounts = HOSTS.map((host) => `${sqlString(user)}@${sqlString(host)}`);
  mariadbCli(accounts.map((a) => `CREATE USER ${a} IDENTIFIED BY ${sqlString(password)};`).join('\n'));
  return {
    user,
    password,
    grant(statement: string) {
      mariadbCli(accounts.map((a) => `${statement.replaceAll('{user}', a)};`).join('\n'));
    },
    drop() {
      try {
        mariadbCli(accounts.map((a) => `DROP USER IF EXISTS ${a};`).join('\n'));
      } catch {
        /* best effort in cleanup */
      }
    },
  };
}
