/**
 * Swapping a restored directory into place, and what the next restore does with what a
 * killed one left.
 *
 * The restored tree is extracted and checked in a staging directory beside the target
 * (same filesystem). The swap is two renames: the target aside, the staging directory in.
 * Linux has an atomic exchange (renameat2 RENAME_EXCHANGE), but Node.js does not offer it,
 * so for the microseconds between the two renames the target path does not exist. A small
 * journal beside the target, written (and fsynced) before the first rename, names both
 * directories; a run killed between them leaves the complete, checked new tree under its
 * staging name, and the next restore of that target moves it in (recoverDirectory).
 * The old contents are removed only after the new tree is in place.
 */
import { randomBytes } from 'node:crypto';
import { lstat, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Reporter } from '../core/reporter.js';
import { pausePoint } from '../core/test-pause.js';
import { removeTree } from './extract.js';

const STAGING_INFIX = '.civibackup-restore-';
const ASIDE_INFIX = '.civibackup-old-';
const JOURNAL_SUFFIX = '.civibackup-swap.json';

interface SwapJournal {
  version: 1;
  target: string;
  staging: string;
  aside: string;
  started: string;
}

export function journalPath(target: string): string {
  return `${target}${JOURNAL_SUFFIX}`;
}

export function stagingPath(target: string): string {
  return `${target}${STAGING_INFIX}${randomBytes(4).toString('hex')}`;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeJournal(journal: SwapJournal): Promise<void> {
  const path = journalPath(journal.target);
  const handle = await open(`${path}.tmp`, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(journal));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(`${path}.tmp`, path);
  await fsyncPath(dirname(path));
}

/**
 * Cleans or finishes what an earlier restore of `target` left beside it: a journal of an
 * interrupted swap (finished: the new tree was complete), staging directories of an
 * interrupted extraction, old contents not yet removed. Returns one sentence per thing done.
 */
export async function recoverDirectory(target: string, reporter?: Reporter): Promise<string[]> {
  const notes: string[] = [];
  const note = (message: string): void => {
    notes.push(message);
    reporter?.emit({ type: 'warning', code: 'RESTORE_LEFTOVER', message, path: target });
  };
  const journalFile = journalPath(target);
  const text = await readFile(journalFile, 'utf8').catch(() => null);
  if (text !== null) {
    const journal = JSON.parse(text) as SwapJournal;
    const targetThere = await exists(target);
    const stagingThere = await exists(journal.staging);
    if (!targetThere && stagingThere) {
      await rename(journal.staging, target);
      note(`A restore of ${target} (${journal.started}) was interrupted between its two renames; the restored directory, complete and checked, was moved into place.`);
    } else if (targetThere && stagingThere) {
      await removeTree(journal.staging);
      note(`A restore of ${target} (${journal.started}) was interrupted before its swap; ${target} was not changed and the extracted copy was removed.`);
    } else if (!targetThere && !stagingThere && (await exists(journal.aside))) {
      await rename(journal.aside, target);
      note(`A restore of ${target} (${journal.started}) left neither directory in place; the old contents were moved back.`);
    }
    if ((await exists(journal.aside)) && (await exists(target))) {
      await removeTree(journal.aside);
      note(`The old contents of ${target}, replaced by the restore of ${journal.started}, were removed.`);
    }
    await unlink(journalFile);
  }
  // Left without a journal: an extraction killed before its swap, or old code's leftovers.
  const parent = dirname(target);
  const name = basename(target);
  for (const entry of await readdir(parent).catch(() => [] as string[])) {
    if (entry.startsWith(`${name}${STAGING_INFIX}`)) {
      await removeTree(join(parent, entry));
      note(`The partly extracted copy ${join(parent, entry)} left by an interrupted restore (never in place) was removed.`);
    } else if (entry.startsWith(`${name}${ASIDE_INFIX}`) && (await exists(target))) {
      await removeTree(join(parent, entry));
      note(`The old contents ${join(parent, entry)} left by an earlier restore were removed.`);
    }
  }
  return notes;
}

/**
 * Moves the checked staging tree into place; an existing target goes aside first and is
 * removed once the new tree is in. Throws with both trees intact when a rename fails.
 */
export async function swapDirectoryIn(staging: string, target: string): Promise<{ replaced: boolean; keptAside: string | null; removeError: Error | null }> {
  if (!(await exists(target))) {
    await rename(staging, target);
    return { replaced: false, keptAside: null, removeError: null };
  }
  const aside = `${target}${ASIDE_INFIX}${timestamp()}-${randomBytes(2).toString('hex')}`;
  await writeJournal({ version: 1, target, staging, aside, started: new Date().toISOString() });
  await pausePoint('dir-before-swap');
  await rename(target, aside);
  await pausePoint('dir-mid-swap');
  try {
    await rename(staging, target);
  } catch (error) {
    await rename(aside, target).catch(() => undefined);
    await unlink(journalPath(target)).catch(() => undefined);
    throw error;
  }
  await fsyncPath(dirname(target)).catch(() => undefined);
  await pausePoint('dir-swapped');
  const removeError = await removeTree(aside).then(
    () => null,
    (error: Error) => error,
  );
  // The journal goes either way: the swap is done; an old tree that could not be removed is reported kept.
  await unlink(journalPath(target)).catch(() => undefined);
  return { replaced: true, keptAside: removeError ? aside : null, removeError };
}
