/**
 * The release zip as the CiviCRM extension directory and an administrator get it: built by
 * scripts/package.mjs (from the dist/ bundles npm test built, so no test rewrites dist/ under
 * another), one top folder civibackup/ with info.xml, the PHP, the bundles, the source and
 * the docs, and nothing of the development tree. Unpacked into an empty folder with no
 * node_modules above it, the helper runs from there: --version, a backup of a real MariaDB
 * database, and a verify of that set.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assertBundleBuilt, parseEvents } from './support/helper-run.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';
import { TOOL_VERSION } from '../../ts-src/helper/version.js';
import { HELPER_CHUNKS } from './support/paths.js';
import { buildReleaseZip, PACKAGE_VERSION } from './support/release-zip.js';

const version = PACKAGE_VERSION;
const database = uniqueName('cbt_release');
let work: string;
let zipPath: string;
let entries: string[];
let unpacked: string;

function helper(args: string[], env: NodeJS.ProcessEnv = {}) {
  // A minimal environment: no NODE_PATH or NODE_OPTIONS from the project can help the bundle.
  const run = spawnSync(process.execPath, [join(unpacked, 'civibackup', 'dist', 'civibackup.mjs'), ...args], {
    cwd: unpacked,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: work, ...env },
    maxBuffer: 16 * 1024 * 1024,
  });
  return { ...run, events: parseEvents(run.stdout) };
}

before(() => {
  assertBundleBuilt();
  work = mkdtempSync(join(tmpdir(), 'cbt_release_zip_'));
  zipPath = buildReleaseZip(work);
  const list = spawnSync('unzip', ['-Z1', zipPath], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  assert.equal(list.status, 0, list.stderr);
  entries = list.stdout.split('\n').filter((l) => l !== '');
  unpacked = join(work, 'unpacked');
  const unzip = spawnSync('unzip', ['-q', zipPath, '-d', unpacked], { encoding: 'utf8' });
  assert.equal(unzip.status, 0, unzip.stderr);

  mariadbCli(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
  mariadbCli(
    [
      'CREATE TABLE civicrm_contact (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, display_name VARCHAR(128), phone_numeric VARCHAR(32)) ENGINE=InnoDB;',
      "INSERT INTO civicrm_contact (display_name) VALUES ('Zoë Ødegård'), ('Émile'), (NULL);",
      'CREATE TABLE civicrm_cache (id INT PRIMARY KEY, data LONGTEXT) ENGINE=InnoDB;',
      "INSERT INTO civicrm_cache VALUES (1, 'rebuilt by CiviCRM');",
      'DELIMITER ;;',
      "CREATE TRIGGER civicrm_contact_before_insert BEFORE INSERT ON civicrm_contact FOR EACH ROW SET NEW.phone_numeric = CONCAT('x', NEW.id);;",
      'DELIMITER ;',
    ].join('\n'),
    database,
  );
});

after(() => {
  dropDatabase(database);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('release zip', () => {
  test('has one top folder civibackup/ with info.xml at its root', () => {
    const tops = new Set(entries.map((e) => e.split('/')[0]));
    assert.deepEqual([...tops], ['civibackup']);
    assert.ok(entries.includes('civibackup/info.xml'));
  });

  test('holds the PHP, the CiviCRM folders, both bundles, the source and the docs', () => {
    const required = [
      'civibackup/civibackup.php',
      'civibackup/civibackup.civix.php',
      'civibackup/CRM/Civibackup/BackupService.php',
      'civibackup/Civi/Api4/Backup.php',
      'civibackup/api/v3/Job/CivibackupRun.php',
      'civibackup/ang/civibackup.ang.php',
      'civibackup/templates/CRM/Civibackup/Page/Backups.tpl',
      'civibackup/xml/Menu/civibackup.xml',
      'civibackup/settings/civibackup.setting.php',
      'civibackup/managed/Job_CivibackupRun.mgd.php',
      'civibackup/dist/civibackup.mjs',
      // every chunk the build wrote (the backup below loads mysql2's from there)
      ...readdirSync(HELPER_CHUNKS).map((chunk) => `civibackup/dist/helper-chunks/${chunk}`),
      'civibackup/dist/ui/civibackup-ui.js',
      'civibackup/ts-src/helper/cli.ts',
      'civibackup/ts-src/protocol/manifest.ts',
      'civibackup/ts-src/ui/index.ts',
      'civibackup/package.json',
      'civibackup/rollup.config.js',
      'civibackup/LICENSE',
      'civibackup/README.md',
      'civibackup/CHANGELOG.md',
      'civibackup/docs/format.md',
      'civibackup/docs/disaster-recovery.md',
    ];
    const missing = required.filter((r) => !entries.includes(r));
    assert.deepEqual(missing, [], `missing from the zip: ${missing.join(', ')}`);
    // The page's ang module loads the bundle by this path, relative to the extension root.
    const ang = readFileSync(join(unpacked, 'civibackup', 'ang', 'civibackup.ang.php'), 'utf8');
    assert.match(ang, /'dist\/ui\/civibackup-ui\.js'/);
  });

  test('holds no node_modules, tests, fixtures, benchmarks, dev scripts, CI or git files', () => {
    const forbidden = /(^|\/)(node_modules|test|tests|fixtures|bench|scripts|\.ci|\.git|\.github|build|\.demo|backups)(\/|$)|\.map$|\.zip$|(^|\/)(phpunit\.xml\.dist|web-test-runner\.config\.mjs|package-lock\.json|\.gitignore)$/;
    const found = entries.filter((e) => forbidden.test(e.slice('civibackup/'.length)));
    assert.deepEqual(found, [], `dev files in the zip: ${found.slice(0, 10).join(', ')}`);
  });

  test('the administrator docs in the zip link only to files and headings that exist there', () => {
    const docs = ['README.md', 'docs/admin-guide.md', 'docs/disaster-recovery.md', 'docs/format.md', 'docs/security.md', 'docs/troubleshooting.md'];
    // GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -.
    const slug = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const anchors = (file: string): Set<string> =>
      new Set([...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
    const broken: string[] = [];
    for (const doc of docs) {
      const file = join(unpacked, 'civibackup', doc);
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#');
        const linked = path ? join(dirname(file), path) : file;
        if (doc === 'README.md' && path === 'docs/benchmarks.md') continue; // written by `npm run bench`
        if (!existsSync(linked)) broken.push(`${doc}: ${target} (no such file)`);
        else if (anchor && linked.endsWith('.md') && !anchors(linked).has(anchor)) broken.push(`${doc}: ${target} (no such heading)`);
      }
    }
    assert.deepEqual(broken, []);
  });

  test('info.xml carries what the extension directory reads, with the package version', () => {
    const info = readFileSync(join(unpacked, 'civibackup', 'info.xml'), 'utf8');
    assert.match(info, /<extension key="civibackup" type="module">/);
    assert.equal(/<version>([^<]+)<\/version>/.exec(info)?.[1], version);
    assert.equal(TOOL_VERSION, version, 'ts-src/helper/version.ts differs from package.json');
    assert.match(info, /<releaseDate>\d{4}-\d{2}-\d{2}<\/releaseDate>/);
    assert.match(info, /<develStage>(alpha|beta|stable)<\/develStage>/);
    assert.match(info, /<compatibility[^>]*>\s*<ver>\d+\.\d+<\/ver>/);
    assert.match(info, /<file>civibackup<\/file>/);
    assert.match(info, /<license>AGPL-3.0<\/license>/);
    assert.match(info, /<authors>\s*<author>\s*<name>[^<]+<\/name>\s*<email>[^<]+@[^<]+<\/email>\s*<role>Maintainer<\/role>/);
    for (const desc of ['Main Extension Page', 'Documentation', 'Support', 'Licensing']) {
      assert.match(info, new RegExp(`<url desc="${desc}">https://[^<]+</url>`), `info.xml lacks the "${desc}" URL`);
    }
  });

  test('unpacked where no node_modules exists above it, the helper runs: --version, backup, verify', () => {
    for (let dir = unpacked; ; dir = dirname(dir)) {
      assert.ok(!existsSync(join(dir, 'node_modules')), `${join(dir, 'node_modules')} exists above the unpacked zip`);
      if (dirname(dir) === dir) break;
    }
    assert.deepEqual(readdirSync(unpacked), ['civibackup']);

    const versionRun = helper(['--version']);
    assert.equal(versionRun.status, 0, versionRun.stderr);
    assert.equal(versionRun.stdout.trim(), version);

    const sets = join(work, 'sets');
    const backup = helper(['backup', '--format', '1', '--to', sets, '--json'], { CIVIBACKUP_DSN: dsnText(database) });
    const result = backup.events.at(-1);
    assert.equal(backup.status, 0, `backup failed: ${JSON.stringify(result)} ${backup.stderr}`);
    assert.equal(result?.type, 'result');
    const setDir = (result as { set?: string }).set!;
    const manifest = JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as {
      tool: { version: string };
      databases: Array<{ name: string; tables: Array<{ name: string; rows: number; dataSkipped?: string }>; objects: { triggers: string[] } }>;
    };
    assert.equal(manifest.tool.version, version);
    const db = manifest.databases[0]!;
    assert.equal(db.name, database);
    assert.equal(db.tables.find((t) => t.name === 'civicrm_contact')?.rows, 3);
    assert.ok(db.tables.find((t) => t.name === 'civicrm_cache')?.dataSkipped);
    assert.deepEqual(db.objects.triggers, ['civicrm_contact_before_insert']);

    const verify = helper(['verify', setDir, '--json']);
    assert.equal(verify.status, 0, `verify failed: ${verify.stdout} ${verify.stderr}`);
    assert.equal(verify.events.at(-1)?.type, 'result');
    const verification = JSON.parse(readFileSync(join(setDir, 'verification.json'), 'utf8')) as { state: string };
    assert.equal(verification.state, 'hashes-ok');
  });
});
