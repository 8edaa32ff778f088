/**
 * Messages between pack-writer.ts (main thread) and pack-append-worker.ts. Requests are
 * handled in the order they are posted, one at a time (a close's fsync finishes later);
 * every request gets one reply with its `seq`. `pack` is the writer's handle of a temp pack:
 * several can be open (one filling, others closing).
 */

export type PackWorkerRequest =
  /** Creates the temp pack ('wx': never over an existing file) and writes the age header, if any. */
  | { op: 'open'; seq: number; pack: number; path: string; header: Uint8Array; fileKey: Uint8Array | null }
  /** Seals (when the pack has a file key) and appends each blob's stored bytes, in order. */
  | { op: 'append'; seq: number; pack: number; blobs: Uint8Array[] }
  /**
   * fsyncs and closes the temp pack; replies with the SHA-256 of its bytes (the pack's name).
   * The fsync runs on the thread pool: appends to the next pack go on meanwhile.
   */
  | { op: 'close'; seq: number; pack: number }
  /** Closes and deletes the temp pack (abort). */
  | { op: 'discard'; seq: number; pack: number };

export interface WorkerErrorShape {
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
}

export type PackWorkerReply =
  | { seq: number; ok: true; storedSha256?: string[]; name?: string; bytes?: number }
  | { seq: number; ok: false; error: WorkerErrorShape };
