/** Checks every part of a set against the manifest: present, same size, same SHA-256. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { Manifest, PartRecord } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';

export interface PartProblem {
  path: string;
  problem: 'missing' | 'size' | 'hash';
  detail: string;
}

export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(path, { highWaterMark: 1024 * 1024 }),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        onBytes?.(chunk.length);
        done();
      },
    }),
  );
  return hash.digest('hex');
}

export async function checkPart(setDir: string, part: PartRecord, onBytes?: (n: number) => void): Promise<PartProblem | null> {
  const file = join(setDir, part.path);
  const info = await stat(file).catch(() => null);
  if (!info) return { path: part.path, problem: 'missing', detail: `${part.path} is missing` };
  if (info.size !== part.bytes) {
    return { path: part.path, problem: 'size', detail: `${part.path} is ${info.size} bytes, the manifest says ${part.bytes}` };
  }
  const digest = await sha256File(file, onBytes);
  if (digest !== part.sha256) return { path: part.path, problem: 'hash', detail: `${part.path} has SHA-256 ${digest}, the manifest says ${part.sha256}` };
  return null;
}

/** Throws SET_DAMAGED naming every damaged part; `filter` limits the check to some parts. */
export async function assertPartsIntact(
  setDir: string,
  manifest: Manifest,
  options: { filter?: (part: PartRecord) => boolean; onBytes?: (n: number) => void } = {},
): Promise<void> {
  const problems: PartProblem[] = [];
  for (const part of manifest.parts) {
    if (options.filter && !options.filter(part)) continue;
    const problem = await checkPart(setDir, part, options.onBytes);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) {
    throw new BackupError('SET_DAMAGED', `Damaged set ${manifest.setId}: ${problems.map((p) => p.detail).join('; ')}`);
  }
}
