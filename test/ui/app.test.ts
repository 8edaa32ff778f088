import { fixture, html, expect } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/app/define.js';
import type { CivibackupApp } from '../../ts-src/ui/app/civibackup-app.js';
import { viewFromHash } from '../../ts-src/ui/app/civibackup-app.js';
import { readBootData } from '../../ts-src/ui/boot.js';
import { ts } from '../../ts-src/ui/i18n.js';
import { installFakeCrm, removeFakeCrm, type FakeCrm } from './support/fake-crm.js';
import { NOW, sampleConfig, sampleOverview, sampleSets } from './support/sample-data.js';

const q = <T extends HTMLElement = HTMLElement>(el: Element, s: string) => el.shadowRoot!.querySelector<T>(s);
const focused = (el: Element) => el.shadowRoot!.activeElement as HTMLElement | null;

describe('civibackup-app', () => {
  let fake: FakeCrm;
  beforeEach(() => {
    history.replaceState(null, '', location.pathname + location.search);
    fake = installFakeCrm()
      .on('overview', { records: [sampleOverview()] })
      .on('get', { records: sampleSets() })
      .on('getConfig', { records: [sampleConfig()] });
  });
  afterEach(() => {
    removeFakeCrm();
    history.replaceState(null, '', location.pathname + location.search);
  });

  it('reads boot data from CRM.civibackup or CRM.vars.civibackup and uses the real window.CRM by default', async () => {
    fake.vars = { civibackup: { canAdminister: true, version: '1.2.3', pollIntervalMs: 250, helper: '/ext/civibackup/dist/civibackup.mjs' } };
    expect(readBootData()).to.deep.equal({ canAdminister: true, version: '1.2.3', pollIntervalMs: 250, helper: '/ext/civibackup/dist/civibackup.mjs' });
    fake.civibackup = { canAdminister: false, version: '9', pollIntervalMs: 'x' as unknown as number };
    expect(readBootData()).to.deep.equal({ canAdminister: false, version: '9', pollIntervalMs: 1000, helper: '' });
    removeFakeCrm();
    expect(readBootData()).to.deep.equal({ canAdminister: false, version: '', pollIntervalMs: 1000, helper: '' });
    fake = installFakeCrm().on('overview', { records: [sampleOverview()] });
    fake.civibackup = { canAdminister: true, version: '0.1.0', pollIntervalMs: 500 };
    const el = await fixture<CivibackupApp>(html`<civibackup-app .now=${NOW}></civibackup-app>`);
    await until(() => fake.callsTo('overview').length === 1, 'overview asked through window.CRM.api4');
    expect(fake.calls[0].entity).to.equal('Backup');
    expect(el.shadowRoot!.textContent).to.contain('CiviBackup 0.1.0');
  });

  it('switches tabs with the keyboard only (arrows, Home, End) and keeps the view in the hash', async () => {
    fake.civibackup = { canAdminister: true };
    const el = await fixture<CivibackupApp>(html`<civibackup-app .now=${NOW}></civibackup-app>`);
    const overviewTab = q(el, '#tab-overview')!;
    expect(overviewTab.getAttribute('aria-selected')).to.equal('true');
    expect(overviewTab.tabIndex).to.equal(0);
    expect(q(el, '#tab-sets')!.tabIndex).to.equal(-1);
    overviewTab.focus();
    await sendKeys({ press: 'ArrowRight' });
    await until(() => q(el, 'civibackup-set-list') !== null, 'sets panel');
    expect(focused(el)?.id).to.equal('tab-sets');
    expect(location.hash).to.equal('#/sets');
    await sendKeys({ press: 'End' });
    await until(() => q(el, 'civibackup-settings-form') !== null, 'settings panel');
    expect(q(el, '#tab-settings')!.getAttribute('aria-selected')).to.equal('true');
    expect(q(el, '[role="tabpanel"]')!.getAttribute('aria-labelledby')).to.equal('tab-settings');
    await sendKeys({ press: 'ArrowRight' });
    await until(() => focused(el)?.id === 'tab-overview', 'wraps around');
    await sendKeys({ press: 'Home' });
    expect(focused(el)?.id).to.equal('tab-overview');
    // Tab leaves the tab list into the panel's first control.
    await sendKeys({ press: 'Tab' });
    expect(focused(el)?.id).to.not.match(/^tab-/);
  });

  it('opens the view named in the hash, and follows hash changes', async () => {
    expect(viewFromHash('#/settings')).to.equal('settings');
    expect(viewFromHash('#sets')).to.equal('sets');
    expect(viewFromHash('#/nonsense')).to.equal('overview');
    history.replaceState(null, '', '#/sets');
    const el = await fixture<CivibackupApp>(html`<civibackup-app></civibackup-app>`);
    expect(q(el, 'civibackup-set-list')).to.not.equal(null);
    location.hash = '#/settings';
    await until(() => q(el, 'civibackup-settings-form') !== null);
  });

  it('translates through CRM.ts("civibackup") when CiviCRM provides it, and fills %1 placeholders', () => {
    expect(ts('Backup failed: %1', { 1: 'x' })).to.equal('Backup failed: x');
    const domains: string[] = [];
    (fake as unknown as { ts: unknown }).ts = (domain: string) => {
      domains.push(domain);
      return (text: string) => (text === 'Back up now' ? 'Jetzt sichern' : text);
    };
    expect(ts('Back up now')).to.equal('Jetzt sichern');
    expect(domains).to.deep.equal(['civibackup']);
  });
});
