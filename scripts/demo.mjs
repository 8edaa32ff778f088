#!/usr/bin/env node
/**
 * `npm run demo`: the main job end to end on this machine.
 * 1. builds the helper bundle (dist/civibackup.mjs);
 * 2. generates `civibackup_sample`, a small CiviCRM-shaped database in the local MariaDB
 *    (bench/civicrm-sample.ts), and a sample Custom Files directory;
 * 3. backs both up to ./backups with the bundled helper, exactly as cron would;
 * 4. proves the set restorable: `verify --deep` restores it into a scratch database, compares
 *    every table's rows and digest with the manifest, and drops the scratch database;
 * 5. prints where the set is and what it holds.
 * Options: --dsn mysql://root@127.0.0.1:3306 (server, no database), --scale 0.01, --to ./backups
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const { values } = parseArgs({
  options: {
    dsn: { type: 'string', default: 'mysql://root@127.0.0.1:3306' },
    scale: { type: 'string', default: '0.01' },
    to: { type: 'string', default: 'backups' },
    database: { type: 'string', default: 'civibackup_sample' },
  },
});
const server = values.dsn.replace(/\/+$/, '');
const destination = resolve(values.to);
const helper = join(root, 'dist', 'civibackup.mjs');

function step(title) {
  process.stdout.write(`\n== ${title}\n`);
}
function run(cmd, args, env = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) {
    process.stderr.write(`\ndemo: "${[cmd, ...args].join(' ')}" failed with exit code ${result.status}\n`);
    process.exit(result.status ?? 1);
  }
}

step('build the helper bundle');
run('npx', ['rollup', '-c', '--silent']);

step(`generate the CiviCRM-shaped sample database ${values.database} (scale ${values.scale})`);
run(process.execPath, ['--import', 'tsx', 'bench/civicrm-sample.ts', '--database', values.database, '--scale', values.scale, '--dsn', server]);

const customDir = join(root, '.demo', 'custom');
if (!existsSync(customDir)) {
  mkdirSync(join(customDir, 'contact_photos'), { recursive: true });
  writeFileSync(join(customDir, 'resume_Zoë_Ødegård.txt'), 'Curriculum vitae of a sample contact.\n');
  writeFileSync(join(customDir, 'contact_photos', 'portrait.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\n');
  writeFileSync(join(customDir, 'civicrm.settings.php'), "<?php // a settings file placed here on purpose: the built-in exclusions keep it out\n");
}

step(`back up ${values.database} and the sample Custom Files directory to ${destination}`);
const dbEnv = { CIVIBACKUP_DSN: `${server}/${values.database}` };
run(process.execPath, [helper, 'backup', '--to', destination, '--files', `custom=${customDir}`], dbEnv);

const list = spawnSync(process.execPath, [helper, 'list', destination, '--json'], { encoding: 'utf8' });
const lastLine = list.stdout.trim().split('\n').at(-1) ?? '{}';
const newest = JSON.parse(lastLine).summary?.sets?.[0];
if (!newest) {
  process.stderr.write('demo: no complete set found after the backup\n');
  process.exit(1);
}

step(`prove it restorable: restore ${newest.setId} into a scratch database and compare`);
run(process.execPath, [helper, 'verify', newest.location, '--deep'], { CIVIBACKUP_SCRATCH_DSN: `${server}/` });

step('the set');
// What `civibackup list --json` says of it: the same for both set formats.
const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
const lines = [
  `where:      ${newest.location}`,
  newest.format === 2
    ? `size:       ${mb(newest.referencedBytes ?? newest.bytes)} of deduplicated pieces; this set added ${mb(newest.addedBytes ?? newest.bytes)} (a re-run adds only what changed)`
    : `size:       ${mb(newest.bytes)} in ${newest.parts} parts (SHA-256 of each in manifest.json)`,
  ...newest.databases.map((d) => `database:   ${d.name}: ${d.tables} tables, ${d.rows} rows`),
  ...newest.directories.map((d) => `directory:  ${d.label}: ${d.files} files, ${d.bytes} bytes`),
  `restorable: yes: test restore into a scratch database matched every table's row count and digest`,
  newest.format === 2
    ? `plain-tool restore: docs/disaster-recovery.md, "A deduplicated set with plain tools" (bash, jq, age, gzip, mariadb)`
    : `plain-tool restore: (LC_ALL=C; zcat ${newest.location}/db/*.sql.gz) | mariadb NEW_DATABASE`,
];
process.stdout.write(`${lines.join('\n')}\n`);
