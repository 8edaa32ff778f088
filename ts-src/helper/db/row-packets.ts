/**
 * Rows of a SELECT as the server's row packets, handed over synchronously and unparsed.
 *
 * mysql2 normally turns every row packet into an array with one Buffer per value (typeCast
 * off) or one JS value per column. For a dump that is the largest cost after compression:
 * on the CiviCRM-shaped sample, value allocation and the garbage it leaves took about a
 * third of the main thread. A query started here keeps mysql2's connection handling,
 * framing, errors and flow control, but its row parser returns the packet itself, so the
 * consumer reads the values in place (text-row.ts) while the packet's memory is still the
 * network chunk it arrived in.
 *
 * How: mysql2 builds a query's row parser when the last column definition arrives
 * (Query.prototype.readField). The hook below wraps that method once per Query class and,
 * for queries marked by this module only, swaps the parser for one that returns the packet.
 * The packet object is reused by mysql2's parser, so the consumer must finish with it before
 * returning; `readRowPackets` checks the shape of what arrives and fails with a clear error
 * if a future mysql2 changes these internals (package-lock pins the version we test).
 */
import type { Connection } from 'mysql2';
import { BackupError } from '../core/errors.js';
import { decodeTextRow } from './text-row.js';

/** Called once per row with the payload bytes [start, end) of `buffer`; must not keep them. */
export type RowPacketHandler = (buffer: Buffer, start: number, end: number) => void;

export interface RowPacketReader {
  /** Resolves after the last row was handled; rejects on a server error or a lost connection. */
  readonly done: Promise<void>;
  /** Stops the socket: no more rows until resume() (backpressure). */
  pause(): void;
  resume(): void;
  /**
   * Stops handing rows to the handler (early exit). The rest of the result is read and
   * discarded so the connection stays usable; a caller giving up on the connection closes it.
   */
  discard(error?: unknown): void;
}

const RAW_ROWS = Symbol('civibackup.rawRows');

interface PacketLike {
  buffer: Buffer;
  offset: number;
  end: number;
}

interface QueryInternals {
  [RAW_ROWS]?: true;
  _rowParser?: unknown;
  _receivedFieldsCount?: number;
  _fieldCount?: number;
}

type ReadField = (this: QueryInternals, packet: unknown, connection: unknown) => unknown;

const PACKET_PARSER = { next: (packet: unknown): unknown => packet };
const hooked = new WeakSet<object>();

function hookQueryClass(query: object): void {
  const prototype = Object.getPrototypeOf(query) as { readField?: ReadField } | null;
  if (!prototype || hooked.has(prototype)) return;
  const original = prototype.readField;
  if (typeof original !== 'function') {
    throw new BackupError('INTERNAL', 'The bundled mysql2 no longer has Query.readField; the raw row reader needs updating for this mysql2 version.');
  }
  prototype.readField = function readField(this: QueryInternals, packet: unknown, connection: unknown): unknown {
    const next = original.call(this, packet, connection);
    if (this[RAW_ROWS] && this._receivedFieldsCount === this._fieldCount) this._rowParser = PACKET_PARSER;
    return next;
  };
  hooked.add(prototype);
}

function lostConnection(error?: Error): BackupError {
  return new BackupError('DB_LOST', `The database connection was lost while reading rows (${error?.message ?? 'the server closed the connection'}).`, {
    cause: error,
  });
}

/**
 * Runs `sql` and calls `onRow` for every row packet, synchronously as it arrives. A throw
 * from `onRow` ends the read with that error (the rest of the result is discarded).
 *
 * mysql2 neither ends nor errors a query without callback when the server drops the
 * connection mid-result (KILL, restart): only the connection says so ('error' or 'end').
 * That becomes BackupError DB_LOST; without it the read would wait forever.
 */
export function readRowPackets(connection: Connection, sql: string, onRow: RowPacketHandler): RowPacketReader {
  const query = connection.query({ sql, rowsAsArray: true, typeCast: false });
  hookQueryClass(query);
  (query as unknown as QueryInternals)[RAW_ROWS] = true;

  let finished = false;
  let discarding = false;
  let paused = false;
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // A caller that stops awaiting after a failure must not see an unhandled rejection.
  done.catch(() => undefined);

  const resume = (): void => {
    if (!paused) return;
    paused = false;
    // Handles the packets mysql2 held back synchronously; onRow may pause again.
    connection.resume();
  };
  const finish = (error?: unknown): void => {
    if (finished) return;
    finished = true;
    query.off('result', onPacket);
    connection.off('error', onConnectionError);
    connection.off('end', onConnectionEnd);
    resume();
    if (error !== undefined) settle!.reject(error);
    else settle!.resolve();
  };
  const discard = (error?: unknown): void => {
    if (discarding) return;
    discarding = true;
    resume();
    // A failure is reported at once; the rest of the result drains in the background.
    if (error !== undefined) finish(error);
  };
  const onPacket = (packet: PacketLike): void => {
    if (discarding) return;
    if (packet === null || typeof packet !== 'object' || !Buffer.isBuffer(packet.buffer) || typeof packet.offset !== 'number') {
      discard(new BackupError('INTERNAL', 'mysql2 delivered parsed rows where raw row packets were expected; the raw row reader needs updating for this mysql2 version.'));
      return;
    }
    try {
      onRow(packet.buffer, packet.offset, packet.end);
    } catch (error) {
      discard(error);
    }
  };
  const onConnectionError = (error: Error): void => finish(lostConnection(error));
  const onConnectionEnd = (): void => finish(lostConnection());
  query.on('result', onPacket as (row: unknown) => void);
  // A server error ends the query with 'error' and then 'end'; the first one counts.
  query.on('error', (error: Error & { fatal?: boolean }) => finish(error.fatal ? lostConnection(error) : error));
  query.on('end', () => finish());
  connection.on('error', onConnectionError);
  connection.on('end', onConnectionEnd);

  return {
    done,
    pause: () => {
      if (paused || finished || discarding) return;
      paused = true;
      connection.pause();
    },
    resume,
    discard,
  };
}

/** All rows of a small result as values (tests and tools; the dump never collects rows). */
export async function collectRows(connection: Connection, sql: string, columnCount: number): Promise<(Buffer | null)[][]> {
  const rows: (Buffer | null)[][] = [];
  const reader = readRowPackets(connection, sql, (buffer, start, end) => {
    // The packet's memory may be reused after the handler returns: copy.
    const copy = Buffer.from(buffer.subarray(start, end));
    rows.push(decodeTextRow(copy, 0, copy.length, columnCount));
  });
  await reader.done;
  return rows;
}
