import { CivibackupOverview } from './civibackup-overview.js';

if (!customElements.get('civibackup-overview')) customElements.define('civibackup-overview', CivibackupOverview);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-overview': CivibackupOverview;
  }
}
