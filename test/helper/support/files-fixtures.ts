/** Helpers for the directory-archive tests: scratch dirs, tree snapshots, sets, raw tar blocks. */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { FilesRecord, Manifest, PartRecord } from '../../../ts-src/protocol/manifest.js';
import { createReporter, type Reporter } from '../../../ts-src/helper/core/reporter.js';
import { createSetDirectory } from '../../../ts-src/helper/set/set-store.js';
import { sha256File } from '../../../ts-src/helper/set/verify-parts.js';

export const run = promisify(execFile);

export async function scratchDir(tag: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `cbt_files_${tag}_`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function silentReporter(): Reporter {
  return createReporter({ mode: 'silent', keep: true, progressIntervalMs: 0 });
}

export interface NodeSnapshot {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  target?: string;
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    new Writable({
      write(chunk: Buffer, _e, done) {
        hash.update(chunk);
        done();
      },
    }),
  );
  return hash.digest('hex');
}

/** Everything about a tree that a restore must reproduce, keyed by relative path ("." = root). */
export async function snapshotTree(root: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, NodeSnapshot>> {
  const out = new Map<string, NodeSnapshot>();
  const visit = async (abs: string, rel: string): Promise<void> => {
    const s = await lstat(abs, { bigint: true });
    const mode = Number(s.mode & 0o7777n);
    if (s.isSymbolicLink()) out.set(rel, { type: 'symlink', mode: 0, mtimeNs: s.mtimeNs, target: await readlink(abs) });
    else if (s.isFile()) out.set(rel, { type: 'file', mode, mtimeNs: s.mtimeNs, size: Number(s.size), sha256: await hashFile(abs) });
    else if (s.isDirectory()) {
      out.set(rel, { type: 'dir', mode, mtimeNs: s.mtimeNs });
      for (const name of (await readdir(abs)).sort()) {
        const childRel = rel === '.' ? name : `${rel}/${name}`;
        if (!skip(childRel)) await visit(join(abs, name), childRel);
      }
    } else out.set(rel, { type: 'other', mode, mtimeNs: s.mtimeNs });
  };
  await visit(root, '.');
  return out;
}

/**
 * Compares two snapshots; mtimes must agree within 2 µs: Node's utimes takes a double of
 * seconds since the epoch (about 0.24 µs apart today) and libuv then truncates it to whole
 * microseconds, so 1796560583.173723084 s is set as ...173722000 ns (1.08 µs early, seen on
 * ext4 here). Symlink mtimes are compared only when `symlinkTimes` is set.
 */
export function diffSnapshots(expected: Map<string, NodeSnapshot>, actual: Map<string, NodeSnapshot>, options: { symlinkTimes?: boolean } = {}): string[] {
  const problems: string[] = [];
  for (const [rel, want] of expected) {
    const got = actual.get(rel);
    if (!got) {
      problems.push(`${rel}: missing`);
      continue;
    }
    if (got.type !== want.type) problems.push(`${rel}: type ${got.type}, expected ${want.type}`);
    if (want.type !== 'symlink' && got.mode !== want.mode) problems.push(`${rel}: mode ${got.mode.toString(8)}, expected ${want.mode.toString(8)}`);
    if (got.size !== want.size) problems.push(`${rel}: size ${got.size}, expected ${want.size}`);
    if (got.sha256 !== want.sha256) problems.push(`${rel}: content differs`);
    if (got.target !== want.target) problems.push(`${rel}: link target ${got.target}, expected ${want.target}`);
    if (want.type !== 'symlink' || options.symlinkTimes) {
      const delta = got.mtimeNs > want.mtimeNs ? got.mtimeNs - want.mtimeNs : want.mtimeNs - got.mtimeNs;
      if (delta > 2000n) problems.push(`${rel}: mtime ${got.mtimeNs}, expected ${want.mtimeNs}`);
    }
  }
  for (const rel of actual.keys()) if (!expected.has(rel)) problems.push(`${rel}: unexpected`);
  return problems;
}

export async function newSet(destination: string): Promise<string> {
  return (await createSetDirectory(destination)).dir;
}

/** A manifest around directory records, as the backup command would write it. */
export function manifestFor(setDir: string, files: FilesRecord[], parts: PartRecord[]): Manifest {
  return {
    format: 'civibackup-set',
    formatVersion: 1,
    setId: setDir.split('/').pop() ?? '',
    tool: { name: 'civibackup', version: 'test', node: process.version },
    createdAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    source: { hostname: 'test' },
    compression: { algorithm: 'gzip', level: 6 },
    encryption: null,
    parts,
    databases: [],
    files,
    warnings: [],
  };
}

// --- raw tar, written independently of the code under test -------------------------------

/** One ustar header block, built by hand so hostile archives need none of the writer's checks. */
export function rawTarHeader(name: string, options: { type?: string; size?: number; linkName?: string; mode?: number; mtime?: number } = {}): Buffer {
  const block = Buffer.alloc(512);
  const octal = (value: number, length: number) => `${value.toString(8).padStart(length - 1, '0')}\0`;
  block.write(name, 0, 100, 'utf8');
  block.write(octal(options.mode ?? 0o644, 8), 100, 8, 'ascii');
  block.write(octal(0, 8), 108, 8, 'ascii');
  block.write(octal(0, 8), 116, 8, 'ascii');
  block.write(octal(options.size ?? 0, 12), 124, 12, 'ascii');
  block.write(octal(options.mtime ?? 1_700_000_000, 12), 136, 12, 'ascii');
  block.write(options.type ?? '0', 156, 1, 'ascii');
  block.write(options.linkName ?? '', 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'ascii');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

export function rawTarFile(name: string, content: string, mode = 0o644): Buffer {
  const data = Buffer.from(content);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([rawTarHeader(name, { size: data.length, mode }), data, pad]);
}

export function rawTarEnd(): Buffer {
  return Buffer.alloc(1024);
}

/**
 * Puts a hand-made archive into a set as files/<label>.tar.gz, with a manifest whose hash
 * matches, so only the archive's content can make a restore refuse it.
 */
export async function setWithRawArchive(destination: string, label: string, tar: Buffer, extra: Partial<FilesRecord> = {}): Promise<{ setDir: string; manifest: Manifest }> {
  const setDir = await newSet(destination);
  const path = `files/${label}.tar.gz`;
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(setDir, 'files'), { recursive: true });
  const gz = gzipSync(tar);
  await writeFile(join(setDir, path), gz);
  const part: PartRecord = { path, bytes: gz.length, sha256: await sha256File(join(setDir, path)), rawBytes: tar.length };
  const record: FilesRecord = { label, source: '/nowhere', archive: path, files: 0, directories: 0, symlinks: 0, bytes: 0, excluded: [], warnings: [], ...extra };
  return { setDir, manifest: manifestFor(setDir, [record], [part]) };
}

export function randomBlock(bytes: number): Buffer {
  return randomBytes(bytes);
}
