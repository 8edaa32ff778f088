import { fixture, html, expect } from '@open-wc/testing';
import { sendKeys } from '@web/test-runner-commands';
import { until } from './support/until.js';
import '../../ts-src/ui/set-detail/define.js';
import type { CivibackupSetDetail } from '../../ts-src/ui/set-detail/civibackup-set-detail.js';
import { sampleSets } from './support/sample-data.js';

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

  it('renders nothing without a set', async () => {
    const el = await fixture<CivibackupSetDetail>(html`<civibackup-set-detail></civibackup-set-detail>`);
    expect(el.shadowRoot!.textContent!.trim()).to.equal('');
  });
});
