/**
 * The shipped bundle itself (dist/ui/civibackup-ui.js, built by rollup with esbuild, minified),
 * not the TypeScript sources the other tests load: it must stay small, define every element,
 * and its reactive properties must work (a build that ignored useDefineForClassFields: false
 * would render once and never update). scripts/run-tests.mjs builds before the ui suite.
 */
import { expect } from '@open-wc/testing';
import { until } from './support/until.js';
import { FakeCrm } from './support/fake-crm.js';
import { backupNowFake } from './support/sample-data.js';

const BUNDLE = '/dist/ui/civibackup-ui.js';

async function gzipSize(bytes: ArrayBuffer): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

describe('the shipped bundle (dist/ui/civibackup-ui.js)', () => {
  let fake: FakeCrm;

  before(async () => {
    fake = backupNowFake();
    fake.civibackup = { canAdminister: true, version: '0.1.0', pollIntervalMs: 10 };
    (window as unknown as { CRM: FakeCrm }).CRM = fake;
    const script = document.createElement('script');
    script.src = BUNDLE;
    const loaded = new Promise((resolve, reject) => {
      script.onload = resolve;
      script.onerror = () => reject(new Error(`${BUNDLE} did not load; run \`npx rollup -c --silent\``));
    });
    document.head.appendChild(script);
    await loaded;
  });

  it('is under 40 KB gzipped', async () => {
    const response = await fetch(BUNDLE);
    const size = await gzipSize(await response.arrayBuffer());
    expect(size).to.be.below(40 * 1024);
  });

  it('defines every element of the page', () => {
    for (const tag of ['civibackup-app', 'civibackup-overview', 'civibackup-run-progress', 'civibackup-set-list', 'civibackup-set-detail', 'civibackup-settings-form']) {
      expect(customElements.get(tag), tag).to.not.equal(undefined);
    }
  });

  it('renders the page from CRM.civibackup and follows a run to its end (reactive updates work when minified)', async () => {
    history.replaceState(null, '', '#/overview');
    const app = document.createElement('civibackup-app');
    document.body.appendChild(app);
    try {
      const overview = () => app.shadowRoot?.querySelector('civibackup-overview');
      await until(() => overview()?.shadowRoot?.querySelector('.cards'), 'overview rendered');
      overview()!.shadowRoot!.querySelector<HTMLButtonElement>('button.primary')!.click();
      const progress = () => overview()!.shadowRoot!.querySelector('civibackup-run-progress');
      await until(() => progress()?.shadowRoot?.textContent?.includes('Backup complete.'), 'run followed to the end');
      expect(fake.calls.map((c) => c.action).slice(0, 4)).to.deep.equal(['overview', 'run', 'status', 'status']);
      expect(app.shadowRoot!.textContent).to.contain('CiviBackup 0.1.0');
    } finally {
      app.remove();
    }
  });
});
