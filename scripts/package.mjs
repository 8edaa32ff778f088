#!/usr/bin/env node
/**
 * `npm run package`: builds civibackup-<version>.zip for the CiviCRM extension directory.
 * One top folder `civibackup/` with info.xml at its root, the PHP, ang/, templates/, xml/,
 * settings/, managed/, the built bundles (dist/), ts-src/ (the source, for the AGPL) with the
 * build configuration (package.json, rollup.config.js, tsconfig.json), LICENSE, README,
 * CHANGELOG and docs/. No node_modules, tests, fixtures, benchmarks, dev scripts or CI files.
 *
 * Source files are taken from git (`git ls-files`) when this is a git work tree, so stray
 * untracked files in the working directory never reach a release; the bundles come from
 * the build that this script runs first.
 *
 * Options (for tests, which must not rewrite dist/ under other running tests):
 *   --no-build   package the bundles already in dist/ (npm test builds them first)
 *   --out DIR    write the zip (and its staging folder) under DIR instead of the project root
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const { values: options } = parseArgs({ options: { 'no-build': { type: 'boolean' }, out: { type: 'string' } } });
const outDir = options.out ? resolve(options.out) : root;
process.chdir(root);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const info = readFileSync('info.xml', 'utf8');
const infoVersion = /<version>([^<]+)<\/version>/.exec(info)?.[1];
if (infoVersion !== version) {
  console.error(`info.xml <version> (${infoVersion}) differs from package.json (${version}); fix one of them.`);
  process.exit(2);
}

if (!options['no-build']) execFileSync('npx', ['rollup', '-c', '--silent'], { stdio: 'inherit' });

/** What a release holds (files or directories, relative to the project root). */
const SOURCES = [
  'info.xml', 'civibackup.php', 'civibackup.civix.php', 'LICENSE', 'README.md', 'CHANGELOG.md',
  'package.json', 'rollup.config.js', 'tsconfig.json',
  'ang', 'api', 'Civi', 'CRM', 'docs', 'managed', 'settings', 'templates', 'xml', 'ts-src',
];
/** The helper's entry point, the chunks it imports when a run needs them (mysql2, AWS SDK, ssh2, age), the pack writer's worker thread, the UI. */
const BUILT = ['dist/civibackup.mjs', 'dist/helper-chunks', 'dist/civibackup-pack-worker.mjs', 'dist/ui/civibackup-ui.js'];
/** Never in a release, wherever they appear. */
const NEVER = /(^|\/)(node_modules|tests?|fixtures|\.git|\.ci|bench|scripts)(\/|$)|\.map$|(^|\/)\.DS_Store$/;

function sourceFiles() {
  const inGit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--is-inside-work-tree'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'true';
    } catch {
      return false;
    }
  })();
  if (inGit) {
    const out = execFileSync('git', ['ls-files', '-z', '--', ...SOURCES], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return out.split('\0').filter((f) => f !== '' && existsSync(f));
  }
  return SOURCES.filter((s) => existsSync(s));
}

for (const file of BUILT) {
  if (!existsSync(file)) {
    console.error(`${file} was not built; run \`npx rollup -c\` and look at its errors.`);
    process.exit(1);
  }
}

const stage = options.out ? join(outDir, 'package-stage') : join(root, 'build', 'package');
const top = join(stage, 'civibackup');
rmSync(stage, { recursive: true, force: true });
mkdirSync(top, { recursive: true });
for (const item of [...sourceFiles(), ...BUILT]) {
  if (NEVER.test(item)) continue;
  const target = join(top, item);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(item, target, {
    recursive: statSync(item).isDirectory(),
    filter: (src) => !NEVER.test(src.slice(root.length)),
  });
}

const zipPath = join(outDir, `civibackup-${version}.zip`);
rmSync(zipPath, { force: true });
execFileSync('zip', ['-qr', '-X', zipPath, 'civibackup'], { cwd: stage, stdio: 'inherit' });
if (options.out) rmSync(stage, { recursive: true, force: true });
console.log(`${options.out ? zipPath : `civibackup-${version}.zip`} written`);
