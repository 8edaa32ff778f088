import { fixture, html, expect } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/set-list/define.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupSetList } from '../../ts-src/ui/set-list/civibackup-set-list.js';
import { FakeCrm } from './support/fake-crm.js';
import { sampleSets } from './support/sample-data.js';

const text = (el: Element) => el.shadowRoot!.textContent!.replace(/\s+/g, ' ');
const q = <T extends HTMLElement = HTMLElement>(el: Element, s: string) => el.shadowRoot!.querySelector<T>(s);
const byLabel = (el: Element, label: string) => q<HTMLButtonElement>(el, `button[aria-label="${label}"]`)!;
/** The element focused inside the component (through its shadow root). */
const focused = (el: Element) => el.shadowRoot!.activeElement as HTMLElement | null;

async function setup(fake: FakeCrm) {
  const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
  await until(() => q(el, 'tbody') !== null, 'table rendered');
  return el;
}

describe('civibackup-set-list', () => {
  it('lists sets newest first with size, encryption, place and the verified state as text', async () => {
    const fake = new FakeCrm().on('get', { records: [...sampleSets()].reverse() });
    const el = await setup(fake);
    const rows = [...el.shadowRoot!.querySelectorAll('tbody tr')];
    expect(rows.length).to.equal(3);
    expect(rows[0].textContent).to.contain('20261126T020003Z-k3f9a1');
    expect(rows[0].textContent).to.contain('Checksums verified');
    expect(rows[0].textContent).to.contain('Yes');
    expect(rows[0].textContent).to.contain('/var/backups/civicrm/20261126T020003Z-k3f9a1');
    expect(rows[1].textContent).to.contain('Restore tested');
    expect(rows[2].textContent).to.contain('Damaged');
    expect(rows[2].textContent).to.contain('SHA-256 differs');
    expect(rows[2].textContent).to.contain('No');
    // The newest set cannot be deleted; the others can.
    expect(rows[0].textContent).to.contain('Newest set: cannot be deleted');
    expect(rows[0].querySelector('button.danger')).to.equal(null);
    expect(rows[1].querySelector('button.danger')).to.not.equal(null);
  });

  it('verifies and test-restores a set, then reloads the list', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() }).on('verify', { records: [{ ok: true }] });
    const el = await setup(fake);
    byLabel(el, 'Verify checksums of 20261125T020002Z-9xq2mm').click();
    await until(() => text(el).includes('Checksums of 20261125T020002Z-9xq2mm checked.'));
    byLabel(el, 'Test restore 20261125T020002Z-9xq2mm').click();
    await until(() => text(el).includes('Test restore of 20261125T020002Z-9xq2mm finished.'));
    expect(fake.callsTo('verify').map((c) => c.params)).to.deep.equal([
      { setId: '20261125T020002Z-9xq2mm', deep: false },
      { setId: '20261125T020002Z-9xq2mm', deep: true },
    ]);
    await until(() => fake.callsTo('get').length === 3, 'list reloaded after each action');
  });

  it('shows a failed verification as an error', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() }).on('verify', { reject: { error_code: 'SET_DAMAGED', error_message: 'db/100-schema.sql.gz is truncated' } });
    const el = await setup(fake);
    byLabel(el, 'Verify checksums of 20261118T020001Z-a7b7c7').click();
    await until(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('Verify failed for 20261118T020001Z-a7b7c7: db/100-schema.sql.gz is truncated');
  });

  it('deletes only after confirmation, keyboard only: Enter opens, Escape keeps, Tab+Enter deletes', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() }).on('delete', { records: [] });
    const el = await setup(fake);
    const deleteButton = byLabel(el, 'Delete 20261118T020001Z-a7b7c7');
    deleteButton.focus();
    await sendKeys({ press: 'Enter' });
    await until(() => q<HTMLDialogElement>(el, 'dialog')!.open, 'dialog open');
    expect(q(el, 'dialog')!.textContent).to.contain('20261118T020001Z-a7b7c7');
    await until(() => focused(el)?.textContent?.trim() === 'Keep it', 'safe choice focused first');
    await sendKeys({ press: 'Escape' });
    await until(() => !q<HTMLDialogElement>(el, 'dialog')!.open, 'dialog closed by Escape');
    expect(fake.callsTo('delete').length).to.equal(0);

    byLabel(el, 'Delete 20261118T020001Z-a7b7c7').focus();
    await sendKeys({ press: 'Enter' });
    await until(() => focused(el)?.textContent?.trim() === 'Keep it');
    await sendKeys({ press: 'Tab' });
    expect(focused(el)?.textContent?.trim()).to.equal('Delete set');
    await sendKeys({ press: 'Enter' });
    await until(() => fake.callsTo('delete').length === 1, 'delete called');
    expect(fake.callsTo('delete')[0].params).to.deep.equal({ setId: '20261118T020001Z-a7b7c7' });
    await until(() => text(el).includes('Deleted 20261118T020001Z-a7b7c7.'));
  });

  it('shows the server refusing a delete', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() }).on('delete', { reject: { error_message: 'The newest complete set cannot be deleted.' } });
    const el = await setup(fake);
    byLabel(el, 'Delete 20261125T020002Z-9xq2mm').click();
    await until(() => q<HTMLDialogElement>(el, 'dialog')!.open);
    [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('dialog button')].find((b) => b.textContent!.includes('Delete set'))!.click();
    await until(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('cannot be deleted');
  });

  it('opens the restore commands with aria-expanded and copies one to the clipboard', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await setup(fake);
    const toggle = byLabel(el, 'Restore commands for 20261126T020003Z-k3f9a1');
    expect(toggle.getAttribute('aria-expanded')).to.equal('false');
    toggle.focus();
    await sendKeys({ press: 'Space' });
    await el.updateComplete;
    expect(toggle.getAttribute('aria-expanded')).to.equal('true');
    const detail = q(el, 'civibackup-set-detail')!;
    await (detail as unknown as { updateComplete: Promise<unknown> }).updateComplete;
    const pre = detail.shadowRoot!.querySelector('pre[data-command="plain-db"]')!;
    expect(pre.textContent).to.contain('for f in db/*.sql.gz.age; do age -d -i key.txt "$f" | gunzip; done | mariadb DBNAME');
    let copied = '';
    const original = Object.getOwnPropertyDescriptor(Navigator.prototype, 'clipboard');
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText: async (s: string) => void (copied = s) } });
    try {
      detail.shadowRoot!.querySelectorAll<HTMLButtonElement>('button')[1].click();
      await until(() => copied !== '');
      expect(copied).to.equal(pre.textContent);
      await until(() => detail.shadowRoot!.querySelector('[role="status"]')!.textContent!.includes('copied'));
    } finally {
      delete (navigator as unknown as Record<string, unknown>)['clipboard'];
      if (original) Object.defineProperty(Navigator.prototype, 'clipboard', original);
    }
  });

  it('shows the load error and a retry', async () => {
    const fake = new FakeCrm().on('get', { reject: 'Network error' });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('Network error');
  });
});
