import { fixture, html, expect } from '@open-wc/testing';
import { until as waitUntil } from './support/until.js';
import { sendKeys } from '@web/test-runner-commands';
import '../../ts-src/ui/overview/define.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupOverview } from '../../ts-src/ui/overview/civibackup-overview.js';
import { FakeCrm, deferred } from './support/fake-crm.js';
import { NOW, backupNowFake, sampleOverview, sampleRunEvents } from './support/sample-data.js';

const text = (el: Element) => el.shadowRoot!.textContent!.replace(/\s+/g, ' ');
const q = <T extends HTMLElement = HTMLElement>(el: Element, s: string) => el.shadowRoot!.querySelector<T>(s);

async function setup(fake: FakeCrm, canAdminister = true) {
  const el = await fixture<CivibackupOverview>(
    html`<civibackup-overview .api=${new BackupApi(() => fake)} .now=${NOW} .pollIntervalMs=${0} ?can-administer=${canAdminister}></civibackup-overview>`,
  );
  return el;
}
const primary = (el: Element) => q<HTMLButtonElement>(el, 'button.primary')!;

describe('civibackup-overview', () => {
  it('shows the last backup, the last proven restore, the next run, storage and warnings', async () => {
    const fake = new FakeCrm().on('overview', { records: [sampleOverview()] });
    const el = await setup(fake);
    await waitUntil(() => text(el).includes('Last complete backup'));
    const t = text(el);
    expect(t).to.contain('5 hours ago'); // finished 02:04:41, now 07:00
    expect(t).to.contain('700 MB in 212 parts');
    expect(t).to.contain('encrypted');
    expect(t).to.contain('Restore tested Set 20261125T020002Z-9xq2mm');
    expect(t).to.contain('Test restore took 5 min 12 s');
    expect(t).to.contain('Frequency: Daily');
    expect(t).to.contain('No offsite copy');
    expect(t).to.contain('s3-main: s3://example-backups/civicrm');
    expect(t).to.contain('2.0 GB');
    expect(el.shadowRoot!.querySelectorAll('button.primary').length).to.equal(1);
    expect(primary(el).textContent!.trim()).to.equal('Back up now');
  });

  it('says so when nothing exists yet and the schedule is off', async () => {
    const fake = new FakeCrm().on('overview', {
      records: [sampleOverview({ lastBackup: null, lastRestorable: null, jobActive: false, nextScheduledRun: null, warnings: [], storage: [] })],
    });
    const el = await setup(fake);
    await waitUntil(() => text(el).includes('None yet'));
    expect(text(el)).to.contain('Never');
    expect(text(el)).to.contain('Not scheduled');
  });

  describe('when the backup sets could not be listed (setList unknown)', () => {
    const nodeMissing = () =>
      sampleOverview({
        lastBackup: null,
        lastRestorable: null,
        nodeVersion: null,
        storage: [{ destination: '/var/www/private/civibackup/sets', bytes: null, sets: null }],
        warnings: [
          {
            name: 'civibackupNode',
            level: 'error',
            title: 'CiviBackup cannot run',
            message: 'No node binary was found on the PATH (/usr/bin:/bin). Install Node.js 20 or newer, or set the path of its node binary in the Backups settings.',
          },
        ],
        setList: {
          state: 'unknown',
          code: 'NODE_VERSION',
          reason: 'No node binary was found on the PATH (/usr/bin:/bin).',
          hint: 'Install Node.js 20 or newer, or set the path of its node binary in the Backups settings.',
        },
      });
    const card = (el: Element, heading: string) => q(el, heading)!.closest('section')!.textContent!.replace(/\s+/g, ' ');

    it('says once, above the cards, why the sets are unknown and what to do; the last backup card says "Unknown", not "None yet"', async () => {
      const overview = nodeMissing();
      overview.warnings = []; // PHP leaves the Node.js status check out when setList says it
      const el = await setup(new FakeCrm().on('overview', { records: [overview] }));
      await waitUntil(() => text(el).includes('Last complete backup'));
      const notice = q(el, '[data-testid="sets-unknown"]')!.textContent!.replace(/\s+/g, ' ');
      expect(notice).to.contain('The backup sets could not be listed');
      expect(notice).to.contain('No node binary was found on the PATH (/usr/bin:/bin).');
      expect(notice).to.contain('What to do: Install Node.js 20 or newer, or set the path of its node binary in the Backups settings.');
      expect(text(el).split('No node binary was found').length - 1, 'the Node.js message appears once').to.equal(1);
      const last = card(el, '#last-h');
      expect(last).to.contain('Unknown');
      expect(last).to.not.contain('None yet');
      expect(text(el)).to.not.contain('No complete backup exists');
    });

    it('the proven-restore card and the storage figures say unknown too, not "Never" and 0', async () => {
      const el = await setup(new FakeCrm().on('overview', { records: [nodeMissing()] }));
      await waitUntil(() => text(el).includes('Last proven restore'));
      const proven = card(el, '#proven-h');
      expect(proven).to.contain('Unknown');
      expect(proven).to.not.contain('Never');
      expect(text(el)).to.not.contain('No backup has been test-restored yet');
      const cells = [...el.shadowRoot!.querySelectorAll('tbody td')].map((td) => td.textContent!.trim());
      expect(cells).to.deep.equal(['/var/www/private/civibackup/sets', 'Unknown', 'Unknown']);
      expect(text(el)).to.not.match(/\b0 B\b/);
    });

    it('a listing failure without a hint gets the hint of its error code', async () => {
      const overview = nodeMissing();
      overview.warnings = [];
      overview.nodeVersion = 'v20.19.0';
      overview.setList = { state: 'unknown', code: 'IO', reason: 'Cannot read /var/www/private/civibackup/sets: permission denied.', hint: '' };
      const el = await setup(new FakeCrm().on('overview', { records: [overview] }));
      await waitUntil(() => text(el).includes('Last complete backup'));
      const notice = q(el, '[data-testid="sets-unknown"]')!.textContent!;
      expect(notice).to.contain('Cannot read /var/www/private/civibackup/sets: permission denied.');
      expect(notice).to.contain('What to do: A file could not be read or written; check the path and its permissions.');
    });

    it('an explicit "known" with no sets still says "None yet"', async () => {
      const el = await setup(
        new FakeCrm().on('overview', { records: [sampleOverview({ lastBackup: null, lastRestorable: null, setList: { state: 'known' } })] }),
      );
      await waitUntil(() => text(el).includes('None yet'));
      expect(text(el)).to.contain('No complete backup exists');
      expect(text(el)).to.not.contain('Unknown');
    });
  });

  it('an active job that has not run yet (no date) runs "At the next cron run", not "job is off"', async () => {
    const fake = new FakeCrm().on('overview', { records: [sampleOverview({ jobActive: true, nextScheduledRun: null, jobFrequency: 'Daily' })] });
    const el = await setup(fake);
    await waitUntil(() => text(el).includes('Next scheduled run'));
    const card = q(el, '#next-h')!.closest('section')!;
    const t = card.textContent!.replace(/\s+/g, ' ');
    expect(t).to.contain('At the next cron run');
    expect(t).to.contain('Frequency: Daily');
    expect(t).to.not.contain('Not scheduled');
    expect(t).to.not.contain('job is off');
  });

  it('"Back up now" (keyboard: focus, Space) starts Backup.run {async:true} and follows the run until done, then reloads', async () => {
    const fake = backupNowFake();
    const el = await setup(fake);
    await waitUntil(() => !primary(el).disabled && text(el).includes('Last complete backup'));
    primary(el).focus();
    await sendKeys({ press: 'Space' });
    await waitUntil(() => fake.callsTo('run').length === 1, 'run called');
    expect(fake.callsTo('run')[0].params).to.deep.equal({ async: true });
    await waitUntil(() => q(el, 'civibackup-run-progress') !== null, 'progress shown');
    const progress = q(el, 'civibackup-run-progress')!;
    await waitUntil(() => progress.shadowRoot?.textContent?.includes('Backup complete.'), 'run finished');
    await waitUntil(() => fake.callsTo('overview').length === 2, 'overview reloaded after the run');
    expect(fake.callsTo('status')[0].params).to.deep.equal({ runId: 'run-1', since: 0 });
    await el.updateComplete;
    expect(primary(el).disabled).to.equal(false);
  });

  it('resumes following a run that was already running when the page opened', async () => {
    const fake = new FakeCrm()
      .on('overview', { records: [sampleOverview({ runningRunId: 'run-7' })] })
      .on('status', { records: [{ runId: 'run-7', events: sampleRunEvents('run-7'), done: false, running: true }] });
    const el = await setup(fake);
    await waitUntil(() => fake.callsTo('status').length > 0);
    expect(fake.callsTo('status')[0].params['runId']).to.equal('run-7');
    await el.updateComplete;
    expect(primary(el).disabled).to.equal(true);
    el.remove();
  });

  it('shows the API error when the overview cannot load, and retries', async () => {
    const fake = new FakeCrm().on('overview', { reject: { error_code: 403, error_message: 'Permission denied' } }, { records: [sampleOverview()] });
    const el = await setup(fake);
    await waitUntil(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('Permission denied');
    q<HTMLButtonElement>(el, '[role="alert"] button')!.click();
    await waitUntil(() => text(el).includes('Last complete backup'));
  });

  it('shows why a backup could not start', async () => {
    const fake = new FakeCrm()
      .on('overview', { records: [sampleOverview()] })
      .on('run', { reject: { error_message: 'Another CiviBackup run is using this destination.' } });
    const el = await setup(fake);
    await waitUntil(() => text(el).includes('Last complete backup'));
    primary(el).click();
    await waitUntil(() => q(el, '[data-testid="start-error"]') !== null);
    expect(q(el, '[data-testid="start-error"]')!.textContent).to.contain('Another CiviBackup run');
    expect(q(el, 'civibackup-run-progress')).to.equal(null);
  });

  it('disables the button while starting, and without the permission', async () => {
    const pending = deferred<unknown[]>();
    const fake = new FakeCrm().on('overview', { records: [sampleOverview()] }).on('run', { pending: pending.promise });
    const el = await setup(fake);
    await waitUntil(() => text(el).includes('Last complete backup'));
    primary(el).click();
    await el.updateComplete;
    expect(primary(el).disabled).to.equal(true);
    expect(primary(el).textContent).to.contain('Starting');
    pending.reject({ error_message: 'stop' });
    const readOnly = await setup(new FakeCrm().on('overview', { records: [sampleOverview()] }), false);
    expect(primary(readOnly).disabled).to.equal(true);
    expect(text(readOnly)).to.contain('administer backups');
  });
});
