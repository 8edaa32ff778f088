import { join } from 'node:path';
import { ENV } from '../../protocol/job.js';
import { SETS_DIR, type Manifest, type PartRecord } from '../../protocol/manifest.js';
import type { VerificationRecord } from '../../protocol/sets.js';
import { parseCommandArgs } from '../core/args.js';
import { BackupError, toBackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import { deepVerify } from '../db/deep-verify.js';
import { parseDsn, tlsWarnings, type Dsn } from '../db/dsn.js';
import { loadTlsOptions } from '../db/tls.js';
import { drainPart } from '../db/restore.js';
import { listArchive } from '../files/index.js';
import type { ReadCodec } from '../set/codec.js';
import { readVerification, writeVerification } from '../set/set-store.js';
import { damageError, openSet, type SetReaderV2 } from '../set/set-reader.js';
import { checkPart } from '../set/verify-parts.js';
import type { CommandModule } from './command.js';
import { readDecryptionKeys } from './decryption-keys.js';
import { verifyRemote } from './verify-remote.js';
import { parseJobs } from './restore.js';

const PLACEHOLDER_DB = 'civibackup_scratch_placeholder';

/** A scratch DSN may name no database ("mysql://root@host/"): then one is made per run. */
export function parseScratchDsn(text: string): { dsn: Dsn; named: boolean } {
  try {
    return { dsn: parseDsn(text), named: true };
  } catch (error) {
    if (!(error instanceof BackupError) || !/no database name/.test(error.message)) throw error;
    const q = text.indexOf('?');
    const head = (q >= 0 ? text.slice(0, q) : text).replace(/\/$/, '');
    const withDb = `${head}/${PLACEHOLDER_DB}${q >= 0 ? text.slice(q) : ''}`;
    return { dsn: parseDsn(withDb), named: false };
  }
}

/**
 * Hashes every part, then reads back what the hashes cannot vouch for by themselves: every
 * db part decompresses (gzip CRC and length) and, when keys are given, decrypts; every
 * directory archive lists cleanly. Returns the problems, one per damaged part.
 */
export async function checkAllParts(
  setDir: string,
  manifest: Manifest,
  codec: ReadCodec,
  reporter: Reporter,
  options: { signal?: AbortSignal; readBackDbParts?: boolean } = {},
): Promise<{ problems: string[]; unreadable: string[]; pieces: number; noun: string }> {
  const { signal } = options;
  const total = manifest.parts.reduce((sum, p) => sum + p.bytes, 0);
  reporter.emit({ type: 'phase', phase: 'verify', totalBytes: total, totalItems: manifest.parts.length });
  const problems: string[] = [];
  const unreadable: string[] = [];
  const intact: PartRecord[] = [];
  let done = 0;
  for (const [index, part] of manifest.parts.entries()) {
    if (signal?.aborted) throw new BackupError('CANCELLED', 'The verify was cancelled.');
    const problem = await checkPart(setDir, part, (n) => {
      done += n;
      reporter.progress({ type: 'progress', phase: 'verify', item: part.path, bytes: done, bytesTotal: total, itemsDone: index, itemsTotal: manifest.parts.length });
    });
    if (problem) {
      problems.push(problem.detail);
      reporter.emit({ type: 'warning', code: 'PART_DAMAGED', message: problem.detail, path: part.path });
    } else intact.push(part);
  }
  for (const part of intact) {
    const encrypted = part.path.endsWith('.age');
    if (encrypted && !codec.decryption) {
      // Without a key an encrypted part is vouched for by its hash alone.
      unreadable.push(part.path);
      continue;
    }
    try {
      if (/\.sql(\.(gz|zst))?(\.age)?$/.test(part.path)) {
        // A deep verify reads every db part in its test restore anyway.
        if (options.readBackDbParts !== false) await drainPart(setDir, part, codec);
      } else {
        const files = manifest.files.find((f) => f.archive === part.path || part.path.startsWith(`${f.archive}`));
        if (files) await listArchive(setDir, manifest, files.label, { decryption: codec.decryption, hashChecked: true, signal });
      }
    } catch (error) {
      const mapped = toBackupError(error);
      if (mapped.code === 'WRONG_KEY' || mapped.code === 'CANCELLED') throw mapped;
      const detail = `${part.path} does not read back: ${mapped.message}`;
      problems.push(detail);
      reporter.emit({ type: 'warning', code: 'PART_DAMAGED', message: detail, path: part.path });
    }
  }
  return { problems, unreadable, pieces: manifest.parts.length, noun: 'parts' };
}

/**
 * Quick verify of a v2 set: every piece it needs, by stored size and SHA-256 (no key needed).
 * Damage marks EVERY set that needs a damaged piece as damaged (retention then never counts
 * them) and fails naming them all.
 */
async function checkV2Pieces(reader: SetReaderV2, reporter: Reporter, now: () => string): Promise<{ problems: string[]; unreadable: string[]; pieces: number; noun: string }> {
  reporter.emit({ type: 'phase', phase: 'verify', totalItems: reader.stored.stats.blobs });
  const result = await reader.checkPieces();
  if (result.problems.length > 0) {
    const error = damageError(reader.setId, result.problems, result.affected);
    for (const problem of result.problems) reporter.emit({ type: 'warning', code: 'PART_DAMAGED', message: problem.problem, path: problem.pack ?? problem.piece });
    const detail = `damaged pieces: ${result.problems.map((p) => p.problem).join('; ')}`.slice(0, 2000);
    const ids = new Set([reader.setId, ...result.affected.map((a) => a.setId)]);
    for (const id of ids) await writeVerification(join(reader.destination, SETS_DIR, id), { state: 'damaged', at: now(), detail });
    throw error;
  }
  if (result.byPack) {
    reporter.emit({ type: 'warning', code: 'NO_KEY', message: `Set ${reader.setId} is encrypted and its list of pieces too: every piece of the ${reader.stored.packs.length} packs it needs was checked; pass --identity or --passphrase-file to check exactly its own.` });
  }
  return { problems: [], unreadable: [], pieces: result.pieces, noun: 'pieces' };
}

export const verifyCommand: CommandModule = {
  name: 'verify',
  summary: 'Check a set: every part hash and readability; with --deep, restore into a scratch database and compare rows',
  usage: 'civibackup verify SET [--deep --scratch-db DSN] [--identity FILE] [--passphrase-file FILE] [--jobs N] [--job FILE --remote NAME (SET = set id or latest)] [--json]',
  async run({ args, reporter, env, signal, print }) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        deep: { type: 'boolean' },
        'scratch-db': { type: 'string' },
        identity: { type: 'string' },
        'passphrase-file': { type: 'string' },
        jobs: { type: 'string' },
        job: { type: 'string' },
        remote: { type: 'string' },
      },
      this.usage,
    );
    if (positionals.length !== 1) throw new BackupError('USAGE', `verify takes one set directory.\nusage: ${this.usage}`);
    // An offsite copy: download and hash every part (commands/verify-remote.ts).
    if (values.remote !== undefined) return verifyRemote({ args, reporter, env, signal, print }, { jobFile: values.job, remote: values.remote, set: positionals[0]! });
    const jobs = parseJobs(values.jobs);
    const codec = await readDecryptionKeys(values, env);
    let scratch: { dsn: Dsn; named: boolean } | undefined;
    if (values.deep) {
      const text = values['scratch-db'] ?? env[ENV.SCRATCH_DSN];
      if (!text) throw new BackupError('USAGE', `verify --deep needs a scratch database: --scratch-db DSN or ${ENV.SCRATCH_DSN}.\nusage: ${this.usage}`);
      scratch = parseScratchDsn(text);
      if (values['scratch-db'] && scratch.dsn.password !== '') {
        reporter.emit({ type: 'warning', code: 'DSN', message: `A password on the command line (--scratch-db) is visible to other users of this server; set ${ENV.SCRATCH_DSN} instead.` });
      }
      const source = values['scratch-db'] ? '--scratch-db' : `environment variable ${ENV.SCRATCH_DSN}`;
      for (const message of tlsWarnings(scratch.dsn, source)) reporter.emit({ type: 'warning', code: 'DSN', message });
      // Unreadable TLS files fail now (CONFIG), before the parts are read.
      loadTlsOptions(scratch.dsn);
    }
    // Either format (set/set-reader.ts): a v1 set directory or a v2 set (sets/<id>).
    const reader = await openSet(positionals[0], codec);
    const setDir = reader.path;
    if (values.deep && reader.encrypted && !codec.decryption) {
      throw new BackupError('WRONG_KEY', 'This set is encrypted; a deep verify needs --identity FILE or --passphrase-file FILE.');
    }

    const now = (): string => new Date().toISOString();
    const checked = reader.format === 2 ? await checkV2Pieces(reader, reporter, now) : await checkAllParts(setDir, reader.manifest, codec, reporter, { signal, readBackDbParts: !scratch });
    const { problems, unreadable } = checked;
    if (problems.length > 0) {
      await writeVerification(setDir, { state: 'damaged', at: now(), detail: problems.join('; ').slice(0, 2000) });
      throw new BackupError('SET_DAMAGED', `Damaged set ${reader.setId}: ${problems.join('; ')}`);
    }
    if (unreadable.length > 0) {
      reporter.emit({ type: 'warning', code: 'NO_KEY', message: `${unreadable.length} encrypted parts were checked by hash only; pass --identity or --passphrase-file to decrypt-check them too.` });
    }

    if (!scratch) {
      const previous = await readVerification(setDir);
      // A proven restore stays proven while the hashes still match.
      const record: VerificationRecord =
        previous.state === 'restorable' ? previous : { state: 'hashes-ok', at: now(), detail: `${checked.pieces} ${checked.noun} intact` };
      await writeVerification(setDir, record);
      print(`${reader.setId}: ${checked.pieces} ${checked.noun} intact (${record.state})`);
      return { set: setDir, summary: { state: record.state, parts: checked.pieces, format: reader.format, hashOnly: unreadable } };
    }
    const manifest = reader.manifest;

    let result;
    try {
      result = await deepVerify({ setDir, manifest, scratch: scratch.dsn, scratchNamed: scratch.named, codec, jobs, reporter, signal, sourceOf: (database) => reader.restoreSource(database) });
    } catch (error) {
      const mapped = toBackupError(error);
      // A part that does not decompress or decrypt during the test restore is damage too.
      if (mapped.code === 'SET_DAMAGED') await writeVerification(setDir, { state: 'damaged', at: now(), detail: (reader.format === 2 && reader.encrypted ? 'a piece did not read back during the test restore' : mapped.message).slice(0, 2000) });
      throw mapped;
    }
    if (result.mismatches.length > 0) {
      // An encrypted v2 set keeps table names out of plaintext files, verification.json too.
      const detail = reader.format === 2 && reader.encrypted ? `${result.mismatches.length} differences (names withheld: the set is encrypted; run verify --deep to see them)` : result.mismatches.join('; ');
      await writeVerification(setDir, { state: 'damaged', at: now(), detail: detail.slice(0, 2000) });
      throw new BackupError('VERIFY_MISMATCH', `The test restore of ${manifest.setId} differs from the manifest: ${result.mismatches.join('; ')}`);
    }
    const record: VerificationRecord = {
      state: 'restorable',
      at: now(),
      restoreSeconds: Math.round(result.restoreSeconds * 10) / 10,
      detail: `${result.tables} tables, ${result.rows} rows restored and compared`,
    };
    await writeVerification(setDir, record);
    print(`${manifest.setId}: restorable (${result.tables} tables, ${result.rows} rows; restore ${result.restoreSeconds.toFixed(1)} s, compare ${result.verifySeconds.toFixed(1)} s)`);
    return { set: setDir, summary: { state: 'restorable', ...result } };
  },
};
