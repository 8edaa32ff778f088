/**
 * Quick verify of a v2 set: every piece it needs exists with the right size and the SHA-256
 * its index records for the stored bytes (no key needed), and when a piece is damaged, every
 * set at the destination that needs it is named: one flipped byte in a shared pack can break
 * many sets, and a person must learn all of them, not only the one being verified.
 *
 * What a set needs: with its catalog readable (unencrypted, or keys given) exactly its blobs:
 * the catalog, the database SQL, the trees and the file contents the trees name. Without keys
 * an encrypted set's blob list is itself encrypted, so every blob of every pack its manifest
 * lists is checked (a superset), and other sets are matched by the packs they list.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, SETS_DIR, type Catalog, type ManifestV2 } from '../../protocol/manifest.js';
import { readTree } from '../files/tree-reader.js';
import { BackupError } from '../core/errors.js';
import { checkBlobs, checkBlobsStreamed } from '../repo/check.js';
import { indexPath, packPath, parsePackIndex } from '../repo/layout.js';
import type { BlobReader, Repository } from '../repo/repository.js';

export interface PieceProblem {
  /** A blob id, or a pack name for a problem of the pack file as a whole. */
  piece: string;
  pack?: string;
  problem: string;
}

/** Every blob id a set needs, from its readable catalog (reads its trees). */
export async function blobsOfSet(stored: ManifestV2, catalog: Catalog, reader: BlobReader): Promise<Set<string>> {
  const ids = new Set<string>(stored.catalog);
  for (const db of catalog.databases) {
    for (const id of db.schemaBlobs) ids.add(id);
    for (const id of db.objectBlobs) ids.add(id);
    for (const table of db.tables) for (const id of table.blobs) ids.add(id);
  }
  for (const files of catalog.files) {
    for (const id of files.tree) ids.add(id);
    for await (const entry of readTree(files, reader)) for (const id of entry.b ?? []) ids.add(id);
  }
  return ids;
}

/** Every blob id in some packs, from their index files (no key needed). */
async function blobsInPacks(root: string, packs: readonly string[]): Promise<{ ids: Set<string>; problems: PieceProblem[] }> {
  const ids = new Set<string>();
  const problems: PieceProblem[] = [];
  for (const pack of packs) {
    let text: string;
    try {
      text = await readFile(indexPath(root, pack), 'utf8');
    } catch {
      problems.push({ piece: pack, pack, problem: `the index file of pack ${pack} is missing` });
      continue;
    }
    try {
      for (const [id] of parsePackIndex(text, pack).blobs) ids.add(id);
    } catch (error) {
      problems.push({ piece: pack, pack, problem: (error as Error).message });
    }
  }
  return { ids, problems };
}

/** Packs of a manifest present with the size it records. */
async function checkPackFiles(root: string, stored: ManifestV2): Promise<PieceProblem[]> {
  const problems: PieceProblem[] = [];
  for (const pack of stored.packs) {
    const info = await stat(packPath(root, pack.name)).catch(() => null);
    if (!info) problems.push({ piece: pack.name, pack: pack.name, problem: `pack ${pack.name} is missing` });
    else if (info.size !== pack.bytes) problems.push({ piece: pack.name, pack: pack.name, problem: `pack ${pack.name} is ${info.size} bytes, set ${stored.id} says ${pack.bytes}` });
  }
  return problems;
}

/** repo/check.ts checkBlobs, its problems as pieces. */
export async function checkBlobsOf(repository: Repository, ids: Iterable<string>): Promise<PieceProblem[]> {
  return (await checkBlobs(repository, ids)).map((p) => ({ piece: p.id, ...(p.pack ? { pack: p.pack } : {}), problem: p.problem }));
}

/** checkBlobsOf for a set's whole list of blobs, streamed (memory: a bit per index entry, one pack's ids at a time). */
export async function checkBlobsOfStreamed(repository: Repository, ids: (need: (id: string) => void) => Promise<void>): Promise<PieceProblem[]> {
  return (await checkBlobsStreamed(repository, ids)).map((p) => ({ piece: p.id, ...(p.pack ? { pack: p.pack } : {}), problem: p.problem }));
}

export interface V2CheckResult {
  problems: PieceProblem[];
  /** Blobs checked. */
  pieces: number;
  /** True when the set's own blob list was unreadable (encrypted, no key): its packs were checked whole. */
  byPack: boolean;
}

export async function checkSetPieces(repository: Repository, stored: ManifestV2, catalog: Catalog | undefined, reader: BlobReader): Promise<V2CheckResult> {
  const problems = await checkPackFiles(repository.root, stored);
  let ids: Set<string>;
  if (catalog) ids = await blobsOfSet(stored, catalog, reader);
  else {
    const inPacks = await blobsInPacks(repository.root, stored.packs.map((p) => p.name));
    problems.push(...inPacks.problems);
    ids = inPacks.ids;
    for (const id of stored.catalog) ids.add(id);
  }
  problems.push(...(await checkBlobsOf(repository, ids)));
  return { problems, pieces: ids.size, byPack: !catalog };
}

/** Ids of the v2 sets at a destination with a manifest (complete), oldest first. */
export async function listV2SetIds(destination: string): Promise<string[]> {
  const entries = await readdir(join(destination, SETS_DIR), { withFileTypes: true }).catch(() => []);
  const ids: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    if (await stat(join(destination, SETS_DIR, entry.name, MANIFEST_FILE)).then(() => true, () => false)) ids.push(entry.name);
  }
  return ids.sort();
}

export interface AffectedSet {
  setId: string;
  /** How it was matched: by its exact blob list, or (encrypted, no key) by the packs it lists. */
  by: 'blob' | 'pack';
}

/**
 * Every v2 set at the destination that needs one of the damaged pieces: exactly (its catalog
 * and trees name the blob) when its catalog can be read, else by the packs its manifest lists.
 * A set whose catalog is itself damaged is affected too.
 */
export async function setsNeeding(
  destination: string,
  damaged: readonly PieceProblem[],
  open: (setId: string) => Promise<{ stored: ManifestV2; catalog: Catalog | undefined; blobs: BlobReader }>,
): Promise<AffectedSet[]> {
  const damagedIds = new Set(damaged.map((d) => d.piece));
  const damagedPacks = new Set(damaged.map((d) => d.pack).filter((p): p is string => p !== undefined));
  const affected: AffectedSet[] = [];
  for (const setId of await listV2SetIds(destination)) {
    let set;
    try {
      set = await open(setId);
    } catch (error) {
      // Its catalog does not read (damaged, the very blob): it is broken too.
      if (error instanceof BackupError && error.code === 'SET_DAMAGED') affected.push({ setId, by: 'blob' });
      continue;
    }
    if (set.catalog) {
      let needs: Set<string>;
      try {
        needs = await blobsOfSet(set.stored, set.catalog, set.blobs);
      } catch {
        affected.push({ setId, by: 'blob' }); // a tree blob is unreadable
        continue;
      }
      if ([...damagedIds].some((id) => needs.has(id))) affected.push({ setId, by: 'blob' });
    } else if (set.stored.packs.some((p) => damagedPacks.has(p.name)) || set.stored.catalog.some((id) => damagedIds.has(id))) {
      affected.push({ setId, by: 'pack' });
    }
  }
  return affected;
}
