#!/usr/bin/env node
/**
 * `npm test`: the type check, the build, the helper tests (node:test, real MariaDB), the UI
 * tests (@web/test-runner in Debian's Chromium) and the PHP tests (Debian's phpunit), then
 * one closing line "N passed, N failed" for the whole run. Exit code 1 if anything failed.
 *
 *   npm test                 everything
 *   npm test -- node ui      only some suites (typecheck, build, node, ui, php)
 *   npm test -- node --only test/helper/dsn.test.ts
 *
 * CIVIBACKUP_SECOND_NODE=/path/to/node runs the helper tests a second time under that Node
 * (.ci/run gives it Node 24). Each line of the summary says which Node ran and how long.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
// Per run, so two runs at once (developers side by side) never read each other's counts.
const resultsDir = join(root, '.test-results', String(process.pid));
mkdirSync(resultsDir, { recursive: true });

const argv = process.argv.slice(2);
const onlyIndex = argv.indexOf('--only');
const onlyFiles = onlyIndex >= 0 ? argv.slice(onlyIndex + 1) : [];
const suitesAsked = (onlyIndex >= 0 ? argv.slice(0, onlyIndex) : argv).filter((a) => !a.startsWith('-'));
const SUITES = ['typecheck', 'build', 'node', 'ui', 'php'];
const wanted = (s) => suitesAsked.length === 0 || suitesAsked.includes(s) || (s === 'build' && suitesAsked.some((x) => x === 'node' || x === 'php' || x === 'ui')); // ui: test/ui/bundle.test.ts loads dist/ui

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

function findFiles(dir, pattern) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findFiles(path, pattern));
    else if (pattern.test(name)) found.push(relative(root, path));
  }
  return found.sort();
}

const tally = { passed: 0, failed: 0, skipped: 0 };
const lines = [];
function record(suite, passed, failed, skipped = 0, note = '') {
  tally.passed += passed;
  tally.failed += failed;
  tally.skipped += skipped;
  lines.push(`${suite}: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${note ? ` (${note})` : ''}`);
}

function section(title) {
  process.stdout.write(`\n=== ${title} ===\n`);
}

if (wanted('typecheck')) {
  section('typecheck (tsc --noEmit, strict)');
  const { code } = await run('npx', ['tsc', '-p', '.']);
  record('typecheck', code === 0 ? 1 : 0, code === 0 ? 0 : 1);
}

let built = true;
if (wanted('build')) {
  section('build (rollup)');
  const { code } = await run('npx', ['rollup', '-c', '--silent']);
  built = code === 0;
  record('build', built ? 1 : 0, built ? 0 : 1);
}

/**
 * The helper's test files under one Node binary. The bundle the tests spawn runs under the
 * same binary (they use process.execPath).
 */
async function helperSuite(name, nodeBinary, env = {}) {
  const files = onlyFiles.length ? onlyFiles : findFiles('test/helper', /\.test\.ts$/);
  const tap = join(resultsDir, `${name}.tap`);
  const started = Date.now();
  const { code } = await run(
    nodeBinary,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
    { CIVIBACKUP_TEST_SCRYPT_LOG_N: '10', ...env },
  );
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (what) => Number((new RegExp(`^# ${what} (\\d+)$`, 'm').exec(text) ?? [])[1] ?? 0);
  let passed = count('pass');
  let failed = count('fail') + count('cancelled');
  if (code !== 0 && failed === 0) failed = 1; // a crash before TAP was written still fails the run
  const version = spawnSync(nodeBinary, ['--version'], { encoding: 'utf8' }).stdout.trim();
  record(name, passed, failed, count('skipped') + count('todo'), `Node ${version}, ${Math.round((Date.now() - started) / 1000)} s`);
}

if (wanted('node')) {
  section(`helper tests (node:test, MariaDB at 127.0.0.1:3306, Node ${process.version})`);
  await helperSuite('node', process.execPath);
}

// CI runs the helper tests a second time under another Node (.ci/run: Node 24 from
// scripts/fetch-node.mjs). The real-site tests build CiviCRM sites, which does not depend on
// the Node version: they run once, in the first pass.
const secondNode = process.env.CIVIBACKUP_SECOND_NODE;
if (wanted('node') && secondNode) {
  if (!existsSync(secondNode)) {
    record('node (second Node)', 0, 1, 0, `CIVIBACKUP_SECOND_NODE=${secondNode}: no such file`);
  } else {
    section(`helper tests again under ${secondNode}`);
    await helperSuite('node-second', secondNode, { CIVIBACKUP_CIVICRM_ARCHIVE: '' });
  }
}

if (wanted('ui')) {
  section('UI tests (@web/test-runner, headless Chromium)');
  const args = ['web-test-runner', '--config', 'web-test-runner.config.mjs', '--static-logging'];
  if (onlyFiles.length) args.push('--files', ...onlyFiles);
  const { code, out } = await run('npx', args, { CI: 'true' });
  const m = /wtr: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
  let [passed, failed, skipped] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  if (code !== 0 && failed === 0) failed = 1;
  record('ui', passed, failed, skipped);
}

if (wanted('php')) {
  section('PHP tests (phpunit)');
  const junit = join(resultsDir, 'phpunit.xml');
  const { code } = await run('phpunit', ['--configuration', 'phpunit.xml.dist', '--log-junit', junit]);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (existsSync(junit)) {
    const top = /<testsuite [^>]*>/.exec(readFileSync(junit, 'utf8'))?.[0] ?? '';
    const attr = (name) => Number((new RegExp(`\\b${name}="(\\d+)"`).exec(top) ?? [])[1] ?? 0);
    failed = attr('failures') + attr('errors');
    skipped = attr('skipped');
    passed = attr('tests') - failed - skipped;
  }
  if (code !== 0 && failed === 0) failed = 1;
  record('php', passed, failed, skipped);
}

process.stdout.write(`\n${lines.join('\n')}\n`);
process.stdout.write(`${tally.passed} passed, ${tally.failed} failed${tally.skipped ? `, ${tally.skipped} skipped` : ''}\n`);
rmSync(resultsDir, { recursive: true, force: true });
process.exitCode = tally.failed > 0 ? 1 : 0;
