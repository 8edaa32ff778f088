import { fixture, html, expect } from '@open-wc/testing';
import '../../ts-src/ui/app/define.js';
import type { CivibackupApp } from '../../ts-src/ui/app/civibackup-app.js';

describe('civibackup-app', () => {
  it('renders its heading', async () => {
    const el = await fixture<CivibackupApp>(html`<civibackup-app heading="Backups"></civibackup-app>`);
    expect(el.shadowRoot!.querySelector('h2')!.textContent).to.equal('Backups');
  });
});
