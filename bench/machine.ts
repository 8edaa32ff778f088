/** The machine a benchmark ran on, for the report. */
import { cpus, loadavg, totalmem } from 'node:os';
import mysql from 'mysql2/promise';
import { parseDsn } from './civicrm-sample.js';

export interface Machine {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  mariadbVersion: string;
  innodbBufferPoolMiB: number;
  nodeVersion: string;
  kernel: string;
}

export async function describeMachine(dsn: string): Promise<Machine> {
  const conn = await mysql.createConnection(parseDsn(dsn));
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v, @@innodb_buffer_pool_size AS bp');
    const { release } = await import('node:os');
    return {
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      cpus: cpus().length,
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      mariadbVersion: String(rows[0]!.v),
      innodbBufferPoolMiB: Math.round(Number(rows[0]!.bp) / 1024 ** 2),
      nodeVersion: process.version,
      kernel: release(),
    };
  } finally {
    await conn.end();
  }
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
