/**
 * The main thread's handle on the pack writer's worker thread (pack-append-worker.ts):
 * requests in, replies out, in order. Failures of the worker's file calls come back as errors
 * with their errno `code`, so toBackupError maps ENOSPC to DISK_FULL as for any other write.
 *
 * The worker is unref'd whenever no request waits on it: an abandoned writer (a run that
 * failed elsewhere) never keeps the process alive.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BackupError } from '../core/errors.js';
import type { PackWorkerReply, PackWorkerRequest } from './pack-worker-protocol.js';

type Request = PackWorkerRequest extends infer R ? (R extends { seq: number } ? Omit<R, 'seq'> : never) : never;
type OkReply = Extract<PackWorkerReply, { ok: true }>;

/**
 * The worker's code is built beside the helper bundle (dist/civibackup-pack-worker.mjs,
 * rollup.config.js). When the helper runs from source (tests under tsx), it is the
 * TypeScript beside this file, and the worker registers tsx's loader first (loader hooks
 * registered on the main thread do not reach workers on Node 20).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    // This code is in dist/civibackup.mjs or, should rollup move it, in dist/helper-chunks/.
    const places = [new URL('./civibackup-pack-worker.mjs', import.meta.url), new URL('../civibackup-pack-worker.mjs', import.meta.url)];
    const found = places.find((place) => existsSync(place));
    if (!found) {
      const dist = fileURLToPath(places[0]!).replace(/civibackup-pack-worker\.mjs$/, '');
      throw new BackupError('CONFIG', `The helper's pack worker civibackup-pack-worker.mjs is missing in ${dist}: install CiviBackup again from its release zip, or run \`npm run build\` in the extension directory.`);
    }
    return new Worker(found);
  }
  const source = new URL('./pack-append-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`, { eval: true });
}

export class PackAppender {
  private readonly worker: Worker;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (reply: OkReply) => void; reject: (error: Error) => void }>();
  private broken: Error | null = null;

  constructor() {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (reply: PackWorkerReply) => {
      const waiter = this.waiting.get(reply.seq);
      if (!waiter) return;
      this.waiting.delete(reply.seq);
      if (this.waiting.size === 0) this.worker.unref();
      if (reply.ok) waiter.resolve(reply);
      else waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code, syscall: reply.error.syscall, path: reply.error.path }));
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the pack writer's worker thread stopped (exit code ${code})`)));
  }

  /** `transfer`: memory that moves to the worker (empty here afterwards) instead of being copied. */
  request(request: Request, transfer: ArrayBuffer[] = []): Promise<OkReply> {
    if (this.broken) return Promise.reject(this.broken);
    const seq = ++this.seq;
    return new Promise<OkReply>((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ ...request, seq }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.broken ??= new Error('the pack writer has finished');
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(this.broken);
    this.waiting.clear();
  }
}
