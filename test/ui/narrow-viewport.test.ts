/**
 * Phone width (390 CSS px, an iPhone 12-15 in portrait): every view fits without a
 * horizontal page scroll, and no element (nested shadow roots and open dialogs included)
 * sticks out past the viewport's edge, where it could only be reached by scrolling sideways.
 */
import { fixture, html, expect } from '@open-wc/testing';
import { a11ySnapshot, setViewport, sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/index.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupSetList } from '../../ts-src/ui/set-list/civibackup-set-list.js';
import type { CivibackupOverview } from '../../ts-src/ui/overview/civibackup-overview.js';
import type { CivibackupRunProgress } from '../../ts-src/ui/run-progress/civibackup-run-progress.js';
import type { CivibackupSettingsForm } from '../../ts-src/ui/settings-form/civibackup-settings-form.js';
import type { CivibackupSetDetail } from '../../ts-src/ui/set-detail/civibackup-set-detail.js';
import type { BootData } from '../../ts-src/ui/boot.js';
import { FakeCrm } from './support/fake-crm.js';
import { NOW, sampleConfig, sampleOverview, sampleRunError, sampleRunEvents, sampleSets } from './support/sample-data.js';

const PHONE = { width: 390, height: 844 };
const BOOT: BootData = { canAdminister: true, version: '0.1.0', pollIntervalMs: 60000, helper: '/var/www/html/sites/default/files/civicrm/ext/civibackup/dist/civibackup.mjs' };

const q = <T extends HTMLElement = HTMLElement>(el: Element, s: string) => el.shadowRoot!.querySelector<T>(s);
const byLabel = (el: Element, label: string) => q<HTMLButtonElement>(el, `button[aria-label="${label}"]`)!;

/** Visually hidden (the .visually-hidden pattern): a 1 px box that clips what is inside. */
function clippedAway(el: Element): boolean {
  const r = el.getBoundingClientRect();
  return r.width <= 1 && r.height <= 1 && getComputedStyle(el).overflow !== 'visible';
}

/** Every element under root that can be seen, through open shadow roots. */
function deepElements(root: Element | ShadowRoot, out: Element[] = []): Element[] {
  for (const child of root.children) {
    if (clippedAway(child)) continue;
    out.push(child);
    if (child.shadowRoot) deepElements(child.shadowRoot, out);
    deepElements(child, out);
  }
  return out;
}

function describe_(el: Element): string {
  const classes = el.getAttribute('class') ? `.${el.getAttribute('class')!.trim().split(/\s+/).join('.')}` : '';
  return `${el.localName}${el.id ? `#${el.id}` : ''}${classes} (${Math.round(el.getBoundingClientRect().left)}..${Math.round(el.getBoundingClientRect().right)})`;
}

/**
 * What sticks out of the viewport horizontally: the page's own scroll width, and each rendered
 * element whose box crosses the left or right edge (also inside an overflow:hidden or a
 * top-layer dialog, which page scrolling would not reveal).
 */
function horizontalOverflow(host: Element): string[] {
  const found: string[] = [];
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth) found.push(`page scrollWidth ${page.scrollWidth} > clientWidth ${page.clientWidth}`);
  if (host.scrollWidth > host.clientWidth) found.push(`${host.localName} scrollWidth ${host.scrollWidth} > clientWidth ${host.clientWidth}`);
  const edge = page.clientWidth;
  for (const el of [host, ...deepElements(host.shadowRoot ?? host)]) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue; // not rendered (display:none, closed dialog)
    if (r.right > edge + 0.5 || r.left < -0.5) found.push(describe_(el));
  }
  return found;
}

describe('phone width (390 px)', () => {
  before(async () => {
    await setViewport(PHONE);
  });

  it('the viewport really is 390 px wide', () => {
    expect(window.innerWidth).to.equal(390);
  });

  it('set list: stacked rows, no horizontal scroll, with a restore-commands detail open', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => q(el, 'tbody') !== null, 'table rendered');
    expect(horizontalOverflow(el)).to.deep.equal([]);

    // Every row still offers its actions under the same accessible names.
    for (const set of sampleSets()) {
      expect(byLabel(el, `Verify checksums of ${set.setId}`)).to.not.equal(null);
      expect(byLabel(el, `Test restore ${set.setId}`)).to.not.equal(null);
      expect(byLabel(el, `Restore commands for ${set.setId}`)).to.not.equal(null);
    }
    // Each cell says which column it belongs to once the header row is not beside it.
    const firstRow = el.shadowRoot!.querySelector('tbody tr')!;
    const labels = [...firstRow.querySelectorAll('td')].map((td) => td.querySelector<HTMLElement>('.cell-label'));
    expect(labels.map((l) => l?.textContent)).to.deep.equal(['Date', 'Size', 'Added', 'Encrypted', 'Where', 'Verified', 'Actions']);
    expect(labels.every((l) => l !== null && l.getBoundingClientRect().width > 0 && l.getAttribute('aria-hidden') === 'true')).to.equal(true);

    const toggle = byLabel(el, 'Restore commands for 20261126T020003Z-k3f9a1');
    toggle.focus();
    await sendKeys({ press: 'Enter' });
    await el.updateComplete;
    const detail = q<CivibackupSetDetail>(el, 'civibackup-set-detail')!;
    await detail.updateComplete;
    expect(toggle.getAttribute('aria-expanded')).to.equal('true');
    expect(horizontalOverflow(el)).to.deep.equal([]);
  });

  it('set list: fits at every width between a small phone and a desktop, either as cards or as a table', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => q(el, 'tbody') !== null, 'table rendered');
    try {
      for (let width = 320; width <= 1280; width += 40) {
        await setViewport({ width, height: 800 });
        expect(horizontalOverflow(el), `at ${width} px`).to.deep.equal([]);
      }
    } finally {
      await setViewport(PHONE);
    }
  });

  it('set list: the same accessibility tree at 390 px as at desktop width, and Tab goes row by row', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => q(el, 'tbody') !== null, 'table rendered');
    try {
      await setViewport({ width: 1280, height: 800 });
      expect(q(el, '.cell-label')!.getBoundingClientRect().width, 'no cell labels in the table layout').to.equal(0);
      const wide = await a11ySnapshot({});
      await setViewport(PHONE);
      expect(q(el, '.cell-label')!.getBoundingClientRect().width, 'cell labels in the stacked layout').to.be.greaterThan(0);
      const narrow = await a11ySnapshot({});
      expect(narrow).to.deep.equal(wide);
    } finally {
      await setViewport(PHONE);
    }

    const buttons = [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('tbody button')];
    buttons[0].focus();
    const visited = [buttons[0].getAttribute('aria-label')];
    for (let i = 1; i < buttons.length; i++) {
      await sendKeys({ press: 'Tab' });
      visited.push((el.shadowRoot!.activeElement as HTMLElement).getAttribute('aria-label'));
    }
    const [newest, middle, oldest] = sampleSets().map((set) => set.setId);
    expect(visited).to.deep.equal([
      `Verify checksums of ${newest}`, `Test restore ${newest}`, `Restore ${newest}\u2026`, `Restore commands for ${newest}`,
      `Verify checksums of ${middle}`, `Test restore ${middle}`, `Restore ${middle}\u2026`, `Restore commands for ${middle}`, `Delete ${middle}`,
      `Verify checksums of ${oldest}`, `Test restore ${oldest}`, `Restore ${oldest}\u2026`, `Restore commands for ${oldest}`, `Delete ${oldest}`,
    ]);
  });

  it('set list: the delete and secret-key dialogs fit', async () => {
    const fake = new FakeCrm().on('get', { records: sampleSets() });
    const el = await fixture<CivibackupSetList>(html`<civibackup-set-list can-administer .api=${new BackupApi(() => fake)}></civibackup-set-list>`);
    await until(() => q(el, 'tbody') !== null, 'table rendered');

    byLabel(el, 'Delete 20261118T020001Z-a7b7c7').click();
    await until(() => q<HTMLDialogElement>(el, 'dialog#delete-dialog')!.open, 'delete dialog open');
    expect(horizontalOverflow(el)).to.deep.equal([]);
    await sendKeys({ press: 'Escape' });
    await until(() => !q<HTMLDialogElement>(el, 'dialog#delete-dialog')!.open);

    byLabel(el, 'Test restore 20261126T020003Z-k3f9a1').click();
    await until(() => q<HTMLDialogElement>(el, 'dialog#key-dialog')!.open, 'key dialog open');
    expect(horizontalOverflow(el)).to.deep.equal([]);
    await sendKeys({ press: 'Escape' });
  });

  it('overview with a run in progress', async () => {
    const fake = new FakeCrm()
      .on('overview', { records: [sampleOverview({ runningRunId: 'run-1' })] })
      .on('status', { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] });
    const el = await fixture<CivibackupOverview>(
      html`<civibackup-overview can-administer .now=${NOW} .pollIntervalMs=${60000} .api=${new BackupApi(() => fake)}></civibackup-overview>`,
    );
    const progress = () => q<CivibackupRunProgress>(el, 'civibackup-run-progress');
    await until(() => progress()?.shadowRoot?.querySelector('[role="progressbar"][aria-valuenow]'), 'progress bar with a value');
    await until(() => q(el, '.cards') !== null, 'cards rendered');
    expect(horizontalOverflow(el)).to.deep.equal([]);
  });

  it('run progress ending in an error', async () => {
    const fake = new FakeCrm().on('status', { records: [{ runId: 'run-1', events: [...sampleRunEvents(), sampleRunError()], done: true, running: false }] });
    const el = await fixture<CivibackupRunProgress>(
      html`<civibackup-run-progress run-id="run-1" .pollIntervalMs=${0} .api=${new BackupApi(() => fake)}></civibackup-run-progress>`,
    );
    await until(() => q(el, '[role="alert"]') !== null, 'outcome shown');
    expect(horizontalOverflow(el)).to.deep.equal([]);
  });

  it('set detail of an encrypted set with a logging database and two directories', async () => {
    const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail .set=${sampleSets()[0]}></civibackup-set-detail>`);
    expect(horizontalOverflow(el)).to.deep.equal([]);
  });

  it('settings form with every section filled in', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] });
    const el = await fixture<CivibackupSettingsForm>(
      html`<civibackup-settings-form can-administer .now=${NOW} .api=${new BackupApi(() => fake)}></civibackup-settings-form>`,
    );
    await until(() => q(el, 'form') !== null, 'form rendered');
    for (const d of el.shadowRoot!.querySelectorAll('details')) d.open = true;
    await el.updateComplete;
    expect(horizontalOverflow(el)).to.deep.equal([]);
  });

  it('the page with its tabs, on each view', async () => {
    const fake = new FakeCrm()
      .on('get', { records: sampleSets() })
      .on('getConfig', { records: [sampleConfig()] })
      .on('overview', { records: [sampleOverview()] });
    try {
      for (const [hash, ready] of [
        ['#/overview', 'civibackup-overview'],
        ['#/sets', 'civibackup-set-list'],
        ['#/settings', 'civibackup-settings-form'],
      ] as const) {
        history.replaceState(null, '', hash);
        const el = await fixture(html`<civibackup-app .api=${new BackupApi(() => fake)} .boot=${BOOT} .now=${NOW}></civibackup-app>`);
        await until(() => {
          const view = el.shadowRoot!.querySelector(ready);
          return view?.shadowRoot?.querySelector('table, form, .cards');
        }, `${ready} rendered`);
        expect(horizontalOverflow(el), hash).to.deep.equal([]);
      }
    } finally {
      history.replaceState(null, '', location.pathname + location.search);
    }
  });
});
