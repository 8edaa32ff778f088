/**
 * "Restore..." on Backup sets: the restore dialog in Chromium against the FAKE CRM global
 * (support/fake-crm.ts), which records every API call and answers as scripted. What is
 * checked: the choices offered for a set, what the page sends, the typed confirmation, live
 * progress, the site check, undo, the secret key living only in the one call that starts the
 * run, keyboard and screen reader behaviour, and that without the permission there is no
 * restore at all.
 */
import { fixture, html, expect } from '@open-wc/testing';
import { a11ySnapshot, sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/set-list/define.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import { RUN_ID_PATTERN } from '../../ts-src/protocol/api.js';
import type { SetSummary } from '../../ts-src/protocol/sets.js';
import type { CivibackupSetList } from '../../ts-src/ui/set-list/civibackup-set-list.js';
import { FakeCrm } from './support/fake-crm.js';
import { sampleConfig, sampleRestoreEvents, sampleSafetySet, sampleSets, sampleWordPressSet } from './support/sample-data.js';

const IDENTITY = 'AGE-SECRET-KEY-1KR6L4FD05AJM7L0Y37U42KZ7VM5XT298YP2CTKZ2260NMQU27DAQ6WYFGR';
const SAFETY = sampleSafetySet();

interface AxNode {
  role: string;
  name?: string;
  children?: AxNode[];
}
const flatten = (node: AxNode | null | undefined, out: AxNode[] = []): AxNode[] => {
  if (!node) return out;
  out.push(node);
  for (const child of node.children ?? []) flatten(child, out);
  return out;
};

/** A CiviCRM with these sets, whose restore of any set runs as scripted (status answers in turn). */
function restoringFake(sets: SetSummary[], ...statusAnswers: Array<(runId: string) => Record<string, unknown>>): FakeCrm {
  const fake = new FakeCrm()
    .on('get', { records: sets })
    .on('getConfig', { records: [sampleConfig()] })
    .on('restore', { handle: (p) => [{ runId: p['runId'] }] })
    .on('Contact.get', { records: [{ id: 1 }] });
  const answers = statusAnswers.length
    ? statusAnswers
    : [(runId: string) => ({ runId, events: sampleRestoreEvents(runId, sets[0].setId), done: true, running: false, safetySetId: SAFETY.setId })];
  fake.on('status', ...answers.map((answer) => ({ handle: (p: Record<string, unknown>) => [answer(String(p['runId']))] })));
  return fake;
}

async function setup(fake: FakeCrm, canAdminister = true) {
  const el = await fixture<CivibackupSetList>(
    html`<civibackup-set-list ?can-administer=${canAdminister} .pollIntervalMs=${10} .api=${new BackupApi(() => fake)}></civibackup-set-list>`,
  );
  await until(() => el.shadowRoot!.querySelector('tbody') !== null, 'table rendered');
  const host = el.shadowRoot!.querySelector('civibackup-restore-dialog')!;
  host.siteCheckIntervalMs = 10;
  const root = host.shadowRoot!;
  return {
    el,
    root,
    q: <T extends HTMLElement = HTMLElement>(s: string) => root.querySelector<T>(s),
    dialog: () => root.querySelector<HTMLDialogElement>('dialog')!,
    text: () => root.textContent!.replace(/\s+/g, ' '),
    progressText: () => root.querySelector('civibackup-run-progress')?.shadowRoot?.textContent?.replace(/\s+/g, ' ') ?? '',
    opener: (setId: string) => el.shadowRoot!.querySelector<HTMLButtonElement>(`button[aria-label="Restore ${setId}\u2026"]`),
    focused: () => root.activeElement as HTMLElement | null,
  };
}

type Page = Awaited<ReturnType<typeof setup>>;

async function open(page: Page, setId: string) {
  page.opener(setId)!.click();
  await until(() => page.dialog().open, 'restore dialog open');
  await until(() => page.q('#restore-confirm') !== null);
}

async function type(page: Page, selector: string, value: string) {
  const input = page.q<HTMLInputElement | HTMLTextAreaElement>(selector)!;
  input.value = value;
  input.dispatchEvent(new Event('input'));
  await page.el.updateComplete;
}

const startButton = (page: Page) => page.q<HTMLButtonElement>('[data-testid="start"]')!;
const planText = (page: Page) => page.q('[data-testid="plan"]')?.textContent?.replace(/\s+/g, ' ') ?? '';

describe('restore dialog', () => {
  it('offers the scope only for a set whose database holds tables that are not CiviCRM\'s, CiviCRM\'s tables first', async () => {
    const wp = sampleWordPressSet();
    const page = await setup(restoringFake([wp, ...sampleSets()]));
    await open(page, wp.setId);
    expect(page.q<HTMLInputElement>('#restore-database')!.checked, 'the database is chosen first').to.equal(true);
    expect(page.q<HTMLInputElement>('#scope-civicrm')!.checked).to.equal(true);
    expect(page.text()).to.contain('holds 12 tables that are not CiviCRM\u2019s');
    await until(() => planText(page).includes('/var/www/site/private/civicrm/custom') || planText(page).includes('/var/backups/civicrm'));
    expect(planText(page)).to.contain('(186 of the set\u2019s 198, named civicrm_\u2026 and log_civicrm_\u2026) are replaced');
    expect(planText(page)).to.contain('The other tables (12 in the set, such as the CMS\u2019s users and content) are left as they are.');
    expect(planText(page)).to.contain('First, a safety backup of this site as it is now is written to /var/backups/civicrm');

    page.q<HTMLInputElement>('#scope-all')!.click();
    await page.el.updateComplete;
    expect(planText(page)).to.contain('becomes exactly the set\u2019s from');
    expect(page.q('[data-line="database"]')!.className, 'rolling back the CMS is a caution').to.equal('caution');

    // A directory: its path on this site, and what goes.
    page.q<HTMLInputElement>('#restore-dir-custom')!.click();
    await page.el.updateComplete;
    expect(planText(page)).to.contain('The directory custom (/var/www/site/private/civicrm/custom) is replaced by the set\u2019s copy (4,102 files');
    page.q<HTMLButtonElement>('dialog button')!.click(); // Cancel
    await until(() => !page.dialog().open);

    // A set of a site whose database is CiviCRM's alone: no scope question.
    await open(page, sampleSets()[1].setId);
    expect(page.q('#scope-civicrm')).to.equal(null);
    expect(planText(page)).to.contain('CiviCRM\u2019s database (186 tables) is replaced by the set\u2019s copy');
  });

  it('says what the safety backup cannot bring back, and refuses to start without a choice', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp]).on('getConfig', { records: [sampleConfig({ includeDatabase: false })] });
    const page = await setup(fake);
    await open(page, wp.setId);
    await until(() => planText(page).includes('safety backup holds no database'));
    expect(page.q('[data-line="safety-no-database"]')!.textContent).to.contain('undo cannot bring it back');
    page.q<HTMLInputElement>('#restore-database')!.click();
    await page.el.updateComplete;
    expect(page.q('[data-testid="problems"]')!.textContent).to.contain('Choose the database, a directory, or both.');
    await type(page, '#restore-confirm', wp.setId);
    expect(startButton(page).disabled).to.equal(true);
  });

  it('starts only with the set id typed exactly, sends the choices with a run id it follows, and shows progress, the result and that the site is back', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp]);
    // Live progress is checked while the run stands at its second answer: the third poll (the
    // one that would end the run) is held until the checks are done, whatever the machine's load.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    fake.on(
      'status',
      { handle: (p) => [{ runId: p['runId'], events: sampleRestoreEvents(String(p['runId']), wp.setId, 3, 'none'), done: false, running: true }] },
      { handle: (p) => [{ runId: p['runId'], events: sampleRestoreEvents(String(p['runId']), wp.setId, 7, 'none'), done: false, running: true, safetySetId: SAFETY.setId }] },
      {
        handle: async (p) => {
          await held;
          return [{ runId: p['runId'], events: sampleRestoreEvents(String(p['runId']), wp.setId), done: true, running: false, safetySetId: SAFETY.setId }];
        },
      },
    );
    const page = await setup(fake);
    const changed: string[] = [];
    page.el.addEventListener('civibackup-sets-changed', (e) => changed.push(e.detail.reason));
    await open(page, wp.setId);
    page.q<HTMLInputElement>('#restore-dir-custom')!.click();
    await page.el.updateComplete;
    await type(page, '#restore-confirm', wp.setId.slice(0, -1));
    expect(startButton(page).disabled, 'a near miss does not unlock it').to.equal(true);
    await type(page, '#restore-confirm', wp.setId);
    expect(startButton(page).disabled).to.equal(false);
    startButton(page).click();
    await until(() => fake.callsTo('restore').length === 1);
    const params = fake.callsTo('restore')[0].params;
    expect(params['runId']).to.match(RUN_ID_PATTERN);
    expect({ ...params, runId: 'x' }).to.deep.equal({ setId: wp.setId, database: true, scope: 'civicrm', directories: ['custom'], confirm: wp.setId, async: true, runId: 'x' });

    await until(() => page.progressText().includes('Time left in this step'), 'live figures');
    await until(() => page.progressText().includes('Restoring: civicrm_activity'));
    expect(page.progressText()).to.contain('Restore in progress');
    const bar = page.root.querySelector('civibackup-run-progress')!.shadowRoot!.querySelector('[role="progressbar"]')!;
    expect(bar.getAttribute('aria-valuenow')).to.equal('40');
    expect(fake.callsTo('status').every((c) => c.params['runId'] === params['runId'])).to.equal(true);
    release();

    await until(() => page.text().includes('Restore finished'));
    expect(page.q('[data-testid="restored"]')!.textContent).to.contain(`Restored from set ${wp.setId}: CiviCRM\u2019s tables of the database, the directory custom.`);
    await until(() => page.q('[data-testid="site-status"]')!.textContent!.includes('The site is back'));
    expect(fake.callsTo('Contact.get').length).to.be.greaterThan(0);
    expect(changed).to.include('restored');
  });

  it('shows the safety backup first, as step 1 of 2', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp], (runId) => ({ runId, events: sampleRestoreEvents(runId, wp.setId, 3, 'none'), done: false, running: true }));
    const page = await setup(fake);
    await open(page, wp.setId);
    await type(page, '#restore-confirm', wp.setId);
    startButton(page).click();
    await until(() => page.progressText().includes('Safety backup before the restore (step 1 of 2)'));
    // Screen readers hear the step and what it works on, from a polite live region.
    const live = page.root.querySelector('civibackup-run-progress')!.shadowRoot!.querySelector('[aria-live="polite"]')!;
    expect(live.textContent!.trim()).to.equal('Saving table data: civicrm_contact');
    // A run in progress cannot be closed by Escape: the page must keep asking for its progress.
    await sendKeys({ press: 'Escape' });
    await page.el.updateComplete;
    expect(page.dialog().open).to.equal(true);
    expect(page.text()).to.contain('Keep this page open until the restore has finished');
  });

  it('a failed restore says the live site was not changed, what went wrong and what to do, and offers no undo', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp, SAFETY], (runId) => ({ runId, events: sampleRestoreEvents(runId, wp.setId, 7, 'error'), done: true, running: false, safetySetId: SAFETY.setId }));
    const page = await setup(fake);
    await open(page, wp.setId);
    await type(page, '#restore-confirm', wp.setId);
    startButton(page).click();
    await until(() => page.text().includes('Restore did not finish'));
    expect(page.progressText()).to.contain('The staging database civicrm_cbstage could not be created: access denied.');
    expect(page.progressText()).to.contain('What to do: Grant the database user CREATE and DROP');
    expect(page.text()).to.contain('The live site was not changed by the restore step.');
    expect(page.text()).to.not.contain('Undo this restore');
    expect(fake.callsTo('Contact.get').length).to.equal(0);
  });

  it('undo restores the safety backup over the same parts, after a confirmation, while it is listed', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp, SAFETY]);
    const page = await setup(fake);
    await open(page, wp.setId);
    page.q<HTMLInputElement>('#scope-all')!.click();
    page.q<HTMLInputElement>('#restore-dir-images')!.click();
    await page.el.updateComplete;
    await type(page, '#restore-confirm', wp.setId);
    startButton(page).click();
    await until(() => page.text().includes('Undo this restore'));
    expect(page.text()).to.contain(`The safety backup ${SAFETY.setId} holds this site as it was just before.`);
    [...page.root.querySelectorAll('button')].find((b) => b.textContent!.includes('Undo this restore'))!.click();
    await until(() => page.text().includes('Undo the restore of set'));
    expect(page.focused()?.id, 'the safe answer is focused first').to.equal('undo-keep');
    expect(page.text()).to.contain(`The safety backup ${SAFETY.setId} (written`);
    [...page.root.querySelectorAll('button')].find((b) => b.textContent!.trim() === 'Undo restore')!.click();
    await until(() => fake.callsTo('restore').length === 2);
    const undo = fake.callsTo('restore')[1].params;
    expect({ ...undo, runId: 'x' }).to.deep.equal({ setId: SAFETY.setId, database: true, scope: 'all', directories: ['images'], confirm: SAFETY.setId, async: true, runId: 'x' });
    expect(undo['runId']).to.not.equal(fake.callsTo('restore')[0].params['runId']);
    await until(() => page.text().includes('Restore undone'));
    expect(page.q('[data-testid="restored"]')!.textContent).to.contain(`Undone: the safety backup ${SAFETY.setId} was restored`);
  });

  it('no undo once the safety backup is no longer listed', async () => {
    const wp = sampleWordPressSet();
    const page = await setup(restoringFake([wp]));
    await open(page, wp.setId);
    await type(page, '#restore-confirm', wp.setId);
    startButton(page).click();
    await until(() => page.text().includes('no longer listed'));
    expect(page.text()).to.contain(`The safety backup ${SAFETY.setId} is no longer listed, so this restore cannot be undone here.`);
    expect(page.text()).to.not.contain('Undo this restore');
  });

  it('when the restore replaced the sessions, the site is back but asks to log in again', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp, SAFETY]).on(
      'Contact.get',
      { reject: { status: 503, error_message: 'Service Unavailable' } },
      // What CiviCRM 6.17 sends a visitor without the permission (the session is gone).
      { reject: { error_code: '1', status: 403, error_message: 'Sorry an error occurred and your request was not completed. (Error ID: WJeF-z7O2-pARB)' } },
    );
    const page = await setup(fake);
    await open(page, wp.setId);
    await type(page, '#restore-confirm', wp.setId);
    startButton(page).click();
    await until(() => page.q('[data-testid="site-status"]')?.textContent?.includes('Log in again'));
    expect(fake.callsTo('Contact.get').length).to.equal(2);
  });

  it('into a new database: names it, replaces nothing live, sends newDatabase only', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp], (runId) => ({
      runId,
      events: [
        { v: 1, runId, seq: 1, time: '2026-11-26T07:00:00Z', type: 'start', command: 'restore', toolVersion: '0.2.0' },
        { v: 1, runId, seq: 2, time: '2026-11-26T07:01:00Z', type: 'result', command: 'restore', summary: {} },
      ],
      done: true,
      running: false,
    }));
    const page = await setup(fake);
    await open(page, wp.setId);
    page.q<HTMLInputElement>('#target-new')!.click();
    await page.el.updateComplete;
    await type(page, '#new-database', 'civicrm copy');
    expect(page.q('[data-testid="problems"]')!.textContent).to.contain('letters, digits and _');
    await type(page, '#new-database', 'civicrm_inspect');
    expect(planText(page)).to.contain('restored into the new database civicrm_inspect');
    expect(planText(page)).to.contain('Nothing of this site is changed, so there is no safety backup.');
    await type(page, '#restore-confirm', wp.setId);
    expect(startButton(page).textContent!.trim()).to.equal('Restore into the new database');
    startButton(page).click();
    await until(() => page.text().includes('Restore finished'));
    expect({ ...fake.callsTo('restore')[0].params, runId: 'x' }).to.deep.equal({ setId: wp.setId, newDatabase: 'civicrm_inspect', confirm: wp.setId, async: true, runId: 'x' });
    expect(page.text()).to.contain('the database, into civicrm_inspect');
    expect(page.text()).to.not.contain('Undo this restore');
    expect(fake.callsTo('Contact.get').length, 'the live site was not touched: nothing to wait for').to.equal(0);
  });

  it('a refused start goes back to the choices with the reason', async () => {
    const wp = sampleWordPressSet();
    const fake = restoringFake([wp])
      .on('restore', { reject: { error_message: '[LOCKED] Another CiviBackup run is using this destination.\nWait for it to finish.' } })
      .on('status', { reject: { error_message: '[USAGE] There is no run x.\nUse the run id that Backup.run returned.' } });
    const page = await setup(fake);
    await open(page, wp.setId);
    await type(page, '#restore-confirm', wp.setId);
    startButton(page).click();
    await until(() => page.q('[data-testid="start-error"]') !== null);
    expect(page.q('[data-testid="start-error"]')!.textContent).to.contain('Another CiviBackup run is using this destination. Wait for it to finish.');
    expect(page.q('#restore-confirm'), 'the choices are back').to.not.equal(null);
  });

  it('an encrypted set: the key is read in the browser, sent with the one call that starts the run, and kept nowhere', async () => {
    const encrypted = sampleWordPressSet({ encrypted: true });
    const fake = restoringFake([encrypted, { ...SAFETY, encrypted: true }]);
    const page = await setup(fake);
    localStorage.clear();
    sessionStorage.clear();
    await open(page, encrypted.setId);
    await type(page, '#restore-confirm', encrypted.setId);
    expect(startButton(page).disabled, 'no key yet').to.equal(true);
    await type(page, '#restore-key-text', 'AGE-SECRET-KEY-1NOTAKEY');
    startButton(page).click();
    await page.el.updateComplete;
    expect(page.q('#restore-key-error')!.textContent).to.contain('not an age secret key');
    expect(page.q('#restore-key-text')!.getAttribute('aria-invalid')).to.equal('true');
    expect(fake.callsTo('restore').length).to.equal(0);

    // The key file, as the browser hands it over (FileReader).
    const input = page.q<HTMLInputElement>('#restore-key-file')!;
    const files = new DataTransfer();
    files.items.add(new File([`# created: 2026-11-26T06:46:35Z\n# public key: age18gmwx27mnrmwczqfp55yplt8dlrg34lvqkvwq0vlefj3y6dxqpdqgtxq2u\n${IDENTITY}\n`], 'key.txt', { type: 'text/plain' }));
    input.files = files.files;
    input.dispatchEvent(new Event('change'));
    await until(() => page.q<HTMLTextAreaElement>('#restore-key-text')!.value.includes(IDENTITY), 'file read into the field');
    startButton(page).click();
    await until(() => fake.callsTo('restore').length === 1);
    expect(fake.callsTo('restore')[0].params['identity']).to.equal(IDENTITY);
    await until(() => page.text().includes('Restore finished'));

    const everywhere = JSON.stringify([...fake.calls.filter((c) => c.action !== 'restore'), localStorage, sessionStorage, document.cookie, history.state]);
    expect(everywhere).to.not.contain('AGE-SECRET-KEY');
    expect(JSON.stringify(fake.calls).split('AGE-SECRET-KEY').length - 1, 'in exactly one call').to.equal(1);
    const host = page.el.shadowRoot!.querySelector('civibackup-restore-dialog')! as unknown as Record<string, unknown>;
    expect(host['keyText'], 'the field was emptied when the run started').to.equal('');
    expect(page.root.innerHTML).to.not.contain('AGE-SECRET-KEY');

    // Undo of an encrypted safety backup asks for the key again.
    await until(() => page.text().includes('Undo this restore'));
    [...page.root.querySelectorAll('button')].find((b) => b.textContent!.includes('Undo this restore'))!.click();
    await until(() => page.q('#restore-key-text') !== null);
    expect(page.q<HTMLTextAreaElement>('#restore-key-text')!.value).to.equal('');
  });

  it('keyboard and screen reader: a named modal dialog with labelled controls, Tab kept inside, Escape closes, focus returns', async () => {
    const wp = sampleWordPressSet({ encrypted: true });
    const page = await setup(restoringFake([wp, ...sampleSets()]));
    const opener = page.opener(wp.setId)!;
    expect(opener.getAttribute('aria-haspopup')).to.equal('dialog');
    opener.focus();
    await sendKeys({ press: 'Enter' });
    await until(() => page.dialog().open);
    await until(() => page.focused()?.id === 'target-live', 'the first choice is focused');

    const nodes = flatten((await a11ySnapshot({})) as unknown as AxNode);
    const dialog = nodes.find((n) => n.role === 'dialog')!;
    expect(dialog.name).to.equal(`Restore set ${wp.setId}`);
    const controls = flatten(dialog).filter((n) => ['textbox', 'checkbox', 'radio', 'button'].includes(n.role));
    expect(controls.filter((n) => !(n.name ?? '').trim()), 'every control is named').to.deep.equal([]);
    expect(controls.map((n) => n.name)).to.include.members([
      'This site: replaces its live data',
      'CiviCRM\u2019s tables only (recommended: the CMS keeps its users and content)',
      'Secret key (AGE-SECRET-KEY-1...)',
      `Type the set id ${wp.setId} to confirm`,
      'Cancel',
    ]);
    expect(nodes.some((n) => n.name === `Delete ${sampleSets()[1].setId}`), 'the page behind is hidden while the dialog is modal').to.equal(false);

    // Shift+Tab from the first control goes round to the last, Tab from the last back to the first.
    await sendKeys({ down: 'Shift' });
    await sendKeys({ press: 'Tab' });
    await sendKeys({ up: 'Shift' });
    expect(page.focused()?.textContent?.trim(), 'Shift+Tab from the first control reaches the last (the start button is disabled, so Cancel)').to.equal('Cancel');
    await sendKeys({ press: 'Tab' });
    expect(page.focused()?.id).to.equal('target-live');

    await sendKeys({ press: 'Escape' });
    await until(() => !page.dialog().open);
    expect(page.el.shadowRoot!.activeElement, 'focus is back on the button that opened it').to.equal(opener);
  });

  it('without the permission there is no restore button, and no dialog opens', async () => {
    const fake = restoringFake(sampleSets());
    const page = await setup(fake, false);
    expect(page.el.shadowRoot!.querySelectorAll('button[aria-haspopup="dialog"]').length).to.equal(0);
    expect(page.el.shadowRoot!.textContent).to.not.contain('Restore\u2026');
    expect(fake.callsTo('getConfig').length).to.equal(0);
  });
});
