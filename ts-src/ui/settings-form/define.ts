import { CivibackupSettingsForm } from './civibackup-settings-form.js';

if (!customElements.get('civibackup-settings-form')) customElements.define('civibackup-settings-form', CivibackupSettingsForm);

declare global {
  interface HTMLElementTagNameMap {
    'civibackup-settings-form': CivibackupSettingsForm;
  }
}
