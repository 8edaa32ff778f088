/**
 * Test support: writes a format-v2 set through the repository's real BlobWriter from the
 * content of a v1 set (its database parts, decompressed) and, optionally, directories on disk,
 * laid out as docs/format.md says (catalog, schemaBlobs = prelude first, objectBlobs = postlude
 * last, trees as NDJSON). For reader tests that need v2 sets whose content is known exactly;
 * the lifecycle test uses the real backup run.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  compareTreePaths,
  formatSetId,
  MANIFEST_VERSION_V2,
  type Catalog,
  type DatabaseRecordV2,
  type FilesRecordV2,
  type Manifest,
  type ManifestV2,
  type TreeEntry,
} from '../../../ts-src/protocol/manifest.js';
import { openPart } from '../../../ts-src/helper/set/part-reader.js';
import { writeFileAtomic } from '../../../ts-src/helper/set/durable.js';
import type { DecryptionKeys } from '../../../ts-src/helper/crypto/age-stream.js';
import { openRepository, type BlobWriter } from '../../../ts-src/helper/repo/repository.js';
import { packPath } from '../../../ts-src/helper/repo/layout.js';

async function readPart(setDir: string, path: string, decryption?: DecryptionKeys): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await openPart(setDir, path, { decryption })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Cuts text into blobs of at most `size` bytes at line ends (like the writers do, roughly). */
async function putText(writer: BlobWriter, text: Buffer, size = 4096): Promise<string[]> {
  const ids: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    if (end < text.length) {
      const newline = text.lastIndexOf(0x0a, end - 1);
      if (newline >= start) end = newline + 1;
    }
    ids.push(await writer.put(text.subarray(start, end)));
    start = end;
  }
  return ids;
}

async function treeOf(writer: BlobWriter, root: string): Promise<{ entries: TreeEntry[]; files: number; directories: number; symlinks: number; bytes: number }> {
  const entries: TreeEntry[] = [];
  let files = 0;
  let directories = 0;
  let symlinks = 0;
  let bytes = 0;
  const visit = async (abs: string, rel: string): Promise<void> => {
    const info = await lstat(abs);
    const base = { p: rel, m: info.mode & 0o7777, mt: info.mtimeMs };
    if (info.isSymbolicLink()) {
      symlinks += 1;
      entries.push({ ...base, t: 'l', l: await readlink(abs) });
    } else if (info.isDirectory()) {
      if (rel !== '.') directories += 1;
      entries.push({ ...base, t: 'd' });
      for (const name of await readdir(abs)) await visit(join(abs, name), rel === '.' ? name : `${rel}/${name}`);
    } else if (info.isFile()) {
      files += 1;
      const content = await readFile(abs);
      bytes += content.length;
      const b: string[] = [];
      for (let offset = 0; offset < content.length; offset += 1024 * 1024) b.push(await writer.put(content.subarray(offset, offset + 1024 * 1024)));
      entries.push({ ...base, t: 'f', s: content.length, b, h: createHash('sha256').update(content).digest('hex') });
    }
  };
  await visit(root, '.');
  entries.sort((a, b) => compareTreePaths(a.p, b.p));
  return { entries, files, directories, symlinks, bytes };
}

export interface WriteV2Options {
  /** A v1 set whose databases become this set's (its parts read and stored as blobs). */
  fromV1?: { setDir: string; manifest: Manifest; decryption?: DecryptionKeys };
  directories?: Array<{ label: string; path: string }>;
  sourceId?: string;
  when?: Date;
  packTargetBytes?: number;
}

/** Writes one v2 set at `destination` (creating the repository) and returns its id and manifest. */
export async function writeV2Set(destination: string, options: WriteV2Options): Promise<{ id: string; path: string; manifest: ManifestV2 }> {
  const repository = await openRepository(destination, { create: true, compression: 'gzip', level: 6, ...(options.packTargetBytes ? { packTargetBytes: options.packTargetBytes } : {}) });
  const writer = await repository.writer();
  const referenced = new Set<string>();
  const track = (ids: string[]): string[] => {
    for (const id of ids) referenced.add(id);
    return ids;
  };
  const databases: DatabaseRecordV2[] = [];
  if (options.fromV1) {
    const { setDir, manifest, decryption } = options.fromV1;
    for (const db of manifest.databases) {
      const parts = manifest.parts.filter((p) => p.path.startsWith(`${db.folder}/`)).sort((a, b) => (a.path < b.path ? -1 : 1));
      const blobsOf = async (prefix: (n: string) => boolean): Promise<string[]> => {
        const ids: string[] = [];
        for (const part of parts.filter((p) => prefix(p.path.slice(db.folder.length + 1)))) ids.push(...(await putText(writer, await readPart(setDir, part.path, decryption))));
        return track(ids);
      };
      const prelude = await blobsOf((n) => n.startsWith('000-'));
      const schema = await blobsOf((n) => n.startsWith('1'));
      const objects = await blobsOf((n) => n >= '3' && !n.startsWith('999-'));
      const postlude = await blobsOf((n) => n.startsWith('999-'));
      const tables = [];
      for (const table of db.tables) {
        const ids: string[] = [];
        for (const name of table.parts) {
          const path = name.includes('/') ? name : `${db.folder}/${name}`;
          const part = parts.find((p) => p.path === path || p.path.startsWith(`${path}.`) || p.path.replace(/\.(gz|zst)?(\.age)?$/, '') === path);
          if (!part) throw new Error(`no part ${name}`);
          ids.push(...(await putText(writer, await readPart(setDir, part.path, decryption))));
        }
        const { parts: _parts, ...rest } = table;
        tables.push({ ...rest, blobs: track(ids) });
      }
      const { folder: _folder, tables: _tables, ...record } = db;
      // One blob each for prelude and postlude, as the dump writes them.
      databases.push({ ...record, tables, schemaBlobs: [...prelude.slice(0, 1), ...prelude.slice(1), ...schema], objectBlobs: [...objects, ...postlude] });
    }
  }
  const files: FilesRecordV2[] = [];
  for (const directory of options.directories ?? []) {
    const tree = await treeOf(writer, directory.path);
    for (const entry of tree.entries) for (const id of entry.b ?? []) referenced.add(id);
    const ndjson = Buffer.from(tree.entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    files.push({
      label: directory.label,
      source: directory.path,
      files: tree.files,
      directories: tree.directories,
      symlinks: tree.symlinks,
      bytes: tree.bytes,
      excluded: [],
      warnings: [],
      tree: track(await putText(writer, ndjson, 2048)),
    });
  }
  const catalog: Catalog = { databases, files };
  const catalogIds = track(await putText(writer, Buffer.from(JSON.stringify(catalog)), 8192));
  const { newBlobs, addedBytes } = writer.stats;
  await writer.finish();

  const reopened = await openRepository(destination, { compression: 'gzip', level: 6 });
  const reader = reopened.reader();
  const packNames = new Set<string>();
  let referencedBytes = 0;
  for (const id of referenced) {
    packNames.add(reader.packOf(id)!);
    referencedBytes += reader.storedLength(id)!;
  }
  const packs = [];
  for (const name of [...packNames].sort()) packs.push({ name, bytes: (await stat(packPath(destination, name))).size });
  const when = options.when ?? new Date();
  const id = formatSetId(when, randomBytes(4).toString('hex'));
  const manifest: ManifestV2 = {
    format: 'civibackup-set',
    version: MANIFEST_VERSION_V2,
    id,
    repository: reopened.id,
    createdAt: when.toISOString(),
    finishedAt: new Date().toISOString(),
    tool: { name: 'civibackup', version: 'test', node: process.version },
    source: { hostname: 'test-host', ...(options.sourceId ? { id: options.sourceId } : {}) },
    encryption: null,
    compression: { algorithm: 'gzip', level: 6 },
    catalog: catalogIds,
    packs,
    stats: { addedBytes, referencedBytes, blobs: referenced.size, newBlobs },
    summary: {
      tables: databases.reduce((sum, d) => sum + d.tables.length, 0),
      rows: databases.reduce((sum, d) => sum + d.tables.reduce((s, t) => s + t.rows, 0), 0),
      directories: files.length,
      files: files.reduce((sum, f) => sum + f.files, 0),
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      databases: databases.map((d) => ({ role: d.role, name: d.name, host: d.host })),
    },
    warnings: [],
  };
  const path = join(destination, 'sets', id);
  await mkdir(path, { recursive: true });
  await writeFileAtomic(join(path, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { id, path, manifest };
}
