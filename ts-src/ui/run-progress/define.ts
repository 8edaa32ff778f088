import { CivibackupRunProgress } from './civibackup-run-progress.js';

if (!customElements.get('civibackup-run-progress')) customElements.define('civibackup-run-progress', CivibackupRunProgress);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-run-progress': CivibackupRunProgress;
  }
}
