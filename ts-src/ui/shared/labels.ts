/** Human names for protocol values, all through ts(). */
import type { Phase } from '../../protocol/events.js';
import type { VerificationState } from '../../protocol/sets.js';
import { t } from '../i18n.js';

export function phaseLabel(phase: Phase): string {
  switch (phase) {
    case 'prepare':
      return t('Preparing');
    case 'schema':
      return t('Saving table definitions');
    case 'data':
      return t('Saving table data');
    case 'objects':
      return t('Saving views, triggers and routines');
    case 'logdb':
      return t('Saving the logging database');
    case 'files':
      return t('Archiving directories');
    case 'manifest':
      return t('Writing the manifest');
    case 'upload':
      return t('Copying offsite');
    case 'verify':
      return t('Verifying');
    case 'restore':
      return t('Restoring');
    case 'prune':
      return t('Removing old backups');
    case 'cleanup':
      return t('Cleaning up');
  }
}

/** Verification is shown as text plus an icon character; colour only reinforces it. */
export function verificationLabel(state: VerificationState): { icon: string; text: string } {
  switch (state) {
    case 'restorable':
      return { icon: '\u2714\uFE0E', text: t('Restore tested') };
    case 'hashes-ok':
      return { icon: '\u2713\uFE0E', text: t('Checksums verified') };
    case 'damaged':
      return { icon: '\u2716\uFE0E', text: t('Damaged') };
    case 'unverified':
      return { icon: '\u2022', text: t('Not verified yet') };
  }
}
