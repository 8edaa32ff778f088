import { LitElement, html } from 'lit';
import { property } from 'lit/decorators.js';

/** The Backups page root (placeholder until the page components land). */
export class CivibackupApp extends LitElement {
  @property() heading = 'Backups';
  override render() {
    return html`<h2>${this.heading}</h2>`;
  }
}
