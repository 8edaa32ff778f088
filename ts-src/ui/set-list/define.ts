import { CivibackupSetList } from './civibackup-set-list.js';

if (!customElements.get('civibackup-set-list')) customElements.define('civibackup-set-list', CivibackupSetList);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-set-list': CivibackupSetList;
  }
}
