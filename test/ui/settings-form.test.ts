import { fixture, html, expect } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import { identityToRecipient } from 'age-encryption';
import { until } from './support/until.js';
import '../../ts-src/ui/settings-form/define.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { CivibackupSettingsForm } from '../../ts-src/ui/settings-form/civibackup-settings-form.js';
import { FakeCrm } from './support/fake-crm.js';
import { NOW, SAMPLE_RECIPIENT, sampleConfig } from './support/sample-data.js';

const q = <T extends HTMLElement = HTMLElement>(el: Element, s: string) => el.shadowRoot!.querySelector<T>(s);
const text = (el: Element) => el.shadowRoot!.textContent!.replace(/\s+/g, ' ');
const focused = (el: Element) => el.shadowRoot!.activeElement as HTMLElement | null;

async function setup(fake: FakeCrm) {
  const el = await fixture<CivibackupSettingsForm>(
    html`<civibackup-settings-form can-administer .now=${NOW} .api=${new BackupApi(() => fake)}></civibackup-settings-form>`,
  );
  await until(() => q(el, 'form') !== null, 'form rendered');
  return el;
}

/** Replaces a field's content by keyboard: focus, select all, type. */
async function typeInto(el: Element, id: string, value: string): Promise<void> {
  const input = q<HTMLInputElement>(el, `#${CSS.escape(id)}`)!;
  input.focus();
  input.select();
  await sendKeys({ press: 'Backspace' });
  if (value) await sendKeys({ type: value });
  await (el as CivibackupSettingsForm).updateComplete;
}

function submit(el: Element): void {
  q<HTMLButtonElement>(el, 'button[type="submit"]')!.click();
}

/** Captures the Blob a download link points at. */
function captureDownloads(): { blobs: Blob[]; names: string[]; restore: () => void } {
  const blobs: Blob[] = [];
  const names: string[] = [];
  const create = URL.createObjectURL;
  const click = HTMLAnchorElement.prototype.click;
  URL.createObjectURL = (obj: Blob | MediaSource) => {
    blobs.push(obj as Blob);
    return create.call(URL, obj);
  };
  HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
    names.push(this.download);
  };
  return {
    blobs,
    names,
    restore: () => {
      URL.createObjectURL = create;
      HTMLAnchorElement.prototype.click = click;
    },
  };
}

describe('civibackup-settings-form', () => {
  it('shows each directory with the path CiviCRM resolves, and disables unconfigured ones', async () => {
    const el = await setup(new FakeCrm().on('getConfig', { records: [sampleConfig()] }));
    const custom = q<HTMLInputElement>(el, '#dir-custom')!;
    expect(custom.checked).to.equal(true);
    expect(q(el, '#dir-custom-path')!.textContent).to.contain('/var/www/site/private/civicrm/custom');
    expect(custom.getAttribute('aria-describedby')).to.equal('dir-custom-path');
    expect(q<HTMLInputElement>(el, '#dir-templates')!.disabled).to.equal(true);
    expect(q(el, '#dir-templates-path')!.textContent).to.contain('not configured');
    expect(q<HTMLInputElement>(el, '#destination')!.value).to.equal('/var/backups/civicrm');
  });

  it('puts each validation message next to its field (aria-invalid, aria-describedby), focuses the first, and does not save', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] }).on('saveConfig', { records: [sampleConfig()] });
    const el = await setup(fake);
    await typeInto(el, 'destination', 'backups');
    await typeInto(el, 'keepDaily', '-3');
    await typeInto(el, 'recipients', 'age1notavalidkey');
    await typeInto(el, 'alertEmails', 'admin@example.org, not-an-address');
    submit(el);
    await until(() => q(el, '[data-testid="error-summary"]') !== null);
    expect(q(el, '[data-testid="error-summary"]')!.textContent).to.contain('4 fields need attention');
    for (const [id, message] of [
      ['destination', 'absolute path'],
      ['keepDaily', 'whole number'],
      ['recipients', 'age1notavalidkey'],
      ['alertEmails', 'not-an-address'],
    ]) {
      const input = q(el, `#${id}`)!;
      expect(input.getAttribute('aria-invalid'), id).to.equal('true');
      expect(input.getAttribute('aria-describedby'), id).to.contain(`${id}-error`);
      expect(q(el, `#${id}-error`)!.textContent, id).to.contain(message);
    }
    expect(focused(el)?.id).to.equal('destination');
    expect(fake.callsTo('saveConfig').length).to.equal(0);

    // Fixing a field clears its message at once.
    await typeInto(el, 'destination', '/srv/backups');
    expect(q(el, '#destination')!.getAttribute('aria-invalid')).to.equal('false');
    expect(q(el, '#destination-error')).to.equal(null);
  });

  it('rejects an age recipient whose checksum is wrong', async () => {
    const el = await setup(new FakeCrm().on('getConfig', { records: [sampleConfig()] }));
    const typo = SAMPLE_RECIPIENT.slice(0, -1) + (SAMPLE_RECIPIENT.endsWith('u') ? 'v' : 'u');
    await typeInto(el, 'recipients', typo);
    submit(el);
    await until(() => q(el, '#recipients-error') !== null);
    expect(q(el, '#recipients-error')!.textContent).to.contain(typo);
  });

  it('generates an X25519 key pair in the browser that age itself accepts, and offers the secret once; it is never sent', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig({ recipients: [] })] }).on('saveConfig', {
      handle: (params) => [params['config']],
    });
    const el = await setup(fake);
    q<HTMLButtonElement>(el, '#generateKey')!.click();
    await until(() => q(el, '[data-testid="key-panel"]') !== null, 'key panel shown');
    const recipient = q(el, '[data-testid="key-panel"] code')!.textContent!.trim();
    expect(recipient).to.match(/^age1[0-9a-z]{58}$/);
    expect(q<HTMLTextAreaElement>(el, '#recipients')!.value).to.equal(recipient);

    // Saving before the download is refused: the key would be lost.
    submit(el);
    await until(() => q(el, '#generateKey-error') !== null);
    expect(fake.callsTo('saveConfig').length).to.equal(0);

    const downloads = captureDownloads();
    try {
      [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('[data-testid="key-panel"] button')].find((b) => b.textContent!.includes('Download'))!.click();
    } finally {
      downloads.restore();
    }
    expect(downloads.names).to.deep.equal(['civibackup-key-2026-11-26.txt']);
    const file = await downloads.blobs[0].text();
    const identity = file.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    expect(identity).to.match(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(file).to.contain(`# public key: ${recipient}`);
    // The reference implementation (typage) derives the same public key from the secret.
    expect(await identityToRecipient(identity)).to.equal(recipient);
    await el.updateComplete;
    expect(text(el)).to.contain('Secret key downloaded');
    expect(el.shadowRoot!.querySelector('[data-testid="key-panel"] button')).to.equal(null);

    submit(el);
    await until(() => fake.callsTo('saveConfig').length === 1, 'saved');
    const sent = JSON.stringify(fake.calls);
    expect(sent).to.not.contain('AGE-SECRET-KEY');
    expect(sent.toUpperCase()).to.not.contain(identity.slice(16));
    expect((fake.callsTo('saveConfig')[0].params['config'] as { recipients: string[] }).recipients).to.deep.equal([recipient]);
    await until(() => text(el).includes('Settings saved.'));
  });

  it('keeps offsite secrets write-only: "stored" placeholder, sent only when typed', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] }).on('saveConfig', { records: [sampleConfig()] });
    const el = await setup(fake);
    const secret = q<HTMLInputElement>(el, '#offsite-0-secret')!;
    expect(secret.type).to.equal('password');
    expect(secret.value).to.equal('');
    expect(secret.placeholder).to.contain('stored');
    submit(el);
    await until(() => fake.callsTo('saveConfig').length === 1);
    const first = fake.callsTo('saveConfig')[0].params['config'] as { offsite: Array<Record<string, unknown>> };
    expect(first.offsite[0]).to.not.have.property('secret');
    await until(() => text(el).includes('Settings saved.'));

    await typeInto(el, 'offsite-0-secret', 'NEWSECRET123');
    submit(el);
    await until(() => fake.callsTo('saveConfig').length === 2);
    const second = fake.callsTo('saveConfig')[1].params['config'] as { offsite: Array<Record<string, unknown>> };
    expect(second.offsite[0]['secret']).to.equal('NEWSECRET123');
    // After saving, the typed secret is gone from the form.
    await until(() => q<HTMLInputElement>(el, '#offsite-0-secret')!.value === '');
  });

  it('tests an offsite connection and shows success or the failure', async () => {
    const fake = new FakeCrm()
      .on('getConfig', { records: [sampleConfig()] })
      .on('testDestination', { records: [{ ok: true, message: 'wrote and removed a probe object' }] }, { records: [{ ok: false, message: 'AccessDenied' }] }, { reject: { error_message: 'Timeout' } });
    const el = await setup(fake);
    const button = () => [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('.dest button')].find((b) => b.textContent!.includes('Test'))!;
    button().click();
    await until(() => text(el).includes('Connection works: wrote and removed a probe object'));
    expect((fake.callsTo('testDestination')[0].params['destination'] as { name: string }).name).to.equal('s3-main');
    button().click();
    await until(() => text(el).includes('Connection failed: AccessDenied'));
    button().click();
    await until(() => text(el).includes('Could not test: Timeout'));
  });

  it('S3 "Path-style addressing" is a checkbox carried as options.forcePathStyle ("1"/"0") to testDestination and saveConfig', async () => {
    const fake = new FakeCrm()
      .on('getConfig', { records: [sampleConfig()] })
      .on('saveConfig', { records: [sampleConfig()] })
      .on('testDestination', { records: [{ ok: true, message: 'probe removed' }] }, { records: [{ ok: true, message: 'probe removed' }] });
    const el = await setup(fake);
    const box = () => q<HTMLInputElement>(el, '#offsite-0-forcePathStyle')!;
    expect(box().type).to.equal('checkbox');
    expect(box().checked).to.equal(false);
    expect(q(el, 'label[for="offsite-0-forcePathStyle"]')!.textContent).to.equal('Path-style addressing');
    expect(box().getAttribute('aria-describedby')).to.equal('offsite-0-forcePathStyle-help');
    expect(q(el, '#offsite-0-forcePathStyle-help')!.textContent).to.contain('MinIO');
    box().focus();
    await sendKeys({ press: 'Space' });
    await el.updateComplete;
    expect(box().checked).to.equal(true);
    const testButton = () => [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('.dest button')].find((b) => b.textContent!.includes('Test'))!;
    const testedOption = (n: number) => (fake.callsTo('testDestination')[n].params['destination'] as { options: Record<string, string> }).options['forcePathStyle'];
    testButton().click();
    await until(() => fake.callsTo('testDestination').length === 1);
    expect(testedOption(0)).to.equal('1');
    box().click();
    await el.updateComplete;
    await until(() => !testButton().disabled);
    testButton().click();
    await until(() => fake.callsTo('testDestination').length === 2);
    expect(testedOption(1)).to.equal('0');
    box().click();
    await el.updateComplete;
    submit(el);
    await until(() => fake.callsTo('saveConfig').length === 1);
    const saved = fake.callsTo('saveConfig')[0].params['config'] as { offsite: Array<{ options: Record<string, string> }> };
    expect(saved.offsite[0].options['forcePathStyle']).to.equal('1');
  });

  it('shows a stored forcePathStyle "1" as a ticked box; an SFTP destination has no such box', async () => {
    const config = sampleConfig();
    config.offsite[0].options['forcePathStyle'] = '1';
    config.offsite.push({ name: 'box', type: 'sftp', options: { host: 'backup.example.org', username: 'civi', path: '/srv/sets' }, hasSecret: true });
    const el = await setup(new FakeCrm().on('getConfig', { records: [config] }));
    expect(q<HTMLInputElement>(el, '#offsite-0-forcePathStyle')!.checked).to.equal(true);
    expect(q(el, '#offsite-1-host')).to.not.equal(null);
    expect(q(el, '#offsite-1-forcePathStyle')).to.equal(null);
  });

  it('requires the fields of a new offsite destination, including its secret', async () => {
    const el = await setup(new FakeCrm().on('getConfig', { records: [sampleConfig({ offsite: [] })] }));
    [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('button')].find((b) => b.textContent!.includes('Add an offsite'))!.click();
    await el.updateComplete;
    const type = q<HTMLSelectElement>(el, '#offsite-0-type')!;
    type.value = 'sftp';
    type.dispatchEvent(new Event('change'));
    await el.updateComplete;
    submit(el);
    await until(() => q(el, '#offsite-0-host-error') !== null);
    expect(q(el, '#offsite-0-secret')!.tagName).to.equal('TEXTAREA');
    expect(q(el, '#offsite-0-secret-error')!.textContent).to.contain('private key');
    expect(q(el, '#offsite-0-username-error')).to.not.equal(null);
  });

  it('updates the retention preview while typing', async () => {
    const el = await setup(new FakeCrm().on('getConfig', { records: [sampleConfig({ retention: { keepDaily: 7 } })] }));
    const preview = () => q(el, '[data-testid="retention-preview"]')!.textContent!;
    expect(preview()).to.contain('keeps 7 sets');
    await typeInto(el, 'keepMonthly', '12');
    expect(preview()).to.match(/keeps 1[78] sets/);
    expect(preview()).to.match(/reaching back 3[3-6]\d days/);
    for (const id of ['keepDaily', 'keepMonthly']) await typeInto(el, id, '');
    expect(preview()).to.contain('every backup set is kept');
  });

  it('saves the schedule and shows a server error when saving fails', async () => {
    const fake = new FakeCrm()
      .on('getConfig', { records: [sampleConfig()] })
      .on('saveConfig', { reject: { error_code: 'CONFIG', error_message: 'The destination directory is not writable by the web server.' } });
    const el = await setup(fake);
    const frequency = q<HTMLSelectElement>(el, '#frequency')!;
    frequency.value = 'Weekly';
    frequency.dispatchEvent(new Event('change'));
    q<HTMLInputElement>(el, '#scheduleActive')!.click();
    await el.updateComplete;
    submit(el);
    await until(() => q(el, '.save-bar + [role="alert"]') !== null);
    expect(q(el, '.save-bar + [role="alert"]')!.textContent).to.contain('not writable');
    const config = fake.callsTo('saveConfig')[0].params['config'] as { schedule: unknown };
    expect(config.schedule).to.deep.equal({ frequency: 'Weekly', active: false });
  });

  it('puts the server\'s CONFIG field errors next to their fields', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] }).on('saveConfig', {
      reject: { error_code: 'CONFIG', error_message: 'Not saved. nodePath: No executable file at /opt/node. Leave empty to use node from the PATH.; offsite.0.options.bucket: Required.' },
    });
    const el = await setup(fake);
    submit(el);
    await until(() => q(el, '#nodePath-error') !== null, 'server message next to the field');
    expect(q(el, '#nodePath-error')!.textContent).to.contain('No executable file at /opt/node.');
    expect(q(el, '#offsite-0-bucket')!.getAttribute('aria-invalid')).to.equal('true');
    expect(q(el, '#offsite-0-bucket-error')!.textContent).to.contain('Required.');
    expect(focused(el)?.id).to.equal('offsite-0-bucket');
    expect(q(el, '.save-bar + [role="alert"]')!.textContent).to.contain('Not saved.');
  });

  it('offers a source name in the Retention section, explains when to set it, and saves it trimmed', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] }).on('saveConfig', { records: [sampleConfig({ sourceId: 'example-prod' })] });
    const el = await setup(fake);
    const input = q<HTMLInputElement>(el, '#sourceId')!;
    expect(input.value).to.equal('');
    expect(input.closest('fieldset')!.querySelector('legend')!.textContent).to.equal('Retention');
    expect(q(el, `label[for="sourceId"]`)!.textContent).to.contain('Source name');
    expect(input.getAttribute('aria-describedby')).to.equal('sourceId-help');
    const help = q(el, '#sourceId-help')!.textContent!.replace(/\s+/g, ' ');
    expect(help).to.contain('same destination');
    expect(help).to.contain('host name');
    await typeInto(el, 'sourceId', ' example-prod ');
    submit(el);
    await until(() => fake.callsTo('saveConfig').length === 1);
    expect((fake.callsTo('saveConfig')[0].params['config'] as { sourceId: string }).sourceId).to.equal('example-prod');
    await until(() => q<HTMLInputElement>(el, '#sourceId')!.value === 'example-prod', 'the saved value is shown');
  });

  it('refuses a source name the helper would refuse, next to the field, and does not save', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig()] }).on('saveConfig', { records: [sampleConfig()] });
    const el = await setup(fake);
    for (const bad of ['our site', 'host=web1', '-prod', 'x'.repeat(65)]) {
      await typeInto(el, 'sourceId', bad);
      submit(el);
      await until(() => q(el, '#sourceId-error') !== null, bad);
      expect(q(el, '#sourceId')!.getAttribute('aria-invalid'), bad).to.equal('true');
      expect(q(el, '#sourceId')!.getAttribute('aria-describedby')).to.equal('sourceId-help sourceId-error');
      expect(q(el, '#sourceId-error')!.textContent).to.contain('letters, digits');
    }
    expect(fake.callsTo('saveConfig').length).to.equal(0);
    await typeInto(el, 'sourceId', '');
    expect(q(el, '#sourceId-error')).to.equal(null, 'empty is allowed: back to host name and database');
  });

  it('puts the server\'s sourceId error next to the source name', async () => {
    const fake = new FakeCrm().on('getConfig', { records: [sampleConfig({ sourceId: 'example-prod' })] }).on('saveConfig', {
      reject: { error_code: 'CONFIG', error_message: 'Not saved. sourceId: Use letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit; no spaces), or leave it empty.' },
    });
    const el = await setup(fake);
    expect(q<HTMLInputElement>(el, '#sourceId')!.value).to.equal('example-prod');
    submit(el);
    await until(() => q(el, '#sourceId-error') !== null, 'server message next to the field');
    expect(q(el, '#sourceId-error')!.textContent).to.contain('Use letters, digits');
  });

  it('shows the load error', async () => {
    const el = await fixture<CivibackupSettingsForm>(
      html`<civibackup-settings-form .api=${new BackupApi(() => new FakeCrm().on('getConfig', { reject: { error_message: 'Forbidden' } }))}></civibackup-settings-form>`,
    );
    await until(() => q(el, '[role="alert"]') !== null);
    expect(q(el, '[role="alert"]')!.textContent).to.contain('Forbidden');
  });
});
