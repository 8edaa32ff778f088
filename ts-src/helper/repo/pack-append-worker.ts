/**
 * The pack writer's worker thread: it appends blobs to the open temp pack file. Per blob it
 * seals (encrypted repositories), hashes the stored bytes (the index's storedSha256), feeds
 * the pack's own hash (its name) and writes. These are the per-byte passes of a backup's
 * first run; on the main thread they left the second core idle while the main thread also
 * read, hashed and looked up every block (see docs/benchmarks.md, issue #14).
 *
 * One message at a time, in order, with synchronous writes (this thread has nothing else to
 * do); only a closing pack's fsync goes to the thread pool, so the next pack fills meanwhile.
 * It knows nothing of ids, indexes or renames: pack-writer.ts decides what goes where; this
 * file only turns bytes into a durable temp file and says what it wrote.
 *
 * Imports only node: modules and age-payload.ts, so its bundle stays small to start.
 */
import { close, closeSync, fsync, openSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { sealPayloadPieces } from '../crypto/age-payload.js';
import type { PackWorkerReply, PackWorkerRequest, WorkerErrorShape } from './pack-worker-protocol.js';

interface OpenTempPack {
  fd: number;
  path: string;
  hash: Hash;
  position: number;
  fileKey: Uint8Array | null;
}

const packs = new Map<number, OpenTempPack>();

/** Appends `pieces` one after the other (one writev unless it comes back short); returns their SHA-256. */
function writePieces(target: OpenTempPack, pieces: Uint8Array[]): string {
  const stored = createHash('sha256');
  let total = 0;
  for (const piece of pieces) {
    stored.update(piece);
    target.hash.update(piece);
    total += piece.length;
  }
  let written = writevSync(target.fd, pieces, target.position);
  if (written < total) {
    // A short writev (rare: a signal, a nearly full disk): the rest piece by piece, which
    // throws ENOSPC if the disk is full.
    let skip = written;
    for (const piece of pieces) {
      if (skip >= piece.length) {
        skip -= piece.length;
        continue;
      }
      let done = skip;
      skip = 0;
      while (done < piece.length) {
        const n = writeSync(target.fd, piece, done, piece.length - done, target.position + written);
        done += n;
        written += n;
      }
    }
  }
  target.position += total;
  return stored.digest('hex');
}

function errorShape(error: unknown): WorkerErrorShape {
  const e = error as NodeJS.ErrnoException;
  return { message: e?.message ?? String(error), code: e?.code, syscall: e?.syscall, path: e?.path };
}

function openPack(handle: number): OpenTempPack {
  const pack = packs.get(handle);
  if (!pack) throw new Error(`temp pack ${handle} is not open in the pack worker`);
  return pack;
}

/** The reply, or null when it is sent later (a close waits for its fsync on the thread pool). */
function handle(request: PackWorkerRequest): PackWorkerReply | null {
  switch (request.op) {
    case 'open': {
      if (packs.has(request.pack)) throw new Error(`temp pack ${request.pack} is already open in the pack worker`);
      const pack: OpenTempPack = { fd: openSync(request.path, 'wx', 0o600), path: request.path, hash: createHash('sha256'), position: 0, fileKey: request.fileKey };
      packs.set(request.pack, pack);
      if (request.header.length > 0) writePieces(pack, [request.header]);
      return { seq: request.seq, ok: true };
    }
    case 'append': {
      const pack = openPack(request.pack);
      const storedSha256: string[] = [];
      for (const bytes of request.blobs) storedSha256.push(writePieces(pack, pack.fileKey ? sealPayloadPieces(pack.fileKey, bytes) : [bytes]));
      return { seq: request.seq, ok: true, storedSha256 };
    }
    case 'close': {
      const pack = openPack(request.pack);
      packs.delete(request.pack);
      const name = pack.hash.digest('hex');
      fsync(pack.fd, (syncError) => {
        close(pack.fd, (closeError) => {
          const error = syncError ?? closeError;
          parentPort!.postMessage(error ? { seq: request.seq, ok: false, error: errorShape(error) } : { seq: request.seq, ok: true, name, bytes: pack.position });
        });
      });
      return null;
    }
    case 'discard': {
      const pack = packs.get(request.pack);
      packs.delete(request.pack);
      if (pack) {
        try {
          closeSync(pack.fd);
        } catch {
          // already closed: the unlink below is what matters
        }
        try {
          unlinkSync(pack.path);
        } catch {
          // gone already; a leftover temp pack is removed by the next prune in any case
        }
      }
      return { seq: request.seq, ok: true };
    }
  }
}

parentPort!.on('message', (request: PackWorkerRequest) => {
  let reply: PackWorkerReply | null;
  try {
    reply = handle(request);
  } catch (error) {
    reply = { seq: request.seq, ok: false, error: errorShape(error) };
  }
  if (reply) parentPort!.postMessage(reply);
});
