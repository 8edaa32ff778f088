/**
 * The end-to-end scenario, the same on every kind of site: one real site built once, then
 * install from the release zip, the page in Chromium (administrator and refused user, the
 * menu), the scheduled job through CiviCRM's cron entry point, the site's real Directories
 * in the set, deep verify, a restore into a new database and new directories identical to
 * the live site, a restore over the live site from the page (the site works afterwards,
 * undo brings the change back, a user without the permission cannot call it), disable and
 * uninstall leaving nothing behind, and a broken release zip that the install check must
 * catch.
 *
 * The sets are looked at through the Backup API and the helper CLI only (never their files),
 * so the suite holds whatever the set format becomes.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { databaseShape } from '../../helper/support/compare-db.js';
import { dropDatabase, withRoot } from '../../helper/support/mariadb.js';
import { deepText, launchBrowser, logIn, menuPath, openAs, pageTrace, saveScreenshot, waitForButton, waitForDeepText, type Login } from './browser.js';
import { e2eEnvironment } from './environment.js';
import { checkBackupRuns, disableAndUninstall, EXTENSION_KEY, installFromZip, leftovers, releaseZip, zipWithout } from './extension.js';
import { fileTree } from './files-tree.js';
import { CiviSite, runProcess, type SiteKind } from './site.js';

/** CiviCRM's cache tables: their rows are left out of a set by default (docs/format.md). */
const CACHE_TABLES = ['civicrm_cache', 'civicrm_acl_cache', 'civicrm_acl_contact_cache', 'civicrm_group_contact_cache', 'civicrm_prevnext_cache'];

interface ListedSet {
  setId: string;
  format?: number | null;
  location?: string;
  trigger?: string;
  thisSite?: boolean;
  directories?: Array<{ label: string; files: number; bytes: number }>;
}

export function siteScenario(kind: SiteKind): void {
  const environment = e2eEnvironment();
  if (typeof environment === 'string') {
    test(`end-to-end on a real ${kind} site`, { skip: environment }, () => undefined);
    return;
  }

  describe(`CiviBackup on a real CiviCRM 6.17 ${kind} site`, { timeout: 1_200_000 }, () => {
    const site = new CiviSite(kind, environment);
    const destination = join(site.workDir, 'backups');
    const restoredDatabase = `${site.database}_restored`;
    // _cbstage and _cbold: the work databases of a restore over the live site, dropped by the
    // restore itself; listed so a failed run leaves nothing behind either.
    const extraDatabases = [restoredDatabase, `${site.database}_cbscratch`, `${site.database}_cbstage`, `${site.database}_cbold`];
    let browser: Browser | undefined;
    let zip = '';
    let cronSet: ListedSet | undefined;
    const admin: Login = kind === 'standalone' ? {} : { user: 'admin', password: 'admin' };
    /** The user without 'administer backups' (made by the refusal check). */
    let staff: Login | undefined;
    /** The administrator's Backups page whose restore dialog the restore and the undo run in. */
    let restorePage: Page | undefined;
    /** What the restore from the page must take away and the undo bring back. */
    let change: ChangeAfterSet | undefined;
    const helper = (): string => join(site.facts.extensionsDir, EXTENSION_KEY, 'dist', 'civibackup.mjs');

    before(async () => {
      const started = Date.now();
      await site.build();
      dropDatabases(extraDatabases); // left by an earlier run on a kept site
      mkdirSync(destination, { recursive: true, mode: 0o700 });
      zip = releaseZip(join(site.workDir, 'zip'));
      await disableAndUninstall(site); // a kept site (CIVIBACKUP_E2E_KEEP) may hold the extension from the last run
      await site.start();
      browser = await launchBrowser();
      if (kind === 'standalone') admin.contactId = site.facts.adminContactId;
      process.stdout.write(`# ${kind} site ${site.baseUrl} (db ${site.database}, root ${site.root}) ready in ${Math.round((Date.now() - started) / 1000)} s\n`);
    });

    after(async () => {
      await restorePage?.browserContext().close();
      await browser?.close();
      site.destroy(extraDatabases);
    });

    test('installs from the release zip as the marketplace does (unzip, refresh, install), and a backup runs', async () => {
      assert.equal(await installFromZip(site, zip, destination), 'installed');
      const run = await checkBackupRuns(site);
      assert.match(String(run.result?.set ?? ''), /\S/, 'the run names its set');
    });

    test("the Backups page renders for an administrator, under Administer » System Settings in the site's menu", async () => {
      assert.ok(browser);
      const { page, status, errors } = await openAs(browser, site, admin, 'civicrm/admin/setting/civibackup');
      try {
        assert.equal(status, 200, 'the page answers 200');
        await page.waitForSelector('civibackup-app', { timeout: 60_000 });
        // The Lit app has rendered from the site's own Backup API: its first screen and the set made above.
        const rendered = await waitForDeepText(page, 'civibackup-app', /Back up now/);
        const text = await deepText(page, 'civibackup-app');
        assert.ok(rendered, `the app did not render its overview; it shows: ${text.slice(0, 1500)}\n${pageTrace(page)}\nuncaught: ${errors.join('\n')}`);
        assert.match(text, /Back up now/);
        assert.deepEqual(errors, [], 'no uncaught error in the page');
        assert.deepEqual(await menuPath(page, 'civicrm/admin/setting/civibackup'), ['Administer', 'System Settings', 'Backups']);
      } finally {
        await page.browserContext().close();
      }
    });

    test("the page is refused to a user without 'administer backups'", async () => {
      assert.ok(browser);
      const login = await site.php<{ contactId: number; user: string }>(
        kind === 'standalone'
          ? `
        $existing = \\Civi\\Api4\\User::get(FALSE)->addWhere('username', '=', 'e2e_staff')->execute()->first();
        if ($existing) return ['contactId' => (int) $existing['contact_id'], 'user' => 'e2e_staff'];
        $contact = \\Civi\\Api4\\Contact::create(FALSE)->addValue('contact_type', 'Individual')->addValue('first_name', 'Staff')->addValue('last_name', 'Member')->execute()->first();
        \\Civi\\Api4\\User::create(FALSE)->setValues(['username' => 'e2e_staff', 'password' => 'e2e-staff-password', 'contact_id' => $contact['id'], 'is_active' => TRUE, 'roles:name' => ['staff']])->execute();
        return ['contactId' => (int) $contact['id'], 'user' => 'e2e_staff'];`
          : `
        $user = get_user_by('login', 'e2e_editor');
        if (!$user) {
          $id = wp_insert_user(['user_login' => 'e2e_editor', 'user_pass' => 'e2e-editor-password', 'user_email' => 'e2e-editor@example.org', 'role' => 'editor']);
          $user = get_user_by('id', $id);
        }
        // May use CiviCRM, but was never given 'administer backups'.
        $user->add_cap('access_civicrm');
        return ['contactId' => 0, 'user' => 'e2e_editor'];`,
      );
      staff = kind === 'standalone' ? { contactId: login.contactId } : { user: login.user, password: 'e2e-editor-password' };
      const { page, status } = await openAs(browser, site, staff, 'civicrm/admin/setting/civibackup');
      try {
        const body = await page.evaluate(() => document.body.innerText);
        assert.equal(await page.$('civibackup-app'), null, `the page must not render for ${login.user} (HTTP ${status})`);
        assert.match(body, /not (have )?(the )?permission|not authorized|access denied|not allowed/i, `a refusal is shown to ${login.user}`);
      } finally {
        await page.browserContext().close();
      }
    });

    test("the scheduled job runs through CiviCRM's cron entry point", async () => {
      if (kind === 'standalone') {
        // core/bin/cron.php as `php` runs it for a cron line: name, password and site key as its URL form takes them.
        const run = await runProcess('php', [join(import.meta.dirname, 'cron-cli.php'), join(site.root, 'core', 'bin'), 'admin', 'admin', site.facts.siteKey], {
          ...process.env,
          CIVICRM_SETTINGS: site.facts.settingsFile,
          CIVI_BASE_URL: site.baseUrl,
        });
        assert.equal(run.status, 0, `cron.php failed: ${run.output}`);
        assert.doesNotMatch(run.stdout, /ERROR/, run.stdout);
      } else {
        // Through the plugin: its copy of CiviCRM's cron.php, by URL, as WordPress sites schedule it.
        const url = `${site.baseUrl}/wp-content/plugins/civicrm/civicrm/bin/cron.php?name=admin&pass=admin&key=${encodeURIComponent(site.facts.siteKey)}`;
        const response = await fetch(url, { signal: AbortSignal.timeout(240_000) });
        const text = await response.text();
        assert.equal(response.status, 200, `cron.php answered ${response.status}: ${text.slice(0, 500)}`);
        assert.doesNotMatch(text, /ERROR/, text.slice(0, 500));
      }
      const log = await site.php<Array<{ description: string }>>(`
        $job = \\Civi\\Api4\\Job::get(FALSE)->addWhere('api_action', '=', 'civibackup_run')->execute()->single();
        return \\Civi\\Api4\\JobLog::get(FALSE)->addSelect('description')->addWhere('job_id', '=', $job['id'])->addOrderBy('id', 'DESC')->setLimit(2)->execute()->getArrayCopy();`);
      assert.match(log[0]?.description ?? '', /Finished execution of CiviBackup: back up this site with result: Success \(Backup set \S+ written/, JSON.stringify(log));
      const sets = await listSets(site);
      cronSet = sets.find((set) => set.trigger === 'cron');
      assert.ok(cronSet, `Backup.get lists the cron set: ${JSON.stringify(sets)}`);
      assert.equal(cronSet.thisSite, true);
    });

    test("the cron set holds the site's real Directories, file for file", async () => {
      assert.ok(cronSet, 'needs the cron set');
      const live = site.facts.directories;
      if (kind === 'wordpress') assert.ok(live.custom.startsWith(join(site.root, 'wp-content/uploads/civicrm/')), `custom files at ${live.custom}`);
      const labels = (cronSet.directories ?? []).map((d) => d.label);
      for (const label of Object.keys(live)) assert.ok(labels.includes(label), `the set holds the ${label} directory (it has ${labels.join(', ')})`);
      // Restored through the helper CLI into new directories, then compared with the live ones.
      const restoredRoot = mkdtempSync(join(site.workDir, 'restored-files-'));
      const files = Object.keys(live).flatMap((label) => ['--files', `${label}=${join(restoredRoot, label)}`]);
      const run = await runProcess(process.execPath, [helper(), 'restore', setLocation(cronSet), ...files, '--json'], withoutDsn());
      assert.equal(run.status, 0, `restore of the directories failed: ${run.output}`);
      for (const [label, path] of Object.entries(live)) {
        assert.deepEqual(fileTree(join(restoredRoot, label), label), fileTree(path, label), `directory ${label} (${path})`);
      }
      if (kind === 'wordpress') assert.ok(Object.keys(fileTree(live.custom, 'custom')).length > 0, 'the sample attachment is in the custom directory');
    });

    test('deep verify of the cron set passes (through Backup.verify)', async () => {
      assert.ok(cronSet, 'needs the cron set');
      const verify = await site.php<{ result?: { type: string; code?: string; message?: string } }>(
        `return civicrm_api4('Backup', 'verify', ['checkPermissions' => FALSE, 'setId' => '${cronSet.setId}', 'deep' => TRUE])->first();`,
      );
      assert.equal(verify.result?.type, 'result', JSON.stringify(verify.result));
    });

    test("the README's command line backs up the site from its installer-written settings file (--settings)", async () => {
      const to = mkdtempSync(join(site.workDir, 'cli-settings-backups-'));
      const backup = await runProcess(process.execPath, [helper(), 'backup', '--to', to, '--settings', site.facts.settingsFile, '--json'], withoutDsn());
      assert.equal(backup.status, 0, `civibackup backup --settings ${site.facts.settingsFile} failed: ${backup.output}`);
      // The set holds the site's CiviCRM database (on WordPress the one it shares with WordPress).
      const list = await runProcess(process.execPath, [helper(), 'list', to, '--json'], withoutDsn());
      const listed = JSON.parse(list.stdout.trim().split('\n').at(-1) ?? '{}') as { summary?: { sets?: Array<{ databases: Array<{ role: string; name: string }> }> } };
      assert.deepEqual(listed.summary?.sets?.map((set) => set.databases.map((d) => `${d.role} ${d.name}`)), [[`main ${site.database}`]], list.output);
    });

    test('a restore into a new database is identical to the live site, row for row', async () => {
      // Nothing touches the site between this set's snapshot and the comparison below (the
      // cron set is older than the rows that verify and the job log wrote since).
      const siteDsn = { ...withoutDsn(), CIVIBACKUP_DSN: site.facts.dsn };
      const backup = await runProcess(process.execPath, [helper(), 'backup', '--to', join(site.workDir, 'cli-backups'), '--json'], siteDsn);
      assert.equal(backup.status, 0, `civibackup backup failed: ${backup.output}`);
      const result = JSON.parse(backup.stdout.trim().split('\n').at(-1) ?? '{}') as { type: string; set?: string };
      assert.equal(result.type, 'result');
      const restore = await runProcess(process.execPath, [helper(), 'restore', String(result.set), '--json'], {
        ...withoutDsn(),
        CIVIBACKUP_DSN: `mysql://root@127.0.0.1:3306/${restoredDatabase}`,
      });
      assert.equal(restore.status, 0, `restore failed: ${restore.output}`);
      const live = await withRoot(site.database, (c) => databaseShape(c, site.database, CACHE_TABLES));
      const restored = await withRoot(restoredDatabase, (c) => databaseShape(c, restoredDatabase, CACHE_TABLES));
      assert.ok(Object.keys(live.checksums).length > 100, 'the live database has CiviCRM tables');
      assert.deepEqual(restored, live);
      const cacheRows = await withRoot(restoredDatabase, async (c) => {
        const [rows] = await c.promise().query(CACHE_TABLES.map((t) => `SELECT COUNT(*) AS n FROM \`${t}\``).join(' UNION ALL '));
        return (rows as Array<{ n: number }>).reduce((sum, r) => sum + Number(r.n), 0);
      });
      assert.equal(cacheRows, 0, 'cache tables keep their structure, not their rows');
    });

    test("a hand-modified core file is listed in the next set's code changes (Backup.codeChanges)", async () => {
      assert.ok(cronSet, 'needs the cron set');
      // The file as CiviCRM finds it, relative to the code root the backup takes (on WordPress the plugin folder).
      const paths = await site.php<{ codeRoot: string; config: string }>(`
        return ['codeRoot' => (new CRM_Civibackup_CiviRuntime())->directories()['code'], 'config' => Civi::paths()->getPath('[civicrm.root]/CRM/Core/Config.php')];`);
      assert.ok(paths.config.startsWith(paths.codeRoot), JSON.stringify(paths));
      const relative = paths.config.slice(paths.codeRoot.length);
      appendFileSync(paths.config, '\n// a local patch, as a site might carry one\n');
      const run = await checkBackupRuns(site);
      const setId = String(run.result?.set ?? '').split('/').pop();
      const record = await site.php<{ recorded: boolean; changes: { compared: boolean; previous?: { setId: string }; counts: Record<string, number>; paths: Array<{ path: string; change: string }> } | null }>(
        `return civicrm_api4('Backup', 'codeChanges', ['checkPermissions' => FALSE, 'setId' => '${setId}'])->first();`,
      );
      assert.equal(record.recorded, true, JSON.stringify(record));
      assert.equal(record.changes?.compared, true, JSON.stringify(record));
      assert.equal(record.changes?.previous?.setId, cronSet.setId, 'compared with the set before it');
      assert.deepEqual(record.changes?.paths, [{ path: relative, change: 'modified' }]);
      // The page knows the set is deduplicated (Backup.get keeps the format field), so it asks.
      assert.equal((await listSets(site)).find((s) => s.setId === setId)?.format, 2);
    });

    test("restore from the page as an administrator (CiviCRM's tables only): the change made after the set is gone, the CMS's tables are not", async () => {
      assert.ok(browser);
      assert.ok(cronSet, 'needs the cron set');
      const set = cronSet.setId;
      change = await changeAfterSet(site);
      assert.deepEqual(await readChange(site, change), { renamed: true, added: true, cmsChanged: kind === 'wordpress' }, 'the change is in the live database before the restore');

      const { page } = await openAs(browser, site, admin, 'civicrm/admin/setting/civibackup');
      restorePage = page;
      await page.waitForSelector('civibackup-app >>> #tab-sets');
      await page.click('civibackup-app >>> #tab-sets');
      const restoreButton = await waitForButton(page, { ariaLabel: `Restore ${set}\u2026` });
      assert.ok(restoreButton, `a Restore\u2026 button for ${set}:\n${await dialogText(page)}`);
      await restoreButton.click();
      await page.waitForSelector('civibackup-app >>> #restore-confirm');
      // The defaults: over this site, the database, and on a shared database CiviCRM's tables only.
      assert.equal(await page.$eval('civibackup-app >>> #target-live', (e) => (e as HTMLInputElement).checked), true);
      assert.equal(await page.$eval('civibackup-app >>> #restore-database', (e) => (e as HTMLInputElement).checked), true);
      if (kind === 'wordpress') assert.equal(await page.$eval('civibackup-app >>> #scope-civicrm', (e) => (e as HTMLInputElement).checked), true, 'CiviCRM\u2019s tables only by default');
      await page.type('civibackup-app >>> #restore-confirm', set);
      await closeStatusAlert(page);
      await saveScreenshot(page, `civicrm-restore-dialog-${kind}`);
      await page.click('civibackup-app >>> [data-testid="start"]');

      // The restore step itself at work (after the safety backup), for the picture: a small site may be quicker than one poll.
      const loading = /Restore in progress.*Restoring \([1-9]\d?%\)/;
      await waitForDeepText(page, 'civibackup-app', new RegExp(`${loading.source}|Switching the site|Your login has ended|Restore finished|Restore did not finish`), 180_000);
      if (loading.test(await deepText(page, 'civibackup-app'))) await saveScreenshot(page, `civicrm-restore-progress-${kind}`);
      const loggedOut = await waitForRestoreEnd(page, site, admin, /Restore finished|Restore did not finish/, 'the restore', `civicrm-restore-logged-out-${kind}`);
      if (loggedOut) process.stdout.write(`# ${kind}: the restore ended the administrator's login; logged in again in another tab, as the dialog asked\n`);
      assert.match(await dialogHeading(page), /Restore finished/, await dialogText(page));
      // The result as the administrator reads it, with the undo it offers.
      await waitForButton(page, 'Undo this restore');
      await saveScreenshot(page, `civicrm-restore-done-${kind}`);

      assert.deepEqual(await readChange(site, change), { renamed: false, added: false, cmsChanged: kind === 'wordpress' }, 'the restore took the change away (and left WordPress\u2019s own tables as they were)');
      for (const work of [`${site.database}_cbstage`, `${site.database}_cbold`]) assert.equal(await databaseExists(work), false, `${work} is dropped after the restore`);
    });

    test('the site works after the restore: log in, a contact\u2019s page, and the phone trigger fills phone_numeric', async () => {
      assert.ok(browser);
      assert.ok(change, 'needs the restore from the page');
      const { page, status, errors } = await openAs(browser, site, admin, 'civicrm/contact/view', `reset=1&cid=${change.contactId}`);
      try {
        assert.equal(status, 200, 'the contact page answers 200');
        const shown = await page.waitForFunction((name: string) => document.body.innerText.includes(name), { timeout: 60_000, polling: 250 }, change.displayName).then(() => true, () => false);
        assert.ok(shown, `the contact page shows ${change.displayName}:\n${(await page.evaluate(() => document.body.innerText)).slice(0, 1500)}\n${pageTrace(page)}`);
        assert.deepEqual(errors, [], 'no uncaught error in the page');
        // Through CiviCRM's AJAX API in this browser session, as a form would save it.
        const phone = await page.evaluate(
          (contactId: number) =>
            (window as unknown as { CRM: { api4: (e: string, a: string, p: object) => Promise<Array<{ id: number }>> } }).CRM.api4('Phone', 'create', {
              values: { contact_id: contactId, phone: '+1 (555) 010-4477', location_type_id: 1 },
            }).then((rows) => rows[0].id),
          change.contactId,
        );
        const numeric = await withRoot(site.database, async (c) => {
          const [rows] = await c.promise().query('SELECT phone_numeric FROM civicrm_phone WHERE id = ?', [phone]);
          return (rows as Array<{ phone_numeric: string | null }>)[0]?.phone_numeric;
        });
        assert.equal(numeric, '15550104477', 'the trigger on civicrm_phone filled phone_numeric: triggers were recreated after the swap');
      } finally {
        await page.browserContext().close();
      }
    });

    test('undo from the page restores the safety backup: the change is back', async () => {
      assert.ok(restorePage, 'needs the restore dialog');
      assert.ok(change, 'needs the restore from the page');
      const page = restorePage;
      const undo = await waitForButton(page, 'Undo this restore');
      assert.ok(undo, `the finished restore offers its undo:\n${await dialogText(page)}\n${pageTrace(page)}`);
      await undo.click();
      const confirm = await waitForButton(page, 'Undo restore');
      assert.ok(confirm, await dialogText(page));
      await saveScreenshot(page, `civicrm-restore-undo-${kind}`);
      await confirm.click();
      await waitForRestoreEnd(page, site, admin, /Restore undone|Undo did not finish/, 'the undo');
      assert.match(await dialogHeading(page), /Restore undone/, await dialogText(page));
      assert.deepEqual(await readChange(site, change), { renamed: true, added: true, cmsChanged: kind === 'wordpress' }, 'the undo brought the change back');
    });

    test("a user without 'administer backups' cannot call Backup.restore, and nothing is restored", async () => {
      assert.ok(browser);
      assert.ok(staff, 'needs the user of the refusal check');
      assert.ok(cronSet && change, 'needs the restore from the page');
      const before = (await listSets(site)).map((s) => s.setId).sort();
      // A CiviCRM page this user may open, so the call goes through CiviCRM's own AJAX API with their session.
      const { page, status } = await openAs(browser, site, staff, 'civicrm/dashboard');
      try {
        assert.equal(status, 200, 'the user may use CiviCRM');
        await page.waitForFunction(() => typeof (window as unknown as { CRM?: { api4?: unknown } }).CRM?.api4 === 'function', { timeout: 60_000, polling: 250 });
        const refusal = await page.evaluate(
          (setId: string) =>
            (window as unknown as { CRM: { api4: (e: string, a: string, p: object) => Promise<unknown> } }).CRM.api4('Backup', 'restore', { setId, confirm: setId, database: true, async: true }).then(
              (answer) => ({ refused: false, answer: JSON.stringify(answer) }),
              (error: { error_message?: string; error_code?: unknown; status?: number }) => ({ refused: true, answer: `${String(error.status ?? '')} ${String(error.error_code ?? '')} ${error.error_message ?? JSON.stringify(error)}` }),
            ),
          cronSet.setId,
        );
        assert.equal(refusal.refused, true, `Backup.restore ran for a user without the permission: ${refusal.answer}`);
        assert.match(refusal.answer, /403|permission|authori[sz]ation/i, 'refused for want of permission');
      } finally {
        await page.browserContext().close();
      }
      assert.deepEqual(await readChange(site, change), { renamed: true, added: true, cmsChanged: kind === 'wordpress' }, 'nothing was restored');
      assert.deepEqual((await listSets(site)).map((s) => s.setId).sort(), before, 'no safety backup was taken either');
    });

    test('disable and uninstall leave nothing behind', async () => {
      await disableAndUninstall(site);
      assert.deepEqual(await leftovers(site), { status: 'uninstalled', settings: [], jobs: 0, navigation: 0, menu: 0, managed: 0, tables: [], runsDirectory: false, changesDirectory: false });
    });

    // On WordPress php-cli runs from the project's work tree (its bootstrap, unlike
    // Standalone's, does not change into the site root), which holds another copy of the
    // extension: this check also proves the installed extension loads its own files, not that
    // copy's (tests/phpunit/ExtensionPathTest.php).
    test('a release zip without the helper (dist/civibackup.mjs) fails the install check', async () => {
      const broken = await zipWithout(zip, `${EXTENSION_KEY}/dist/civibackup.mjs`, join(site.workDir, 'zip', 'broken.zip'));
      try {
        await assert.rejects(
          async () => {
            assert.equal(await installFromZip(site, broken, destination), 'installed');
            const run = await checkBackupRuns(site);
            // Not expected: say what ran, so a failure here explains itself.
            throw new Error(`Backup.run succeeded without the helper (${helper()} ${existsSync(helper()) ? 'exists' : 'is absent'}): ${JSON.stringify(run).slice(0, 1500)}`);
          },
          /civibackup\.mjs is missing/,
        );
      } finally {
        await disableAndUninstall(site);
      }
    });
  });
}

/** A change made after the set the page restores: a contact renamed, a contact added, and on WordPress an option of its own. */
interface ChangeAfterSet {
  contactId: number;
  /** The contact's name as the set holds it, and as its page must show it after the restore. */
  displayName: string;
  renamedTo: string;
  addedLastName: string;
  /** WordPress: blogdescription as changed after the set. */
  cmsValue: string;
}

async function changeAfterSet(site: CiviSite): Promise<ChangeAfterSet> {
  const mark = `E2e${Date.now().toString(36)}`;
  const cmsValue = `Changed after the set ${mark}`;
  const contact = await site.php<{ id: number; display_name: string }>(`
    $contact = \\Civi\\Api4\\Contact::get(FALSE)->addSelect('id', 'display_name')->addWhere('contact_type', '=', 'Individual')->addWhere('is_deleted', '=', FALSE)
      ->addWhere('id', '>', 2)->addWhere('last_name', 'IS NOT EMPTY')->addOrderBy('id')->setLimit(1)->execute()->single();
    \\Civi\\Api4\\Contact::update(FALSE)->addWhere('id', '=', $contact['id'])->addValue('last_name', 'Renamed${mark}')->execute();
    \\Civi\\Api4\\Contact::create(FALSE)->addValue('contact_type', 'Individual')->addValue('first_name', 'Added')->addValue('last_name', 'Added${mark}')
      ->addChain('phone', \\Civi\\Api4\\Phone::create(FALSE)->addValue('contact_id', '$id')->addValue('phone', '555 0199')->addValue('location_type_id', 1))->execute();
    ${site.kind === 'wordpress' ? `update_option('blogdescription', '${cmsValue}');` : ''}
    return $contact;`);
  return { contactId: contact.id, displayName: contact.display_name, renamedTo: `Renamed${mark}`, addedLastName: `Added${mark}`, cmsValue };
}

/** Whether each part of the change is in the live database, read row by row in MariaDB. */
async function readChange(site: CiviSite, change: ChangeAfterSet): Promise<{ renamed: boolean; added: boolean; cmsChanged: boolean }> {
  return withRoot(site.database, async (c) => {
    const [renamed] = await c.promise().query('SELECT last_name FROM civicrm_contact WHERE id = ?', [change.contactId]);
    const [added] = await c.promise().query('SELECT COUNT(*) AS n FROM civicrm_contact c JOIN civicrm_phone p ON p.contact_id = c.id WHERE c.last_name = ?', [change.addedLastName]);
    let cmsChanged = false;
    if (site.kind === 'wordpress') {
      const [option] = await c.promise().query("SELECT option_value FROM wp_options WHERE option_name = 'blogdescription'");
      cmsChanged = (option as Array<{ option_value: string }>)[0]?.option_value === change.cmsValue;
    }
    return {
      renamed: (renamed as Array<{ last_name: string }>)[0]?.last_name === change.renamedTo,
      added: Number((added as Array<{ n: number }>)[0]?.n) === 1,
      cmsChanged,
    };
  });
}

async function databaseExists(name: string): Promise<boolean> {
  return withRoot('mysql', async (c) => {
    const [rows] = await c.promise().query('SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name]);
    return Number((rows as Array<{ n: number }>)[0]?.n) === 1;
  });
}

/** Closes CiviCRM's System Status pop-up (shown to administrators on each page), so it does not cover the dialog in pictures. */
async function closeStatusAlert(page: Page): Promise<void> {
  const closed = await page.evaluate(() => {
    const buttons = document.querySelectorAll<HTMLElement>('#crm-notification-container a.ui-notify-close');
    buttons.forEach((close) => close.click());
    return buttons.length;
  });
  if (closed) await new Promise((r) => setTimeout(r, 1000)); // it fades out
}

/** The restore dialog's heading. */
async function dialogHeading(page: Page): Promise<string> {
  return page.$eval('civibackup-app >>> #restore-h', (e) => e.textContent?.trim() ?? '');
}

/** The restore dialog's text, for a failure message. */
async function dialogText(page: Page): Promise<string> {
  return (await deepText(page, 'civibackup-app')).slice(-2500);
}

/**
 * Waits for the run in the restore dialog to end (`heading`), then for the dialog to say the
 * site answers again. A run under load takes minutes: the safety backup, the staging load,
 * the check, the swap, CiviCRM's trigger rebuild. When the restore ends the login (on
 * Standalone the sessions are in civicrm_session, which the restore replaces), the
 * administrator logs in again in another tab, as the dialog asks, and the dialog goes on.
 * Returns whether that was needed.
 */
async function waitForRestoreEnd(page: Page, site: CiviSite, login: Login, heading: RegExp, what: string, loggedOutScreenshot = ''): Promise<boolean> {
  let loggedInAgain = false;
  let ended = false;
  for (const until = Date.now() + 400_000; !ended && Date.now() < until; await new Promise((r) => setTimeout(r, 500))) {
    ended = heading.test(await dialogHeading(page));
    if (!ended && !loggedInAgain && /Your login has ended/.test(await deepText(page, 'civibackup-app'))) {
      if (loggedOutScreenshot) await saveScreenshot(page, loggedOutScreenshot);
      const tab = await page.browserContext().newPage();
      try {
        assert.equal(await logIn(tab, site, login, 'civicrm/dashboard'), 200, 'logged in again');
      } finally {
        await tab.close();
      }
      loggedInAgain = true;
    }
  }
  assert.ok(ended, `${what} did not end; the dialog shows:\n${await dialogText(page)}\n${pageTrace(page)}`);
  if (/did not finish/.test(await dialogHeading(page))) return loggedInAgain;
  const back = await waitForDeepText(page, 'civibackup-app', /The site is back/, 120_000);
  assert.ok(back, `after ${what} the dialog never said the site is back:\n${await dialogText(page)}\n${pageTrace(page)}`);
  return loggedInAgain;
}

function dropDatabases(names: string[]): void {
  for (const name of names) dropDatabase(name);
}

/** The environment without a DSN a developer may have exported: each command says which database it means. */
function withoutDsn(): NodeJS.ProcessEnv {
  const { CIVIBACKUP_DSN: _ignored, ...rest } = process.env;
  return rest;
}

async function listSets(site: CiviSite): Promise<ListedSet[]> {
  return site.php<ListedSet[]>(`return civicrm_api4('Backup', 'get', ['checkPermissions' => FALSE])->getArrayCopy();`);
}

/** Where the helper CLI finds a listed set. */
function setLocation(set: ListedSet): string {
  const where = set.location;
  assert.ok(where, `Backup.get gives no location for ${set.setId}: ${JSON.stringify(set)}`);
  return where;
}
