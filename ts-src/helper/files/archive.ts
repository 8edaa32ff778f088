/**
 * Backup side of directory archives: one `files/<label>.tar` part per configured directory,
 * written through the part writer (compression, optional age, hashing) in one streaming
 * pass, with a FilesRecord for the manifest saying what is in it, what was left out and why.
 */
import { constants as fsc } from 'node:fs';
import { access, readdir, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DirectorySpec } from '../../protocol/job.js';
import { LABEL_PATTERN } from '../../protocol/job.js';
import type { ExclusionRecord, FilesRecord, PartRecord } from '../../protocol/manifest.js';
import { BackupError } from '../core/errors.js';
import type { Reporter } from '../core/reporter.js';
import type { WriteCodec } from '../set/codec.js';
import { writePart } from '../set/part-writer.js';
import { linkEscapes } from './entry-paths.js';
import { Exclusions, validateExcludePatterns } from './exclusions.js';
import { tarStream } from './tar-writer.js';
import { walkTree } from './walker.js';

/** Lists in the manifest are capped so a huge tree cannot bloat it; the rest is counted. */
export const MANIFEST_LIST_CAP = 1000;

export interface ArchiveContext {
  /** The set directory being written (from createSetDirectory). */
  setDir: string;
  codec: WriteCodec;
  reporter: Reporter;
  signal?: AbortSignal;
  /** The backup destination: never archived, even when it lies inside a backed-up directory. */
  destination?: string;
  /** Administrator exclude patterns (syntax in exclusions.ts and docs/files.md). */
  exclude?: readonly string[];
  /** Keep ConfigAndLog/ (logs), excluded by default. */
  includeLogs?: boolean;
  /** Leave out `upload/` at the root of each directory (CiviCRM's temporary uploads). */
  excludeUploadDir?: boolean;
  /** Emit the 'files' phase event (default true); an orchestrator that emits it itself passes false. */
  emitPhase?: boolean;
}

export interface ArchiveResult {
  /** One record per archived directory (an optional missing directory has none). */
  files: FilesRecord[];
  parts: PartRecord[];
  /** Run-level warnings (optional directories that were missing). */
  warnings: string[];
}

/** Label=path pairs from `--files LABEL=PATH`; a trailing '?' on the label marks it optional. */
export function parseDirectoryArgs(values: readonly string[]): DirectorySpec[] {
  const specs: DirectorySpec[] = [];
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0 || eq === value.length - 1) throw new BackupError('USAGE', `--files needs LABEL=PATH, got "${value}".`);
    let label = value.slice(0, eq);
    const optional = label.endsWith('?');
    if (optional) label = label.slice(0, -1);
    specs.push({ label, path: resolve(value.slice(eq + 1)), ...(optional ? { optional } : {}) });
  }
  return specs;
}

export function validateDirectorySpecs(specs: readonly DirectorySpec[]): void {
  const seen = new Set<string>();
  for (const spec of specs) {
    if (!LABEL_PATTERN.test(spec.label)) {
      throw new BackupError('USAGE', `Directory label "${spec.label}" must be lower-case letters, digits, '-' or '_' (it names files/${spec.label}.tar.gz).`);
    }
    if (seen.has(spec.label)) throw new BackupError('USAGE', `Directory label "${spec.label}" is used twice.`);
    seen.add(spec.label);
  }
}

/** Checks a directory can be archived; returns its real path or the reason it cannot. */
export async function openableDirectory(path: string): Promise<{ real: string } | { problem: string }> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return { problem: `${path} is not a directory` };
    await access(path, fsc.R_OK | fsc.X_OK);
    await readdir(path);
    return { real: await realpath(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: `${path} does not exist` };
    if (code === 'EACCES' || code === 'EPERM') return { problem: `${path} cannot be read by this user (${code})` };
    return { problem: `${path} cannot be opened: ${(error as Error).message}` };
  }
}

/**
 * Where a directory to back up really is, or null when it is optional and missing (said as a
 * warning, also added to `runWarnings`): a missing required directory is DIR_MISSING, and the
 * backup destination itself is refused. Shared by the tar archives (format 1) and the trees
 * (format 2).
 */
export async function resolveBackupDirectory(
  spec: DirectorySpec,
  skipDirectories: ReadonlyArray<{ dev: bigint; ino: bigint }>,
  reporter: Reporter,
  runWarnings: string[],
): Promise<string | null> {
  const where = await openableDirectory(spec.path);
  if ('problem' in where) {
    const message = `Directory "${spec.label}": ${where.problem}`;
    if (!spec.optional) throw new BackupError('DIR_MISSING', `${message}. Fix the path or mark it optional.`);
    reporter.emit({ type: 'warning', code: 'DIR_MISSING', message: `${message}; it is optional, so the backup goes on without it.`, item: spec.label, path: spec.path });
    runWarnings.push(`${message} (optional, skipped)`);
    return null;
  }
  const rootStats = await stat(where.real, { bigint: true });
  if (skipDirectories.some((d) => d.dev === rootStats.dev && d.ino === rootStats.ino)) {
    throw new BackupError('CONFIG', `Directory "${spec.label}" (${spec.path}) is the backup destination itself; back up the site's directories, not the backups.`);
  }
  return where.real;
}

export class CappedList<T> {
  readonly items: T[] = [];
  omitted = 0;
  add(item: T): void {
    if (this.items.length < MANIFEST_LIST_CAP) this.items.push(item);
    else this.omitted += 1;
  }
}

/** The backup destination as a directory the walker never enters (by device and inode, so aliases match). */
export async function destinationSkip(destination: string | undefined): Promise<Array<{ dev: bigint; ino: bigint; reason: string }>> {
  const skip: Array<{ dev: bigint; ino: bigint; reason: string }> = [];
  if (destination) {
    const dest = await stat(destination, { bigint: true }).catch(() => null);
    if (dest) skip.push({ dev: dest.dev, ino: dest.ino, reason: 'the backup destination itself' });
  }
  return skip;
}

export async function archiveDirectories(specs: readonly DirectorySpec[], ctx: ArchiveContext): Promise<ArchiveResult> {
  validateDirectorySpecs(specs);
  const patternProblems = validateExcludePatterns(ctx.exclude ?? []);
  if (patternProblems.length > 0) throw new BackupError('USAGE', `Bad --exclude pattern: ${patternProblems.join('; ')}`);
  const result: ArchiveResult = { files: [], parts: [], warnings: [] };
  if (specs.length === 0) return result;
  if (ctx.emitPhase !== false) ctx.reporter.emit({ type: 'phase', phase: 'files', totalItems: specs.length });

  const skipDirectories = await destinationSkip(ctx.destination);

  let phaseBytes = 0;
  for (const [index, spec] of specs.entries()) {
    ctx.signal?.throwIfAborted();
    const real = await resolveBackupDirectory(spec, skipDirectories, ctx.reporter, result.warnings);
    if (real === null) continue;
    const exclusions = Exclusions.for({ patterns: ctx.exclude, includeLogs: ctx.includeLogs, excludeUploadDir: ctx.excludeUploadDir, label: spec.label });
    const excluded = new CappedList<ExclusionRecord>();
    const warnings = new CappedList<string>();
    const outsideLinks = new CappedList<{ path: string; target: string }>();
    const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
    let currentPath = '';
    let streamed = 0;
    const progress = (force = false): void =>
      ctx.reporter.progress(
        { type: 'progress', phase: 'files', item: spec.label, files: counts.files, bytes: phaseBytes + streamed, path: currentPath, itemsDone: index, itemsTotal: specs.length },
        force,
      );
    const warn = (code: string, relPath: string, message: string): void => {
      warnings.add(message);
      ctx.reporter.emit({ type: 'warning', code, message: `${spec.label}: ${message}`, item: spec.label, path: relPath });
    };

    const entries = walkTree(
      real,
      { exclusions, skipDirectories, signal: ctx.signal },
      { onExcluded: (path, reason) => excluded.add({ path, reason }), onWarning: (code, path, message) => warn(code, path, message) },
    );
    const source = tarStream(entries, {
      onWarning: (code, path, message) => warn(code, path, message),
      onContentBytes: (n) => {
        streamed += n;
        progress();
      },
      onEntry: (entry, contentBytes, linkTarget) => {
        currentPath = entry.relPath;
        if (entry.kind === 'file') {
          counts.files += 1;
          counts.bytes += contentBytes;
        } else if (entry.kind === 'directory') counts.directories += 1;
        else if (entry.kind === 'symlink') {
          counts.symlinks += 1;
          if (linkTarget !== undefined && linkEscapes(entry.relPath, linkTarget)) outsideLinks.add({ path: entry.relPath, target: linkTarget });
        }
        progress();
      },
    });

    const part = await writePart(ctx.setDir, `files/${spec.label}.tar`, source, { codec: ctx.codec, signal: ctx.signal });
    phaseBytes += streamed;
    streamed = 0;
    progress(true);
    result.parts.push(part);
    result.files.push({
      label: spec.label,
      source: spec.path,
      archive: part.path,
      files: counts.files,
      directories: counts.directories,
      symlinks: counts.symlinks,
      bytes: counts.bytes,
      excluded: excluded.items,
      warnings: warnings.items,
      ...(excluded.omitted > 0 ? { excludedOmitted: excluded.omitted } : {}),
      ...(warnings.omitted > 0 ? { warningsOmitted: warnings.omitted } : {}),
      ...(outsideLinks.items.length > 0 ? { outsideLinks: outsideLinks.items } : {}),
      ...(outsideLinks.omitted > 0 ? { outsideLinksOmitted: outsideLinks.omitted } : {}),
    });
  }
  return result;
}
