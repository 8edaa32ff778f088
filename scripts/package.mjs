#!/usr/bin/env node
/**
 * `npm run package`: builds civibackup-<version>.zip for the CiviCRM extension directory.
 * One top folder `civibackup/` with info.xml at its root, the PHP, ang/, templates/, xml/,
 * settings/, managed/, the built bundles (dist/), ts-src/ (the source, for the AGPL),
 * LICENSE, README, CHANGELOG and docs/. No node_modules, tests, fixtures or dev files.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const info = readFileSync('info.xml', 'utf8');
const infoVersion = /<version>([^<]+)<\/version>/.exec(info)?.[1];
if (infoVersion !== version) {
  console.error(`info.xml <version> (${infoVersion}) differs from package.json (${version}); fix one of them.`);
  process.exit(2);
}

execFileSync('npx', ['rollup', '-c', '--silent'], { stdio: 'inherit' });

const stage = join(root, 'build', 'package');
const top = join(stage, 'civibackup');
rmSync(stage, { recursive: true, force: true });
mkdirSync(top, { recursive: true });

const INCLUDE = [
  'info.xml', 'civibackup.php', 'civibackup.civix.php', 'LICENSE', 'README.md', 'CHANGELOG.md',
  'package.json', 'rollup.config.js', 'tsconfig.json',
  'ang', 'api', 'Civi', 'CRM', 'docs', 'managed', 'settings', 'templates', 'xml', 'ts-src',
  'dist/civibackup.mjs', 'dist/ui/civibackup-ui.js',
];
for (const item of INCLUDE) {
  if (!existsSync(item)) continue;
  cpSync(item, join(top, item), { recursive: true });
}

const zipName = `civibackup-${version}.zip`;
rmSync(zipName, { force: true });
execFileSync('zip', ['-qr', '-X', join(root, zipName), 'civibackup'], { cwd: stage, stdio: 'inherit' });
console.log(`${zipName} written`);
