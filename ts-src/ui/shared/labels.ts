/** Human names for protocol values, all through ts(). */
import type { Phase } from '../../protocol/events.js';
import type { VerificationState } from '../../protocol/sets.js';
import { ts } from '../i18n.js';

export function phaseLabel(phase: Phase): string {
  switch (phase) {
    case 'prepare':
      return ts('Preparing');
    case 'schema':
      return ts('Saving table definitions');
    case 'data':
      return ts('Saving table data');
    case 'objects':
      return ts('Saving views, triggers and routines');
    case 'logdb':
      return ts('Saving the logging database');
    case 'files':
      return ts('Archiving directories');
    case 'manifest':
      return ts('Writing the manifest');
    case 'upload':
      return ts('Copying offsite');
    case 'verify':
      return ts('Verifying');
    case 'restore':
      return ts('Restoring');
    case 'swap':
      return ts('Switching the site to the restored tables');
    case 'prune':
      return ts('Removing old backups');
    case 'cleanup':
      return ts('Cleaning up');
  }
}

/** Verification is shown as text plus an icon character; colour only reinforces it. */
export function verificationLabel(state: VerificationState): { icon: string; text: string } {
  switch (state) {
    case 'restorable':
      return { icon: '\u2714\uFE0E', text: ts('Restore tested') };
    case 'hashes-ok':
      return { icon: '\u2713\uFE0E', text: ts('Checksums verified') };
    case 'damaged':
      return { icon: '\u2716\uFE0E', text: ts('Damaged') };
    case 'unverified':
      return { icon: '\u2022', text: ts('Not verified yet') };
  }
}

/**
 * A set's source identity (SetSummary.source, manifest.ts sourceIdentity) for display: a name
 * the administrator gave as is; the derived form `host=<host name>|db=<db host>/<db name>` as
 * "server web1, database localhost/civicrm" (an explicit name never holds '=' or '|').
 */
export function sourceLabel(source: string | undefined): string {
  if (source === undefined || source === '') return ts('not recorded');
  if (!source.includes('=')) return source;
  const fields = new Map<string, string>();
  for (const field of source.split('|')) {
    const at = field.indexOf('=');
    if (at <= 0) return source;
    fields.set(field.slice(0, at), field.slice(at + 1));
  }
  const host = fields.get('host');
  // db=<database host>/<name>; the host part is empty when the manifest had none.
  const db = fields.get('db')?.replace(/^\//, '');
  if ([...fields.keys()].some((k) => k !== 'host' && k !== 'db')) return source;
  if (host && db) return ts('server %1, database %2', { 1: host, 2: db });
  if (host) return ts('server %1', { 1: host });
  if (db) return ts('database %1', { 1: db });
  return source;
}
