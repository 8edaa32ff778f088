/**
 * Executing dump statements on restore connections, byte for byte.
 *
 * Restore connections use mysql2 with the `binary` handshake charset: mysql2 then writes a
 * query string's chars as single bytes, so a statement decoded as latin1 reaches the server
 * exactly as the dump wrote it (no UTF-8 decode and re-encode, nothing lost if the dump
 * holds bytes that are not valid UTF-8). The prelude's `SET NAMES utf8mb4` then tells the
 * server how to read them, as it does for `zcat | mariadb`.
 *
 * Reading a part overlaps with executing it: a producer decompresses and splits ahead into
 * a small bounded queue while the connection runs the previous statement.
 */
import type { Connection } from 'mysql2';
import type { Readable } from 'node:stream';
import { BackupError, toBackupError } from '../core/errors.js';
import { connectError, connectionOptions, loadMysql } from './connection.js';
import type { Dsn } from './dsn.js';
import { SqlSplitter, type SqlStatement } from './sql-splitter.js';
import { stopReadingPart } from '../set/part-reader.js';

export interface RestoreConnection {
  readonly connection: Connection;
  /** Runs one statement given as bytes. */
  run(sql: Buffer | string, where?: StatementOrigin): Promise<void>;
  /** Runs a query written in UTF-8 and returns its rows (metadata queries). */
  rows<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface StatementOrigin {
  file: string;
  statement: number;
  line?: number;
}

/** Quotes an identifier for SQL: backticks doubled. */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** UTF-8 text as the latin1 string whose chars are its bytes (what a binary connection sends). */
export function utf8AsBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** mysql2 decodes server messages with the connection charset: give them back their UTF-8. */
function serverMessage(error: unknown): string {
  const message = (error as { sqlMessage?: string; message?: string }).sqlMessage ?? (error as Error).message ?? String(error);
  return Buffer.from(message, 'latin1').toString('utf8');
}

/** The first 200 chars of a statement for an error message (data values may follow; no secrets are in a dump). */
export function statementPreview(sql: Buffer | string): string {
  const text = typeof sql === 'string' ? Buffer.from(sql, 'latin1').toString('utf8') : sql.subarray(0, 800).toString('utf8');
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat;
}

export async function openRestoreConnection(dsn: Dsn, database: string | null): Promise<RestoreConnection> {
  const options = connectionOptions(dsn);
  const mysql = await loadMysql();
  const connection = mysql.createConnection({
    ...options,
    database: database ?? undefined,
    charset: 'BINARY',
    multipleStatements: false,
    // mysql2 otherwise scans every statement (1 MB INSERTs) for `?` placeholders even when
    // no values are given: 20 % of the restore's own CPU (docs/benchmarks.md). Only rows()
    // passes values; those few metadata queries still get mysql2's escaping.
    queryFormat: (sql: string, values: unknown): string =>
      Array.isArray(values) && values.length > 0 ? mysql.format(sql, values, false, options.timezone ?? 'local') : sql,
  });
  await new Promise<void>((resolve, reject) => {
    connection.connect((error) => (error ? reject(connectError(dsn, error)) : resolve()));
  });
  connection.on('error', () => undefined);
  // mysql2 follows the server's session tracking: after `SET NAMES utf8mb4` it would encode
  // queries as UTF-8. Pin the binary encoding before every query.
  const config = (connection as unknown as { config: { charsetNumber: number } }).config;
  const binaryCharset = config.charsetNumber;
  const rawQuery = (sql: string, values?: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      config.charsetNumber = binaryCharset;
      connection.query({ sql, values }, (error, result) => (error ? reject(error) : resolve(result)));
    });
  let packetLimit = Number.POSITIVE_INFINITY;
  const restore: RestoreConnection = {
    connection,
    async run(sql, where) {
      if (sql.length + 64 > packetLimit) {
        // The server would drop the connection with a less helpful message.
        const place = where ? `${where.file}, statement ${where.statement}: ` : '';
        throw new BackupError(
          'CONFIG',
          `${place}a statement of ${sql.length} bytes exceeds the target server's max_allowed_packet (${packetLimit}); the source server allowed more. Raise it on the target (SET GLOBAL max_allowed_packet = ${Math.ceil((sql.length * 2) / 1048576)} * 1048576, or max_allowed_packet in the server configuration) and run the restore again.`,
        );
      }
      const text = typeof sql === 'string' ? sql : sql.toString('latin1');
      try {
        await rawQuery(text);
      } catch (error) {
        throw statementError(error, text, where);
      }
    },
    async rows<T>(sql: string, values?: unknown[]) {
      // Results come back decoded by their own column charset (utf8mb4 after SET NAMES);
      // only what we send must be given as bytes.
      return (await rawQuery(utf8AsBytes(sql), values?.map((v) => (typeof v === 'string' ? utf8AsBytes(v) : v)))) as T[];
    },
    close() {
      return new Promise((resolve) => {
        connection.end(() => {
          connection.destroy();
          resolve();
        });
      });
    },
  };
  // Server-side session: the server reads what we send as utf8mb4 (the prelude repeats it).
  await restore.run('SET NAMES utf8mb4');
  await restore.run('SET SESSION net_read_timeout = 3600, net_write_timeout = 3600, wait_timeout = 86400');
  const [limit] = await restore.rows<{ packet: number | string }>('SELECT @@max_allowed_packet AS packet');
  packetLimit = Number(limit?.packet) || Number.POSITIVE_INFINITY;
  return restore;
}

function statementError(error: unknown, sql: string, where?: StatementOrigin): BackupError {
  const mapped = toBackupError(error);
  if (mapped.code !== 'DB_QUERY' && mapped.code !== 'INTERNAL') return mapped;
  const place = where ? `${where.file}, statement ${where.statement}${where.line ? ` (line ${where.line})` : ''}: ` : '';
  return new BackupError('DB_QUERY', `${place}the server said: ${serverMessage(error)}; statement: ${statementPreview(sql)}`, { cause: error });
}

/** Statements of a stream, split ahead of the consumer into a queue of bounded size. */
export async function* readStatements(content: Readable, options: { aheadBytes?: number; onBytes?: (n: number) => void } = {}): AsyncGenerator<SqlStatement> {
  const limit = options.aheadBytes ?? 3 * 1024 * 1024;
  const splitter = new SqlSplitter();
  const queue: SqlStatement[] = [];
  let queuedBytes = 0;
  let done = false;
  let stopped = false;
  let failure: unknown;
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;
  const notifyConsumer = (): void => {
    wakeConsumer?.();
    wakeConsumer = null;
  };

  const produce = async (): Promise<void> => {
    try {
      for await (const chunk of content as AsyncIterable<Buffer>) {
        options.onBytes?.(chunk.length);
        for (const statement of splitter.push(chunk)) {
          queue.push(statement);
          queuedBytes += statement.sql.length;
        }
        notifyConsumer();
        if (stopped) break;
        while (queuedBytes > limit && !stopped) await new Promise<void>((resolve) => (wakeProducer = resolve));
      }
      for (const statement of splitter.end()) queue.push(statement);
    } catch (error) {
      failure = error;
    } finally {
      done = true;
      notifyConsumer();
    }
  };
  const producing = produce();
  try {
    for (;;) {
      if (queue.length > 0) {
        const statement = queue.shift()!;
        queuedBytes -= statement.sql.length;
        if (queuedBytes <= limit && wakeProducer) {
          const wake = wakeProducer as () => void;
          wakeProducer = null;
          wake();
        }
        yield statement;
        continue;
      }
      if (done) break;
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
    }
    if (failure) throw failure;
  } finally {
    if (!done) {
      stopped = true;
      stopReadingPart(content);
      const wake = wakeProducer as (() => void) | null;
      wakeProducer = null;
      wake?.();
    }
    await producing.catch(() => undefined);
  }
}
