import { fixture, html, expect } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/set-detail/define.js';
import type { CivibackupSetDetail } from '../../ts-src/ui/set-detail/civibackup-set-detail.js';
import { BackupApi } from '../../ts-src/ui/api/crm-api.js';
import type { SetSummary } from '../../ts-src/protocol/sets.js';
import { FakeCrm } from './support/fake-crm.js';
import { sampleCodeChanges, sampleDedupSets, sampleSets } from './support/sample-data.js';

const q = <T extends HTMLElement = HTMLElement>(el: Element, s: string) => el.shadowRoot!.querySelector<T>(s);

function withClipboard(writeText: (s: string) => Promise<void>): () => void {
  Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText } });
  return () => delete (navigator as unknown as Record<string, unknown>)['clipboard'];
}

describe('civibackup-set-detail', () => {
  it('lists what the set holds and one command block per way to restore', async () => {
    const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail .set=${sampleSets()[0]}></civibackup-set-detail>`);
    const text = el.shadowRoot!.textContent!.replace(/\s+/g, ' ');
    expect(text).to.contain('Database civicrm (main): 186 tables, 2,418,334 rows');
    expect(text).to.contain('Directory images: 412 files, 36 MB');
    expect(text).to.contain('key.txt is the secret key');
    const ids = [...el.shadowRoot!.querySelectorAll('pre')].map((p) => p.dataset['command']);
    expect(ids).to.deep.equal(['helper', 'plain-db', 'plain-logdb', 'plain-files-custom', 'plain-files-images']);
  });

  it('copies with the keyboard (Enter on a Copy button) and says so', async () => {
    let copied = '';
    const restore = withClipboard(async (s) => void (copied = s));
    try {
      const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail .set=${sampleSets()[2]}></civibackup-set-detail>`);
      const button = q<HTMLButtonElement>(el, 'button[aria-describedby="cmd-plain-db"]')!;
      button.focus();
      await sendKeys({ press: 'Enter' });
      await until(() => copied !== '');
      expect(copied).to.equal(`SET=${sampleSets()[2].location}\nexport LC_ALL=C\nmariadb -e 'CREATE DATABASE DBNAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'\nzcat "$SET"/db/*.sql.gz | mariadb DBNAME`);
      await until(() => q(el, '[role="status"]')!.textContent!.includes('copied'));
    } finally {
      restore();
    }
  });

  it('when the browser refuses the clipboard, selects the command and says to press Ctrl+C', async () => {
    const restore = withClipboard(() => Promise.reject(new DOMException('denied', 'NotAllowedError')));
    try {
      const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail .set=${sampleSets()[2]}></civibackup-set-detail>`);
      q<HTMLButtonElement>(el, 'button[aria-describedby="cmd-helper"]')!.click();
      await until(() => q(el, '[role="status"]')!.textContent!.includes('Ctrl+C'));
      expect(window.getSelection()!.toString()).to.equal(q(el, 'pre[data-command="helper"]')!.textContent);
    } finally {
      restore();
    }
  });

  it('shows the set\'s source: a name as given, else the server and database; the exact identity for prune --source', async () => {
    const render = async (source: string | undefined) => {
      const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail .set=${{ ...sampleSets()[1], source }}></civibackup-set-detail>`);
      return { el, line: q(el, '[data-testid="source"]')!.textContent!.replace(/\s+/g, ' ') };
    };
    const derived = await render('host=web1|db=localhost/civicrm');
    expect(derived.line).to.contain('Source: server web1, database localhost/civicrm');
    expect(derived.line).to.contain('only counts and removes sets of its own source');
    expect(q(derived.el, '[data-testid="source"] code')!.textContent).to.equal('host=web1|db=localhost/civicrm');
    const named = await render('example-prod');
    expect(named.line).to.contain('Source: example-prod');
    expect(q(named.el, '[data-testid="source"] code')!.textContent).to.equal('example-prod');
    expect((await render('host=web2')).line).to.contain('Source: server web2');
    expect((await render('db=/civicrm')).line).to.contain('Source: database civicrm');
    const none = await render(undefined);
    expect(none.line).to.contain('Source: not recorded');
    expect(none.line).to.contain('retention leaves it alone');
    expect(q(none.el, '[data-testid="source"] code')).to.equal(null);
  });

  describe('code changes since the previous set', () => {
    const open = async (set: SetSummary, fake: FakeCrm) => {
      const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail .set=${set} .api=${new BackupApi(() => fake)}></civibackup-set-detail>`);
      await until(() => !q(el, '[data-testid="code-changes"] [aria-busy]'), 'code changes loaded');
      return { el, section: q(el, '[data-testid="code-changes"]')!, text: () => q(el, '[data-testid="code-changes"]')!.textContent!.replace(/\s+/g, ' ').trim() };
    };
    const set = sampleDedupSets()[0]!;

    it('lists each changed path with its kind in words, the exact counts, and the CiviCRM versions when they differ', async () => {
      const fake = new FakeCrm().on('codeChanges', { records: [{ setId: set.setId, recorded: true, changes: sampleCodeChanges() }] });
      const { el, section, text } = await open(set, fake);
      expect(fake.callsTo('codeChanges').map((c) => c.params)).to.deep.equal([{ setId: set.setId }]);
      expect(q(el, '#code-changes-h')!.textContent).to.equal('Code changes since the previous set');
      expect(text()).to.contain(`Compared with set ${sampleDedupSets()[1]!.setId}.`);
      expect(q(el, '[data-testid="version-change"]')!.textContent).to.equal('CiviCRM 6.17.2 in the previous set, 6.18.0 in this one.');
      expect(q(el, '[data-testid="change-counts"]')!.textContent).to.equal('2 modified, 1 added, 1 removed.');
      const items = [...section.querySelectorAll('li')].map((li) => li.textContent!.replace(/\s+/g, ' ').trim());
      expect(items).to.deep.equal(['Modified CRM/Contact/BAO/Contact.php', 'Added CRM/Core/Payment/Custom.php', 'Modified civicrm-version.php', 'Removed templates/CRM/Old.tpl']);
      expect(q(el, '[data-testid="changes-omitted"]')).to.equal(null);
      // The list scrolls inside the details: a named region the keyboard can reach.
      const region = section.querySelector<HTMLElement>('[role="region"]')!;
      expect(region.tabIndex).to.equal(0);
      expect(region.getAttribute('aria-labelledby')).to.equal('code-changes-h');
    });

    it('an upgrade: the listed paths and "and N more"; no version line when the version is the same', async () => {
      const paths = Array.from({ length: 500 }, (_, i) => ({ path: `vendor/f${i}.php`, change: 'modified' as const }));
      const changes = sampleCodeChanges({ paths, counts: { added: 300, modified: 2500, removed: 12 }, omitted: 2312, civicrmVersion: '6.17.2' });
      const fake = new FakeCrm().on('codeChanges', { records: [{ setId: set.setId, recorded: true, changes }] });
      const { el, section } = await open(set, fake);
      expect(section.querySelectorAll('li').length).to.equal(500);
      expect(q(el, '[data-testid="change-counts"]')!.textContent).to.equal(`${(2500).toLocaleString()} modified, 300 added, 12 removed.`);
      expect(q(el, '[data-testid="changes-omitted"]')!.textContent).to.equal(`\u2026and ${(2312).toLocaleString()} more, not listed.`);
      expect(q(el, '[data-testid="version-change"]')).to.equal(null);
    });

    it('nothing changed; a cache that names no set; nothing to compare with, for each reason, without a list', async () => {
      const answer = (changes: unknown) => new FakeCrm().on('codeChanges', { records: [{ setId: set.setId, recorded: true, changes }] });
      const none = sampleCodeChanges({ paths: [], counts: { added: 0, modified: 0, removed: 0 } });
      expect((await open(set, answer(none))).text()).to.contain('No file of CiviCRM\u2019s code changed.');
      const { previous: _previous, ...unnamed } = sampleCodeChanges();
      expect((await open(set, answer(unnamed))).text()).to.contain('Compared with the previous backup made on this server.');
      const texts: Record<string, string> = {
        'no-previous-set': 'this is the first set of this site at this destination',
        'not-in-previous-set': 'the previous set has no copy of CiviCRM\u2019s code',
        'previous-unreadable': 'cannot be read on this server',
      };
      for (const [reason, words] of Object.entries(texts)) {
        const { text, section } = await open(set, answer({ ...none, compared: false, reason, previous: undefined }));
        expect(text()).to.contain('No previous set to compare').and.to.contain(words);
        expect(section.querySelector('li')).to.equal(null);
      }
    });

    it('"Not recorded for this set": not recorded by its run, and format-1 sets without asking', async () => {
      const fake = new FakeCrm().on('codeChanges', { records: [{ setId: set.setId, recorded: false, changes: null }] });
      expect((await open(set, fake)).text()).to.contain('Not recorded for this set.');
      const old = new FakeCrm();
      expect((await open(sampleSets()[2]!, old)).text()).to.contain('Not recorded for this set.');
      expect(old.callsTo('codeChanges')).to.deep.equal([]);
    });

    it('says when the changes could not be loaded', async () => {
      const fake = new FakeCrm().on('codeChanges', { reject: { error_code: 'USAGE', error_message: '[USAGE] Not a backup set id.\nUse an id from the list of sets.' } });
      expect((await open(set, fake)).text()).to.contain('The code changes could not be loaded: Not a backup set id. Use an id from the list of sets.');
    });
  });

  it('renders nothing without a set', async () => {
    const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail></civibackup-set-detail>`);
    expect(el.shadowRoot!.textContent!.trim()).to.equal('');
  });
});
