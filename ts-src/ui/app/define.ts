import { CivibackupApp } from './civibackup-app.js';

if (!customElements.get('civibackup-app')) customElements.define('civibackup-app', CivibackupApp);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-app': CivibackupApp;
  }
}
