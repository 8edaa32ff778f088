/**
 * The static page scripts/screenshots.mjs renders: the real components with the FAKE CRM
 * global (see fake-crm.ts) answering from sample-data.ts. `?state=NAME` picks the scripted
 * answers and the clicks to make; body[data-ready] tells the script when to take the picture.
 */
import '../../../ts-src/ui/index.js';
import type { CivibackupApp } from '../../../ts-src/ui/app/civibackup-app.js';
import { FakeCrm } from './fake-crm.js';
import {
  NOW,
  sampleConfig,
  sampleOverview,
  sampleRestoreEvents,
  sampleRunError,
  sampleRunEvents,
  sampleSafetySet,
  sampleSets,
  sampleWordPressSet,
} from './sample-data.js';

const state = new URLSearchParams(location.search).get('state') ?? 'overview';

/** Finds an element through nested shadow roots: deep(['civibackup-app', 'civibackup-overview', 'button.primary']). */
function deep(path: string[]): HTMLElement | null {
  let scope: ParentNode = document;
  let found: HTMLElement | null = null;
  for (const selector of path) {
    found = scope.querySelector<HTMLElement>(selector);
    if (!found) return null;
    scope = found.shadowRoot ?? found;
  }
  return found;
}

async function waitFor<T>(probe: () => T | null | undefined | false): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`screenshot harness: timed out in state ${state}`);
}

async function main(): Promise<void> {
  const fake = new FakeCrm();
  fake.civibackup = { canAdminister: true, version: '0.1.0', pollIntervalMs: 3_600_000 };
  (window as unknown as { CRM: FakeCrm }).CRM = fake;
  fake.on('get', { records: sampleSets() }).on('getConfig', { records: [sampleConfig()] }).on('overview', { records: [sampleOverview()] });

  const hash: Record<string, string> = {
    'set-list': '#/sets',
    'settings-errors': '#/settings',
    'key-generated': '#/settings',
    'restore-dialog': '#/sets',
    'restore-progress': '#/sets',
    'restore-done': '#/sets',
  };
  history.replaceState(null, '', hash[state] ?? '#/overview');

  if (state === 'run-in-progress' || state === 'run-failed') {
    fake.on('overview', { records: [sampleOverview({ runningRunId: 'run-1', warnings: [] })] });
    const events = state === 'run-failed' ? [...sampleRunEvents(), sampleRunError()] : sampleRunEvents();
    fake.on('status', { records: [{ runId: 'run-1', events, done: state === 'run-failed', running: state !== 'run-failed' }] });
  }
  if (state === 'key-generated') fake.on('getConfig', { records: [sampleConfig({ recipients: [] })] });
  // A WordPress site (CiviCRM shares the database with WordPress): its sets, and after the
  // restore the safety backup it wrote.
  const wordpress = [
    sampleWordPressSet(),
    sampleWordPressSet({ setId: '20261125T020002Z-wp0000', location: '/var/backups/civicrm/20261125T020002Z-wp0000', createdAt: '2026-11-25T02:00:02Z', finishedAt: '2026-11-25T02:03:01Z', bytes: 409_000_000 }),
  ];
  if (state.startsWith('restore-')) {
    fake.on('get', { records: state === 'restore-done' ? [sampleSafetySet(), ...wordpress] : wordpress });
    fake.on('restore', { handle: (p) => [{ runId: p['runId'] }] });
    fake.on('Contact.get', { records: [{ id: 1 }] });
    const done = state === 'restore-done';
    fake.on('status', {
      handle: (p) => [{ runId: p['runId'], events: sampleRestoreEvents(String(p['runId']), wordpress[0].setId, done ? 99 : 7, done ? 'result' : 'none'), done, running: !done, safetySetId: sampleSafetySet().setId }],
    });
  }

  const app = document.createElement('civibackup-app') as CivibackupApp;
  app.now = NOW;
  document.querySelector('#crm-container')!.appendChild(app);

  switch (state) {
    case 'overview':
      await waitFor(() => deep(['civibackup-app', 'civibackup-overview', '.cards']));
      break;
    case 'run-in-progress':
      await waitFor(() => deep(['civibackup-app', 'civibackup-overview', 'civibackup-run-progress', '[role="progressbar"][aria-valuenow]']));
      break;
    case 'run-failed':
      await waitFor(() => deep(['civibackup-app', 'civibackup-overview', 'civibackup-run-progress', '[role="alert"]']));
      break;
    case 'set-list': {
      const toggle = await waitFor(() => deep(['civibackup-app', 'civibackup-set-list', 'button[aria-expanded]']));
      toggle.click();
      await waitFor(() => deep(['civibackup-app', 'civibackup-set-list', 'civibackup-set-detail', 'pre']));
      break;
    }
    case 'restore-dialog':
    case 'restore-progress':
    case 'restore-done': {
      const setId = sampleWordPressSet().setId;
      const opener = await waitFor(() => deep(['civibackup-app', 'civibackup-set-list', `button[aria-label="Restore ${setId}\u2026"]`]));
      opener.click();
      const inDialog = (selector: string) => deep(['civibackup-app', 'civibackup-set-list', 'civibackup-restore-dialog', selector]);
      const custom = (await waitFor(() => inDialog('#restore-dir-custom'))) as HTMLInputElement;
      await waitFor(() => inDialog('[data-line="directory-custom"]') ?? (custom.click(), null));
      const confirm = inDialog('#restore-confirm') as HTMLInputElement;
      confirm.value = setId;
      confirm.dispatchEvent(new Event('input'));
      if (state === 'restore-dialog') {
        await waitFor(() => !(inDialog('[data-testid="start"]') as HTMLButtonElement).disabled);
        break;
      }
      const start = (await waitFor(() => inDialog('[data-testid="start"]:not([disabled])'))) as HTMLButtonElement;
      start.click();
      if (state === 'restore-progress') {
        await waitFor(() => deep(['civibackup-app', 'civibackup-set-list', 'civibackup-restore-dialog', 'civibackup-run-progress', '[role="progressbar"][aria-valuenow]']));
      } else {
        await waitFor(() => inDialog('[data-testid="site-status"]')?.textContent?.includes('The site is back') && Array.from(deep(['civibackup-app', 'civibackup-set-list', 'civibackup-restore-dialog'])!.shadowRoot!.querySelectorAll('button')).some((b) => b.textContent!.includes('Undo')));
      }
      break;
    }
    case 'settings-errors': {
      const form = await waitFor(() => deep(['civibackup-app', 'civibackup-settings-form']) as (HTMLElement & { draft: ReturnType<typeof sampleConfig> | null }) | null);
      await waitFor(() => form.draft);
      form.draft = {
        ...form.draft!,
        destination: 'backups',
        recipients: ['age1thisisnotakey'],
        alertEmails: ['admin@example'],
        retention: { ...form.draft!.retention, keepDaily: -1 },
      };
      const recipients = await waitFor(() => deep(['civibackup-app', 'civibackup-settings-form', '#recipients']) as HTMLTextAreaElement | null);
      recipients.value = 'age1thisisnotakey';
      recipients.dispatchEvent(new Event('input'));
      const emails = deep(['civibackup-app', 'civibackup-settings-form', '#alertEmails']) as HTMLTextAreaElement;
      emails.value = 'admin@example';
      emails.dispatchEvent(new Event('input'));
      (deep(['civibackup-app', 'civibackup-settings-form', 'button[type="submit"]']) as HTMLButtonElement).click();
      await waitFor(() => deep(['civibackup-app', 'civibackup-settings-form', '[data-testid="error-summary"]']));
      break;
    }
    case 'key-generated': {
      const button = await waitFor(() => deep(['civibackup-app', 'civibackup-settings-form', '#generateKey']));
      button.click();
      const panel = await waitFor(() => deep(['civibackup-app', 'civibackup-settings-form', '[data-testid="key-panel"]']));
      // The picture shows the page top (tabs) down to the end of the Encryption section.
      const section = panel.closest('fieldset')!.getBoundingClientRect();
      document.body.dataset['clip'] = JSON.stringify({ x: 0, y: 0, width: document.documentElement.clientWidth, height: Math.ceil(section.bottom + window.scrollY + 16) });
      break;
    }
  }
  await new Promise((r) => requestAnimationFrame(() => r(null)));
  document.body.dataset['ready'] = 'true';
}

main().catch((error: unknown) => {
  document.body.dataset['ready'] = 'error';
  document.body.dataset['error'] = String(error);
});
