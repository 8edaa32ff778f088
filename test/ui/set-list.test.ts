import { fixture, html, expect } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/set-list/define.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupSetList } from '../../ts-src/ui/set-list/civibackup-set-list.js';
import { FakeCrm } from './support/fake-crm.js';
import { formatBytes } from '../../ts-src/ui/shared/format.js';
import { SAMPLE_SOURCE, sampleCodeChanges, sampleDedupSets, sampleSets, sampleVerifyEvents } from './support/sample-data.js';

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

  it('deduplicated sets: Size is what a restore reads, Added what the set stored that no earlier set had', async () => {
    const el = await setup(new FakeCrm().on('get', { records: sampleDedupSets() }));
    const headers = [...el.shadowRoot!.querySelectorAll('thead th')].map((th) => th.textContent!.trim());
    expect(headers).to.deep.equal(['Date', 'Size', 'Added', 'Encrypted', 'Where', 'Verified', 'Actions']);
    const cells = (row: Element) => [...row.querySelectorAll('td')].map((td) => td.textContent!.replace(/\s+/g, ' ').trim());
    const rows = [...el.shadowRoot!.querySelectorAll('tbody tr')];
    expect(cells(rows[0])[1]).to.equal(`Size${formatBytes(700_000_000)}`);
    expect(cells(rows[0])[2]).to.equal(`Added${formatBytes(9_000_000)}`);
    // The first run added nearly everything; the next ones only what changed.
    expect(cells(rows[3])[2]).to.equal(`Added${formatBytes(650_000_000)}`);
  });

  it('has no source column or note while every set comes from one source', async () => {
    const el = await setup(new FakeCrm().on('get', { records: sampleSets() }));
    const headers = [...el.shadowRoot!.querySelectorAll('thead th')].map((th) => th.textContent!.trim());
    expect(headers).to.not.include('Source');
    expect(q(el, '[data-testid="sources-note"]')).to.equal(null);
  });

  it('when the sets come from more than one source, shows each set\'s source and says retention leaves the others alone', async () => {
    const [a, b, c] = sampleSets();
    const fake = new FakeCrm().on('get', { records: [a, { ...b, source: 'example-staging' }, { ...c, source: undefined }] });
    const el = await setup(fake);
    const headers = [...el.shadowRoot!.querySelectorAll('thead th')].map((th) => th.textContent!.trim());
    expect(headers).to.deep.equal(['Date', 'Source', 'Size', 'Added', 'Encrypted', 'Where', 'Verified', 'Actions']);
    const rows = [...el.shadowRoot!.querySelectorAll('tbody tr')];
    const sourceCell = (row: Element) => row.querySelectorAll('td')[1].textContent!.replace(/\s+/g, ' ');
    expect(sourceCell(rows[0])).to.contain('server web1, database localhost/civicrm');
    expect(sourceCell(rows[1])).to.contain('example-staging');
    expect(sourceCell(rows[2])).to.contain('not recorded');
    const note = q(el, '[data-testid="sources-note"]')!.textContent!.replace(/\s+/g, ' ');
    expect(note).to.contain('3 sources');
    expect(note).to.contain('only counts and removes the sets of its own source');
    // The detail row still spans every column.
    byLabel(el, `Restore commands for ${a.setId}`).click();
    await until(() => q(el, 'tr.detail') !== null);
    expect(q(el, 'tr.detail td')!.getAttribute('colspan')).to.equal(String(headers.length));
    expect(SAMPLE_SOURCE).to.equal(a.source);
  });

  it('marks this site\'s sets among those of other sources, the safety backups of restores, and keeps the newest set of each source', async () => {
    const [a, b, c] = sampleSets();
    const fake = new FakeCrm().on('get', {
      records: [
        { ...a, thisSite: false, source: 'example-staging' },
        { ...b, thisSite: true, trigger: 'safety-before-restore' },
        { ...c, thisSite: true },
      ],
    });
    const el = await setup(fake);
    const rows = [...el.shadowRoot!.querySelectorAll('tbody tr')];
    const sourceCell = (row: Element) => row.querySelectorAll('td')[1].textContent!.replace(/\s+/g, ' ').trim();
    expect(sourceCell(rows[0])).to.equal('Sourceexample-staging');
    expect(sourceCell(rows[1])).to.equal('Sourceserver web1, database localhost/civicrm (this site)', 'the cell label (stacked layout) comes first');
    expect(rows[1].querySelector('[data-testid="safety-mark"]')!.textContent).to.contain('Safety backup taken before a restore');
    expect(rows[0].querySelector('[data-testid="safety-mark"]')).to.equal(null);
    // Each source keeps its newest set; only this site's older set can be deleted.
    expect(rows[0].textContent).to.contain('Newest set of its source: cannot be deleted');
    expect(rows[1].textContent).to.contain('Newest set of its source: cannot be deleted');
    expect(rows.map((r) => r.querySelector('button.danger') !== null)).to.deep.equal([false, false, true]);
  });

  it('sets all of another source (a copy of the site on a new server) say so', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets().map((s) => ({ ...s, thisSite: false })) });
    const el = await setup(fake);
    expect(q(el, '[data-testid="sources-note"]')!.textContent).to.contain('These sets come from another source than this site');
    expect([...el.shadowRoot!.querySelectorAll('thead th')].map((th) => th.textContent!.trim())).to.include('Source');
  });

  it('when the sets cannot be listed (no Node.js), says why and what to do once, and shows no empty list', async () => {
    const fake = new FakeCrm().on('get', {
      reject: { error_message: '[NODE_VERSION] No node binary was found on the PATH (/usr/bin:/bin).\nInstall Node.js 20 or newer, or set the path of its node binary in the Backups settings.' },
    });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => q(el, '[data-testid="sets-unknown"]') !== null);
    const notice = q(el, '[data-testid="sets-unknown"]')!.textContent!.replace(/\s+/g, ' ');
    expect(notice).to.contain('The backup sets could not be listed');
    expect(notice).to.contain('No node binary was found on the PATH (/usr/bin:/bin).');
    expect(notice).to.contain('What to do: Install Node.js 20 or newer');
    expect(text(el)).to.not.contain('There are no complete backup sets yet');
    expect(text(el).split('No node binary').length - 1).to.equal(1);
  });

  it('verifies and test-restores a set asynchronously, follows each run, then reloads the list', async () => {
    const setId = '20261118T020001Z-a7b7c7'; // not encrypted: no key needed
    const fake = new FakeCrm()
      .on('get', { records: sampleSets() })
      .on('verify', { records: [{ runId: 'v1' }] }, { records: [{ runId: 'v2' }] })
      .on(
        'status',
        { handle: (p) => [{ runId: p['runId'], events: sampleVerifyEvents(String(p['runId']), setId), done: true, running: false }] },
      );
    const el = await setup(fake);
    byLabel(el, `Verify checksums of ${setId}`).click();
    await until(() => text(el).includes(`Checksums of ${setId} checked.`));
    const report = () => q(el, 'civibackup-run-progress')!.shadowRoot!.textContent!;
    expect(report()).to.contain('Verification complete.');
    byLabel(el, `Test restore ${setId}`).click();
    await until(() => text(el).includes(`Test restore of ${setId} finished.`));
    expect(fake.callsTo('verify').map((c) => c.params)).to.deep.equal([
      { setId, deep: false, async: true },
      { setId, deep: true, async: true },
    ]);
    expect(fake.callsTo('status').map((c) => c.params['runId'])).to.deep.equal(['v1', 'v2']);
    await until(() => fake.callsTo('get').length === 3, 'list reloaded after each run');
  });

  it('asks for the secret key before test-restoring an encrypted set, checks it, and sends it to that run only', async () => {
    const setId = '20261125T020002Z-9xq2mm';
    const fake = new FakeCrm()
      .on('get', { records: sampleSets() })
      .on('verify', { records: [{ runId: 'v3' }] })
      .on('status', { records: [{ runId: 'v3', events: sampleVerifyEvents('v3', setId), done: true, running: false }] });
    const el = await setup(fake);
    byLabel(el, `Test restore ${setId}`).focus();
    await sendKeys({ press: 'Enter' });
    const dialog = () => q<HTMLDialogElement>(el, 'dialog#key-dialog')!;
    await until(() => dialog().open, 'key dialog open');
    expect(dialog().textContent).to.contain('not stored on the server');
    await until(() => focused(el)?.id === 'key-text', 'the key field is focused first');
    await sendKeys({ type: 'AGE-SECRET-KEY-1NOTAKEY' });
    const start = () => [...dialog().querySelectorAll('button')].find((b) => b.textContent!.includes('Start test restore'))!;
    start().click();
    await el.updateComplete;
    expect(q(el, '#key-error')!.textContent).to.contain('not an age secret key');
    expect(q(el, '#key-text')!.getAttribute('aria-invalid')).to.equal('true');
    expect(fake.callsTo('verify').length).to.equal(0);

    const identity = 'AGE-SECRET-KEY-1KR6L4FD05AJM7L0Y37U42KZ7VM5XT298YP2CTKZ2260NMQU27DAQ6WYFGR';
    const field = q<HTMLTextAreaElement>(el, '#key-text')!;
    field.value = `# created: 2026-11-26T06:46:35Z\n# public key: age18gmwx27mnrmwczqfp55yplt8dlrg34lvqkvwq0vlefj3y6dxqpdqgtxq2u\n${identity}\n`;
    field.dispatchEvent(new Event('input'));
    await el.updateComplete;
    start().click();
    await until(() => fake.callsTo('verify').length === 1);
    expect(fake.callsTo('verify')[0].params).to.deep.equal({ setId, deep: true, async: true, identity });
    expect(dialog().open).to.equal(false);
    await until(() => text(el).includes(`Test restore of ${setId} finished.`));
    expect(JSON.stringify(fake.callsTo('status'))).to.not.contain('AGE-SECRET-KEY');
  });

  it('Escape closes the key dialog without starting anything', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await setup(fake);
    byLabel(el, 'Test restore 20261126T020003Z-k3f9a1').click();
    await until(() => q<HTMLDialogElement>(el, 'dialog#key-dialog')!.open);
    await sendKeys({ press: 'Escape' });
    await until(() => !q<HTMLDialogElement>(el, 'dialog#key-dialog')!.open);
    expect(fake.callsTo('verify').length).to.equal(0);
  });

  it('shows a verification that found damage, with the helper\'s message and what to do', async () => {
    const setId = '20261118T020001Z-a7b7c7';
    const fake = new FakeCrm()
      .on('get', { records: sampleSets() })
      .on('verify', { records: [{ runId: 'v4' }] })
      .on('status', { records: [{ runId: 'v4', events: sampleVerifyEvents('v4', setId, true), done: true, running: false }] });
    const el = await setup(fake);
    byLabel(el, `Verify checksums of ${setId}`).click();
    await until(() => q(el, '[data-testid="action-error"]') !== null);
    expect(q(el, '[data-testid="action-error"]')!.textContent).to.contain(`Verify failed for ${setId}: Damaged set ${setId}: db/100-schema.sql.gz is truncated`);
    const report = q(el, 'civibackup-run-progress')!.shadowRoot!.querySelector('[role="alert"]')!.textContent!;
    expect(report).to.contain('Verification failed.');
    expect(report).to.contain('Use another set or an offsite copy.');
  });

  it('shows a verification the server refused to start', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() }).on('verify', { reject: { error_code: 'LOCKED', error_message: 'Another CiviBackup run is using this destination.' } });
    const el = await setup(fake);
    byLabel(el, 'Verify checksums of 20261118T020001Z-a7b7c7').click();
    await until(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('Verify failed for 20261118T020001Z-a7b7c7: Another CiviBackup run');
    expect(byLabel(el, 'Verify checksums of 20261118T020001Z-a7b7c7').disabled).to.equal(false);
  });

  it('deletes only after confirmation, keyboard only: Enter opens, Escape keeps, Tab+Enter deletes', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() }).on('delete', { records: [] });
    const el = await setup(fake);
    const deleteButton = byLabel(el, 'Delete 20261118T020001Z-a7b7c7');
    deleteButton.focus();
    await sendKeys({ press: 'Enter' });
    await until(() => q<HTMLDialogElement>(el, 'dialog#delete-dialog')!.open, 'dialog open');
    expect(q(el, 'dialog#delete-dialog')!.textContent).to.contain('20261118T020001Z-a7b7c7');
    await until(() => focused(el)?.textContent?.trim() === 'Keep it', 'safe choice focused first');
    await sendKeys({ press: 'Escape' });
    await until(() => !q<HTMLDialogElement>(el, 'dialog#delete-dialog')!.open, 'dialog closed by Escape');
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
    await until(() => q<HTMLDialogElement>(el, 'dialog#delete-dialog')!.open);
    [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('dialog#delete-dialog button')].find((b) => b.textContent!.includes('Delete set'))!.click();
    await until(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('cannot be deleted');
  });

  it("a deduplicated set's details ask the list's API for its code changes and list them", async () => {
    const set = sampleDedupSets()[0]!;
    const fake = new FakeCrm().on('get', { records: sampleDedupSets() }).on('codeChanges', { records: [{ setId: set.setId, recorded: true, changes: sampleCodeChanges() }] });
    const el = await setup(fake);
    byLabel(el, `Restore commands for ${set.setId}`).click();
    await until(() => q(el, 'civibackup-set-detail')?.shadowRoot?.querySelector('[data-change="added"]'), 'code changes listed');
    expect(fake.callsTo('codeChanges').map((c) => c.params)).to.deep.equal([{ setId: set.setId }]);
    expect(q(el, 'civibackup-set-detail')!.shadowRoot!.querySelector('[data-change="added"]')!.textContent!.replace(/\s+/g, ' ').trim()).to.equal('Added CRM/Core/Payment/Custom.php');
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
    // One source: no Source column, and the detail row spans every column there is.
    expect(q(el, 'tr.detail td')!.getAttribute('colspan')).to.equal(String(el.shadowRoot!.querySelectorAll('thead th').length));
    const detail = q(el, 'civibackup-set-detail')!;
    await (detail as unknown as { updateComplete: Promise<unknown> }).updateComplete;
    const pre = detail.shadowRoot!.querySelector('pre[data-command="plain-db"]')!;
    expect(pre.textContent).to.contain('for f in "$SET"/db/*.sql.gz.age; do age -d -i key.txt "$f" | zcat || exit 1; done | mariadb DBNAME');
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
