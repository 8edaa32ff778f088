/**
 * Quick verify of blobs without any key: every blob asked about must be in the index, its
 * pack and index file must exist, the pack must be long enough, and the SHA-256 of the stored
 * bytes must be the one the index file recorded. Each pack needed is read once, as a stream
 * (memory: one read buffer plus a digest per blob of that pack), whatever its size.
 *
 * In an encrypted pack the shared age header is not covered by any blob's digest; the pack's
 * name is the SHA-256 of all its bytes, so when every blob matches but the pack's digest does
 * not, the altered bytes are in the header, and every blob of the pack is unreadable.
 *
 * Problems are per blob id, so a caller holding set -> blob ids names every set affected.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { indexPath, packPath, parsePackIndex, type IndexEntry } from './layout.js';
import type { Repository } from './repository.js';

export interface BlobProblem {
  id: string;
  pack?: string;
  problem: string;
}

/** Packs checked at the same time (each is one sequential read). */
const PACK_CONCURRENCY = 2;
const READ_CHUNK = 1024 * 1024;
/** The digest of a span the stream never reached (an empty span at the very end). */
const EMPTY_SHA256 = createHash('sha256').digest('hex');

interface Span {
  start: number;
  end: number;
  /** Hex SHA-256 of the span's bytes, once the stream has passed its end. */
  digest?: string;
  entry: IndexEntry;
}

/**
 * Hashes the whole pack and every blob span in one pass; returns the pack's digest and bytes
 * read. Spans are sorted and do not overlap, so one span's hash is open at a time: a Hash per
 * span made up front (8,192 in a pack of small files) kept ~65 MiB of OpenSSL contexts alive
 * until a garbage collection, when a restore of a million files checked its packs.
 */
async function hashPack(path: string, spans: Span[]): Promise<{ digest: string; bytes: number }> {
  const whole = createHash('sha256');
  let position = 0;
  let next = 0; // first span not yet fully hashed
  let open: Hash | undefined; // spans[next]'s hash while the span runs past a chunk
  await pipeline(
    createReadStream(path, { highWaterMark: READ_CHUNK }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        whole.update(chunk);
        const chunkEnd = position + chunk.length;
        while (next < spans.length && spans[next].start < chunkEnd) {
          const span = spans[next];
          const from = Math.max(span.start, position);
          const to = Math.min(span.end, chunkEnd);
          open ??= createHash('sha256');
          if (to > from) open.update(chunk.subarray(from - position, to - position));
          if (span.end > chunkEnd) break; // continues in the next chunk
          span.digest = open.digest('hex');
          open = undefined;
          next += 1;
        }
        position = chunkEnd;
        callback();
      },
    }),
  );
  return { digest: whole.digest('hex'), bytes: position };
}

/**
 * The blobs of one pack to check: a set of ids, or (checkBlobsStreamed) a test on the ids its
 * index file lists plus the ids the caller expected there but the file did not list.
 */
type Wanted = Set<string> | { has(id: string): boolean; unlisted(seen: ReadonlySet<string>): Iterable<string>; all(): Iterable<string> };

async function checkPack(root: string, pack: string, wanted: Wanted, problems: BlobProblem[]): Promise<void> {
  const allWanted = (): Iterable<string> => (wanted instanceof Set ? wanted : wanted.all());
  const report = (problem: string, ids: Iterable<string> = allWanted()): void => {
    for (const id of ids) problems.push({ id, pack, problem });
  };
  let indexText: string;
  try {
    indexText = await readFile(indexPath(root, pack), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    report(`the index file of pack ${pack} is missing (${indexPath(root, pack)})`);
    return;
  }
  let entries: IndexEntry[];
  let header: number;
  try {
    const index = parsePackIndex(indexText, pack);
    entries = index.blobs;
    header = index.header;
  } catch (error) {
    report(`${(error as Error).message} (${indexPath(root, pack)})`);
    return;
  }
  const path = packPath(root, pack);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    report(`pack ${pack} is missing (${path})`);
    return;
  }
  const spans: Span[] = entries.map((entry) => ({ start: entry[1], end: entry[1] + entry[2], entry })).sort((a, b) => a.start - b.start);
  const { digest } = await hashPack(path, spans);
  const seen = new Set<string>();
  let allBlobsIntact = true;
  const expectedEnd = spans.reduce((end, s) => Math.max(end, s.end), header);
  for (const span of spans) {
    const [id, , , , , storedSha256] = span.entry;
    let problem: string | undefined;
    if (span.end > size) problem = `pack ${pack} is truncated: the blob ends at byte ${span.end}, the pack has ${size} bytes`;
    else if ((span.digest ?? EMPTY_SHA256) !== storedSha256) problem = `the stored bytes of the blob in pack ${pack} were altered (SHA-256 differs from its index entry)`;
    if (problem) allBlobsIntact = false;
    if (wanted.has(id) && !seen.has(id)) {
      seen.add(id);
      if (problem) problems.push({ id, pack, problem });
    }
  }
  const unlisted = wanted instanceof Set ? [...wanted].filter((id) => !seen.has(id)) : wanted.unlisted(seen);
  for (const id of unlisted) problems.push({ id, pack, problem: `the index file of pack ${pack} does not list the blob` });
  if (allBlobsIntact && digest !== pack && header > 0 && size === expectedEnd) {
    report(`the age header of pack ${pack} was altered (every blob matches, the pack's SHA-256 does not): no blob of it can be decrypted`, seen);
  }
}

/**
 * Checks the stored bytes of `ids` (duplicates are fine). Returns one entry per problem blob;
 * an empty list means every blob is present and intact as stored.
 */
export async function checkBlobs(repo: Repository, ids: Iterable<string>): Promise<BlobProblem[]> {
  const reader = repo.reader();
  const problems: BlobProblem[] = [];
  const byPack = new Map<string, Set<string>>();
  const unknown = new Set<string>();
  for (const id of ids) {
    const pack = reader.packOf(id);
    if (pack === undefined) unknown.add(id);
    else {
      let set = byPack.get(pack);
      if (!set) byPack.set(pack, (set = new Set()));
      set.add(id);
    }
  }
  for (const id of unknown) problems.push({ id, problem: 'the blob is in no index file of the repository (its pack was deleted or never finished)' });
  const packs = [...byPack.keys()].sort();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < packs.length) {
      const pack = packs[next++];
      await checkPack(repo.root, pack, byPack.get(pack) as Set<string>, problems);
    }
  };
  await Promise.all(Array.from({ length: PACK_CONCURRENCY }, worker));
  return problems;
}

/**
 * checkBlobs for every blob a whole set needs, streamed by `ids` (a tree of a million files):
 * the blobs are marked one bit per index entry (SetReferences), not held as a Set of id
 * strings and again per pack (a restore of a million files grew past 650 MB that way), and
 * each needed pack's ids are taken from its index file when that pack is checked.
 */
export async function checkBlobsStreamed(repo: Repository, ids: Iterable<string> | ((need: (id: string) => void) => Promise<void>)): Promise<BlobProblem[]> {
  const needed = repo.references();
  const problems: BlobProblem[] = [];
  const unknown = new Set<string>();
  const need = (id: string): void => {
    if (!needed.add(id)) unknown.add(id);
  };
  // A callback rather than an async iterable: an await per id of a million made garbage enough
  // to double the JS heap while a restore checked its pieces.
  if (typeof ids === 'function') await ids(need);
  else for (const id of ids) need(id);
  for (const id of unknown) problems.push({ id, problem: 'the blob is in no index file of the repository (its pack was deleted or never finished)' });
  const packs = [...needed.packs.keys()].sort();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < packs.length) {
      const pack = packs[next++];
      await checkPack(repo.root, pack, { has: (id) => needed.counts(id, pack), unlisted: (seen) => needed.idsIn(pack, seen), all: () => needed.idsIn(pack, new Set()) }, problems);
    }
  };
  await Promise.all(Array.from({ length: PACK_CONCURRENCY }, worker));
  return problems;
}
