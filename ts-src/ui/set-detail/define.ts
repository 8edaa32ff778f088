import { CivibackupSetDetail } from './civibackup-set-detail.js';

if (!customElements.get('civibackup-set-detail')) customElements.define('civibackup-set-detail', CivibackupSetDetail);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-set-detail': CivibackupSetDetail;
  }
}
