import { CivibackupRestoreDialog } from './civibackup-restore-dialog.js';

if (!customElements.get('civibackup-restore-dialog')) customElements.define('civibackup-restore-dialog', CivibackupRestoreDialog);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-restore-dialog': CivibackupRestoreDialog;
  }
}
