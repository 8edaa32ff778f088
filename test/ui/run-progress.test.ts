import { fixture, html, expect } from '@open-wc/testing';
import { until as waitUntil } from './support/until.js';
import { sendKeys } from '@web/test-runner-commands';
import '../../ts-src/ui/run-progress/define.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupRunProgress } from '../../ts-src/ui/run-progress/civibackup-run-progress.js';
import { FakeCrm } from './support/fake-crm.js';
import { sampleRunEnd, sampleRunError, sampleRunEvents } from './support/sample-data.js';
import { parseEventLine, type HelperEvent } from '../../ts-src/protocol/events.js';

async function recorded(name: string): Promise<HelperEvent[]> {
  const text = await (await fetch(new URL(`./fixtures/${name}`, import.meta.url))).text();
  return text.split('\n').map(parseEventLine).filter((e): e is HelperEvent => e !== null);
}

function setup(fake: FakeCrm) {
  return fixture<CivibackupRunProgress>(
    html`<civibackup-run-progress run-id="run-1" .pollIntervalMs=${0} .api=${new BackupApi(() => fake)}></civibackup-run-progress>`,
  );
}
const q = (el: Element, s: string) => el.shadowRoot!.querySelector<HTMLElement>(s);
const text = (el: Element) => el.shadowRoot!.textContent!.replace(/\s+/g, ' ');
/** Listens on document before the element exists: the first poll may finish during fixture(). */
const nextFinished = () =>
  new Promise<CustomEvent>((resolve) => document.addEventListener('civibackup-run-finished', (e) => resolve(e as CustomEvent), { once: true }));

describe('civibackup-run-progress', () => {
  it('polls Backup.status with since=lastSeq, shows the progress bar and a live status, then the outcome', async () => {
    const fake = new FakeCrm().on(
      'status',
      { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] },
      { records: [{ runId: 'run-1', events: [], done: false, running: true }] },
      { records: [{ runId: 'run-1', events: sampleRunEnd(), done: true, running: false }] },
    );
    const finished = new Promise<CustomEvent>((resolve) => document.addEventListener('civibackup-run-finished', (e) => resolve(e as CustomEvent), { once: true }));
    const el = await setup(fake);
    await waitUntil(() => el.view.phase === 'data', 'first poll applied');
    await el.updateComplete;
    const bar = q(el, '[role="progressbar"]');
    // Either still in the data phase (50%) or already finished; the bar shows while running.
    if (bar) expect(bar.getAttribute('aria-valuenow')).to.equal('50');
    const detail = (await finished).detail;
    expect(detail).to.deep.include({ runId: 'run-1', outcome: 'done' });
    await el.updateComplete;
    expect(q(el, '[aria-live="polite"]')!.textContent).to.contain('Backup complete.');
    expect(text(el)).to.contain('700 MB');
    const sinces = fake.callsTo('status').map((c) => c.params['since']);
    expect(sinces.slice(0, 3)).to.deep.equal([0, 6, 6]);
    expect(q(el, 'button.danger')).to.equal(null);
  });

  it('renders a run recorded from the real helper, delivered over two polls', async () => {
    const events = await recorded('backup-run.ndjson');
    const half = Math.floor(events.length / 2);
    const fake = new FakeCrm().on(
      'status',
      { records: [{ runId: 'run-1', events: events.slice(0, half), done: false, running: true }] },
      { handle: (p) => [{ runId: 'run-1', events: events.filter((e) => e.seq > Number(p['since'])), done: true, running: false }] },
    );
    const finished = nextFinished();
    const el = await setup(fake);
    expect((await finished).detail.outcome).to.equal('done');
    await el.updateComplete;
    expect(fake.callsTo('status')[1].params['since']).to.equal(events[half - 1].seq);
    expect(q(el, '[aria-live="polite"]')!.textContent).to.contain('Backup complete.');
    const result = events.find((e) => e.type === 'result');
    expect(result?.type === 'result' && result.set).to.be.a('string');
    expect(text(el)).to.contain(`Set: ${result?.type === 'result' ? result.set : ''}`);
  });

  it('renders a recorded failing run (wrong database name) with the helper\'s message and hint', async () => {
    const events = await recorded('backup-failed.ndjson');
    const fake = new FakeCrm().on('status', { records: [{ runId: 'run-1', events, done: true, running: false }] });
    const finished = nextFinished();
    const el = await setup(fake);
    await finished;
    await el.updateComplete;
    const alert = q(el, '[role="alert"]')!.textContent!;
    expect(alert).to.contain('does not exist on that server');
    expect(alert).to.contain('DB_CONNECT');
    expect(alert).to.contain('Check host, port, user and password');
    expect(alert).to.contain('Trying again later may work.');
  });

  it('shows the row estimate as approximate, and drops it once the real count passes it', async () => {
    const events = sampleRunEvents().slice(0, 4); // up to civicrm_contact: 5000 of an estimated 20000
    const fake = new FakeCrm().on('status', { records: [{ runId: 'run-1', events, done: false, running: true }] });
    const el = await setup(fake);
    await waitUntil(() => el.view.item === 'civicrm_contact');
    await el.updateComplete;
    expect(text(el)).to.contain('5,000 / ~20,000');
    const past = [...events, { ...events[3]!, seq: 5, rows: 20_001 }];
    fake.on('status', { records: [{ runId: 'run-1', events: past, done: false, running: true }] });
    await waitUntil(() => el.view.rows === 20_001, 'the next poll applies');
    await el.updateComplete;
    expect(text(el)).to.contain('20,001');
    expect(text(el)).not.to.contain('/ ~20,000');
    el.remove();
  });

  it('shows rows, data, speed and time left while running', async () => {
    const fake = new FakeCrm().on('status', { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] });
    const el = await setup(fake);
    await waitUntil(() => el.view.phase === 'data');
    await el.updateComplete;
    expect(q(el, '[role="progressbar"]')!.getAttribute('aria-valuenow')).to.equal('50');
    expect(q(el, '[aria-live="polite"]')!.textContent).to.contain('Saving table data: civicrm_activity');
    const t = text(el);
    expect(t).to.contain('12,000');
    expect(t).to.contain('48 MB / 95 MB');
    expect(t).to.contain('9.5 MB/s');
    expect(t).to.contain('5 s');
    expect(t).to.contain('civicrm_cache: data skipped');
    el.remove();
  });

  it('cancels with the keyboard only (Tab to the button, Enter)', async () => {
    const fake = new FakeCrm()
      .on('status', { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] })
      .on('cancel', { records: [] });
    const el = await setup(fake);
    await waitUntil(() => el.view.phase === 'data');
    await el.updateComplete;
    const button = q(el, 'button.danger')!;
    button.focus();
    expect(el.shadowRoot!.activeElement).to.equal(button);
    await sendKeys({ press: 'Enter' });
    await waitUntil(() => fake.callsTo('cancel').length === 1, 'cancel called');
    expect(fake.callsTo('cancel')[0].params).to.deep.equal({ runId: 'run-1' });
    await el.updateComplete;
    expect(q(el, '[aria-live="polite"]')!.textContent).to.contain('Cancelling');
    el.remove();
  });

  it('a cancelled run reads as the administrator\'s own cancel: a warning, no "trying again later"', async () => {
    const cancelled: HelperEvent = {
      ...(sampleRunError() as Extract<HelperEvent, { type: 'error' }>),
      code: 'CANCELLED',
      message: 'Cancelled at your request.',
      hint: 'The run was cancelled; no complete set was written and earlier sets are untouched.',
      retryable: true,
    };
    const fake = new FakeCrm().on('status', { records: [{ runId: 'run-1', events: [...sampleRunEvents(), cancelled], done: true, running: false }] });
    const finished = nextFinished();
    const el = await setup(fake);
    expect((await finished).detail).to.deep.include({ outcome: 'cancelled' });
    await el.updateComplete;
    const alert = q(el, '[role="alert"]')!;
    expect(alert.classList.contains('warning')).to.equal(true);
    expect(alert.textContent).to.contain('Backup cancelled.');
    expect(alert.textContent).to.contain('Cancelled at your request.');
    expect(alert.textContent).to.contain('earlier sets are untouched');
    expect(alert.textContent).to.not.contain('Trying again later may work.');
    expect(alert.textContent).to.not.contain('without reporting a result');
    el.remove();
  });

  it('shows the error outcome with message, code and what to do, in an alert', async () => {
    const fake = new FakeCrm().on('status', {
      records: [{ runId: 'run-1', events: [...sampleRunEvents(), sampleRunError()], done: true, running: false }],
    });
    const finished = nextFinished();
    const el = await setup(fake);
    await finished;
    await el.updateComplete;
    const alert = q(el, '[role="alert"]')!;
    expect(alert.textContent).to.contain('Backup failed.');
    expect(alert.textContent).to.contain('No space left');
    expect(alert.textContent).to.contain('DISK_FULL');
    expect(alert.textContent).to.contain('What to do:');
    expect(alert.textContent).to.contain('free space or choose another destination');
  });

  it('reports a helper that died without a result', async () => {
    const fake = new FakeCrm().on('status', { records: [{ runId: 'run-1', events: sampleRunEvents(), done: true, running: false }] });
    const finished = nextFinished();
    const el = await setup(fake);
    const ev = await finished;
    expect(ev.detail.outcome).to.equal('error');
    await el.updateComplete;
    expect(q(el, '[role="alert"]')!.textContent).to.contain('ended without reporting a result');
  });

  it('keeps polling through a failed status call and says so', async () => {
    const fake = new FakeCrm().on(
      'status',
      { reject: { error_code: 500, error_message: 'Gateway timeout' } },
      { records: [{ runId: 'run-1', events: [...sampleRunEvents(), ...sampleRunEnd()], done: true, running: false }] },
    );
    const finished = nextFinished();
    const el = await setup(fake);
    await finished;
    expect(fake.callsTo('status').length).to.equal(2);
    expect(el.view.outcome?.kind).to.equal('done');
  });

  it('says the login has ended instead of "lost contact" when a poll is refused (HTTP 403), and goes on', async () => {
    let loggedIn = false;
    const fake = new FakeCrm().on('status', {
      handle: () =>
        loggedIn
          ? [{ runId: 'run-1', events: [...sampleRunEvents(), ...sampleRunEnd()], done: true, running: false }]
          : Promise.reject({ error_code: '1', status: 403, error_message: 'Sorry an error occurred and your request was not completed.' }),
    });
    const finished = nextFinished();
    const el = await setup(fake);
    await waitUntil(() => q(el, '[data-testid="logged-out"]') !== null, 'logged-out notice');
    expect(text(el)).to.contain('Your login has ended, so this page cannot follow the run.');
    expect(text(el)).to.not.contain('Lost contact');
    loggedIn = true;
    await finished;
    await el.updateComplete;
    expect(el.view.outcome?.kind).to.equal('done');
    expect(q(el, '[data-testid="logged-out"]')).to.equal(null);
  });

  it('shows a cancel failure next to the button', async () => {
    const fake = new FakeCrm()
      .on('status', { records: [{ runId: 'run-1', events: sampleRunEvents(), done: false, running: true }] })
      .on('cancel', { reject: { error_message: 'No such run' } });
    const el = await setup(fake);
    await waitUntil(() => el.view.phase === 'data');
    await el.updateComplete;
    q(el, 'button.danger')!.click();
    await waitUntil(() => q(el, '[role="alert"]') !== null, 'cancel error shown');
    expect(q(el, '[role="alert"]')!.textContent).to.contain('Could not cancel: No such run');
    expect((q(el, 'button.danger') as HTMLButtonElement).disabled).to.equal(false);
    el.remove();
  });
});
