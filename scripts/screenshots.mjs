#!/usr/bin/env node
/**
 * Renders each main state of the Backups page to a PNG in docs/screenshots/ so a person can
 * look at them: overview, run in progress, run failed, set list (restore commands open),
 * settings with validation errors, key pair generated, and the restore dialog (choices,
 * progress, done with undo). The page is a static harness
 * (test/ui/support/screenshot-harness.ts) with the FAKE CRM global and scripted data, bundled
 * by esbuild; Debian's Chromium renders it through puppeteer-core.
 *
 *   node scripts/screenshots.mjs            all states, Riverlea-like variables
 *   node scripts/screenshots.mjs overview   one state
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'docs/screenshots');
// "-greenwich": the same state without Riverlea's variables, as on a site with the older Greenwich theme.
const STATES = ['overview', 'run-in-progress', 'run-failed', 'set-list', 'settings-errors', 'key-generated', 'overview-greenwich', 'restore-dialog', 'restore-progress', 'restore-done'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : STATES;

// A subset of Riverlea's core variables (ext/riverlea/core/css/_variables.css, CiviCRM 6), so the
// pictures show the components the way CiviCRM's default theme styles the page around them.
const RIVERLEA = `
  --crm-c-text: #464354; --crm-c-link: #20576f; --crm-c-page-background: #fff; --crm-c-background: #f4f4ed;
  --crm-c-background2: #eaeaea; --crm-c-background3: #e2e1e1; --crm-c-background4: #d5d5d5;
  --crm-c-primary: #696969; --crm-c-primary-hover: #505050; --crm-c-primary-text: #fff;
  --crm-c-secondary: #5d677b; --crm-c-secondary-hover: #474f5f; --crm-c-secondary-text: #fff;
  --crm-c-success: #2e562e; --crm-c-success-light: #dfefdc; --crm-c-warning: #983b01; --crm-c-warning-light: #ffffcc;
  --crm-c-danger: #91223c; --crm-c-danger-light: #f9d9e1; --crm-c-danger-on-page-bg: #5d0d20; --crm-c-info: #20576f; --crm-c-info-light: #e9f5fb;
  --crm-c-focus: #20576f; --crm-c-gray-400: #adaeb3; --crm-c-gray-300: #c2c0c0; --crm-c-gray-700: #696969;
  --crm-c-divider: 1px solid #c2c0c0; --crm-roundness: 0.25rem; --crm-font-size: 0.9rem; --crm-btn-radius: 3px;
  --crm-btn-border: 0 solid transparent; --crm-tabs-bg: #d5d5d5; --crm-tab-bg: #eaeaea; --crm-tab-bg-active: #fff;
  --crm-alert-success-bg: #dfefdc; --crm-alert-success-text: #2e562e; --crm-alert-warning-bg: #ffffcc; --crm-alert-danger-bg: #f9d9e1;
  --crm-alert-danger-text: #91223c; --crm-alert-info-bg: #e9f5fb; --crm-alert-info-text: #20576f;
  --crm-form-block-background: #f4f4ed; --crm-input-border-color: #adaeb3; --crm-input-label-weight: 600;`;

const tmp = mkdtempSync(join(tmpdir(), 'civibackup-shots-'));
try {
  await build({
    entryPoints: [join(root, 'test/ui/support/screenshot-harness.ts')],
    bundle: true,
    format: 'iife',
    target: 'es2021',
    outfile: join(tmp, 'harness.js'),
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'error',
  });
  writeFileSync(
    join(tmp, 'index.html'),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Backups | CiviCRM</title>
<style>.riverlea{${RIVERLEA}} body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#464354;background:#fff}
header{background:#2f2f2e;color:#fff;padding:.4rem 1rem;font-size:.85rem} #crm-container{padding:0 1.5rem 1.5rem}
h1{font-size:1.6rem;font-weight:400;margin:1rem 0 .75rem}</style></head>
<body><header>CiviCRM &nbsp;›&nbsp; Administer &nbsp;›&nbsp; System Settings</header><div id="crm-container"><h1>Backups</h1></div>
<script>if (new URLSearchParams(location.search).get('theme') !== 'greenwich') document.documentElement.className = 'riverlea';</script>
<script src="harness.js"></script></body></html>`,
  );
  mkdirSync(outDir, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--font-render-hinting=none'],
    env: { ...process.env, TZ: 'UTC', LANG: 'en_US.UTF-8' },
  });
  try {
    for (const state of wanted) {
      const page = await browser.newPage();
      // The restore dialog is modal and sized to the window: a taller window shows all of it.
      await page.setViewport({ width: 1100, height: state.startsWith('restore-') ? 1200 : 800, deviceScaleFactor: 1 });
      page.on('pageerror', (error) => process.stderr.write(`[${state}] page error: ${error.message}\n`));
      const theme = state.endsWith('-greenwich') ? 'greenwich' : 'riverlea';
      await page.goto(`file://${join(tmp, 'index.html')}?state=${state.replace(/-greenwich$/, '')}&theme=${theme}`);
      await page.waitForFunction(() => document.body.dataset.ready !== undefined, { timeout: 30_000 });
      const status = await page.evaluate(() => [document.body.dataset.ready, document.body.dataset.error, document.body.dataset.clip]);
      if (status[0] !== 'true') throw new Error(`state ${state}: ${status[1]}`);
      const file = join(outDir, `${state}.png`);
      // A state may ask for a clip (the part of a long page that shows it); otherwise the full page.
      if (status[2]) await page.screenshot({ path: file, clip: JSON.parse(status[2]), captureBeyondViewport: true });
      else if (state.startsWith('restore-')) await page.screenshot({ path: file });
      else await page.screenshot({ path: file, fullPage: true });
      process.stdout.write(`wrote ${file}\n`);
      await page.close();
    }
  } finally {
    await browser.close();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
