/**
 * Accessibility checked on Chromium's own accessibility tree (puppeteer's snapshot through
 * @web/test-runner-commands' a11ySnapshot): every control has a name, states are conveyed
 * in text (not colour alone), the progress bar exposes its value, invalid fields are
 * marked, and Tab moves forward through the settings in document order.
 */
import { fixture, html, expect } from '@open-wc/testing';
import { a11ySnapshot, sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/index.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupSettingsForm } from '../../ts-src/ui/settings-form/civibackup-settings-form.js';
import type { CivibackupSetList } from '../../ts-src/ui/set-list/civibackup-set-list.js';
import type { CivibackupOverview } from '../../ts-src/ui/overview/civibackup-overview.js';
import { FakeCrm } from './support/fake-crm.js';
import { NOW, sampleConfig, sampleOverview, sampleRunEvents, sampleSets } from './support/sample-data.js';

interface AxNode {
  role: string;
  name?: string;
  value?: string | number;
  invalid?: string;
  children?: AxNode[];
}

const CONTROL_ROLES = new Set(['textbox', 'checkbox', 'combobox', 'spinbutton', 'button', 'radio', 'tab', 'link', 'progressbar', 'slider', 'listbox']);

function flatten(node: AxNode | null | undefined, out: AxNode[] = []): AxNode[] {
  if (!node) return out;
  out.push(node);
  for (const child of node.children ?? []) flatten(child, out);
  return out;
}

async function snapshot(): Promise<AxNode[]> {
  return flatten((await a11ySnapshot({})) as unknown as AxNode);
}

function unnamedControls(nodes: AxNode[]): AxNode[] {
  return nodes.filter((n) => CONTROL_ROLES.has(n.role) && !(n.name ?? '').trim());
}

describe('accessibility (Chromium accessibility tree)', () => {
  it('overview with a run in progress: named controls, a progress bar with its value, warnings as text', async () => {
    const fake = new FakeCrm()
      .on('overview', { records: [sampleOverview({ runningRunId: 'run-1' })] })
      .on('status', { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] });
    const el = await fixture<CivibackupOverview>(
      html`<civibackup-overview can-administer .now=${NOW} .pollIntervalMs=${60000} .api=${new BackupApi(() => fake)}></civibackup-overview>`,
    );
    const progress = () => el.shadowRoot!.querySelector('civibackup-run-progress');
    await until(() => progress()?.shadowRoot?.querySelector('[role="progressbar"][aria-valuenow]'), 'progress bar with a value');
    const nodes = await snapshot();
    expect(unnamedControls(nodes)).to.deep.equal([]);
    const bar = nodes.find((n) => n.role === 'progressbar')!;
    expect(bar.name).to.equal('Progress: Saving table data');
    expect(nodes.some((n) => n.role === 'button' && n.name === 'Back up now')).to.equal(true);
    expect(nodes.some((n) => n.role === 'button' && n.name === 'Cancel backup')).to.equal(true);
    // The warning's level is read out as text, not only shown by colour.
    const texts = nodes.map((n) => n.name ?? '').join('\n');
    expect(texts).to.contain('No offsite copy');
    expect(texts).to.contain('(warning)');
    expect(texts).to.contain('Saving table data: civicrm_activity');
    el.remove();
  });

  it('set list: verification states and encryption are text; every action button says which set it acts on', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => el.shadowRoot!.querySelector('tbody'));
    const nodes = await snapshot();
    expect(unnamedControls(nodes)).to.deep.equal([]);
    const texts = nodes.map((n) => n.name ?? '');
    for (const label of ['Checksums verified', 'Restore tested', 'Damaged']) expect(texts.some((s) => s.includes(label)), label).to.equal(true);
    expect(nodes.some((n) => n.role === 'button' && n.name === 'Delete 20261118T020001Z-a7b7c7')).to.equal(true);
    // Chromium leaves table semantics out of the "interesting" snapshot; the header text is there.
    expect(texts).to.include('Verified');
    expect(texts.filter((s) => s.includes('Yes')).length).to.equal(2);
  });

  it('dialogs: the key dialog and the delete dialog are named modal dialogs with labelled fields', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => el.shadowRoot!.querySelector('tbody'));
    el.shadowRoot!.querySelector<HTMLButtonElement>('button[aria-label="Test restore 20261126T020003Z-k3f9a1"]')!.click();
    await until(() => el.shadowRoot!.querySelector<HTMLDialogElement>('#key-dialog')?.open);
    let nodes = await snapshot();
    expect(unnamedControls(nodes)).to.deep.equal([]);
    const keyDialog = nodes.find((n) => n.role === 'dialog')!;
    expect(keyDialog.name).to.equal('Secret key needed');
    const inDialog = flatten(keyDialog).filter((n) => CONTROL_ROLES.has(n.role)).map((n) => n.name);
    expect(inDialog).to.include.members(['Secret key (AGE-SECRET-KEY-1...)', 'Cancel', 'Start test restore']);
    // A modal dialog hides the page behind it from assistive technology.
    expect(nodes.some((n) => n.name === 'Verify checksums of 20261126T020003Z-k3f9a1')).to.equal(false);
    await sendKeys({ press: 'Escape' });
    await until(() => !el.shadowRoot!.querySelector<HTMLDialogElement>('#key-dialog')!.open);

    el.shadowRoot!.querySelector<HTMLButtonElement>('button[aria-label="Delete 20261118T020001Z-a7b7c7"]')!.click();
    await until(() => el.shadowRoot!.querySelector<HTMLDialogElement>('#delete-dialog')?.open);
    nodes = await snapshot();
    const deleteDialog = nodes.find((n) => n.role === 'dialog')!;
    expect(deleteDialog.name).to.equal('Delete this backup set?');
    expect(flatten(deleteDialog).filter((n) => n.role === 'button').map((n) => n.name)).to.deep.equal(['Keep it', 'Delete set']);
  });

  it('settings: every input labelled; invalid fields exposed as invalid with their message', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] });
    const el = await fixture<CivibackupSettingsForm>(
      html`<civibackup-settings-form can-administer .now=${NOW} .api=${new BackupApi(() => fake)}></civibackup-settings-form>`,
    );
    await until(() => el.shadowRoot!.querySelector('form'));
    el.draft = { ...el.draft!, destination: 'relative/path' };
    await el.updateComplete;
    el.shadowRoot!.querySelector<HTMLButtonElement>('button[type="submit"]')!.click();
    await until(() => el.shadowRoot!.querySelector('#destination-error'));
    const nodes = await snapshot();
    expect(unnamedControls(nodes)).to.deep.equal([]);
    const names = nodes.filter((n) => CONTROL_ROLES.has(n.role)).map((n) => n.name);
    for (const label of ['Directory for backup sets on this server', 'Daily sets to keep', 'Public keys (age recipients), one per line', 'Secret access key', 'How often']) {
      expect(names, label).to.include(label);
    }
    const destination = nodes.find((n) => n.role === 'textbox' && n.name === 'Directory for backup sets on this server')!;
    expect(destination.invalid).to.equal('true');
    // aria-describedby puts the message into the field's accessible description.
    expect((destination as AxNode & { description?: string }).description).to.contain('Use an absolute path that starts with /');
    // Every input element in the form is reachable by name (no unlabelled input hidden from the tree).
    const inputs = [...el.shadowRoot!.querySelectorAll('input, select, textarea')];
    const labelled = inputs.filter((i) => (i as HTMLInputElement).labels?.length || i.getAttribute('aria-label'));
    expect(labelled.length).to.equal(inputs.length);
  });

  it('settings: Tab moves forward in document order through every enabled control', async function () {
    this.timeout(90_000); // ~50 key presses, each a round trip to the browser
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] });
    const el = await fixture<CivibackupSettingsForm>(
      html`<civibackup-settings-form can-administer .now=${NOW} .api=${new BackupApi(() => fake)}></civibackup-settings-form>`,
    );
    await until(() => el.shadowRoot!.querySelector('form'));
    const focusable = [...el.shadowRoot!.querySelectorAll<HTMLElement>('input, select, textarea, button, summary')].filter(
      (e) => !(e as HTMLInputElement).disabled,
    );
    expect(el.shadowRoot!.querySelectorAll('[tabindex]:not([tabindex="-1"]):not([tabindex="0"])').length).to.equal(0);
    focusable[0].focus();
    const visited: HTMLElement[] = [focusable[0]];
    for (let i = 1; i < focusable.length; i++) {
      await sendKeys({ press: 'Tab' });
      visited.push(el.shadowRoot!.activeElement as HTMLElement);
    }
    expect(visited.map((e) => e.id || e.textContent!.trim())).to.deep.equal(focusable.map((e) => e.id || e.textContent!.trim()));
  });
});
