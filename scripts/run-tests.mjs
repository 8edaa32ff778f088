#!/usr/bin/env node
/**
 * `npm test`: the type check, the build, the helper tests (node:test, real MariaDB), the UI
 * tests (@web/test-runner in Debian's Chromium), the PHP tests (Debian's phpunit) and the
 * end-to-end suite on real CiviCRM sites (test/e2e; only when CIVIBACKUP_CIVICRM_ARCHIVE names
 * the CiviCRM archive, otherwise skipped with one line saying so), then one closing line
 * "N passed, N failed" for the whole run. Exit code 1 if anything failed.
 *
 *   npm test                 everything
 *   npm test -- node ui      only some suites (typecheck, build, node, ui, php, e2e)
 *   npm test -- node --only test/helper/dsn.test.ts
 *
 * CIVIBACKUP_SECOND_NODE=/path/to/node runs the helper tests a second time under that Node
 * (.ci/run gives it Node 24), all but the files FIRST_NODE_ONLY lists with their reasons. Each
 * line of the summary says which Node ran and how long; the run ends with the 15 slowest test
 * files (scripts/summary-reporter.mjs), so whoever speeds the suite up next starts from figures.
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
const SUITES = ['typecheck', 'build', 'node', 'ui', 'php', 'e2e'];
const wanted = (s) => suitesAsked.length === 0 || suitesAsked.includes(s) || (s === 'build' && suitesAsked.some((x) => x === 'node' || x === 'php' || x === 'ui' || x === 'e2e')); // ui: test/ui/bundle.test.ts loads dist/ui

/** Runs a command, echoing its output; with `quiet`, its output (stdout and stderr) is only returned, for printing later. */
function run(cmd, args, env = {}, { quiet = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (!quiet) process.stdout.write(d);
    });
    child.stderr.on('data', (d) => (quiet ? (out += d) : process.stderr.write(d)));
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
let suiteStarted = Date.now();
/** One summary line per suite, with the seconds since its section began. */
function record(suite, passed, failed, skipped = 0, note = '', started = suiteStarted) {
  tally.passed += passed;
  tally.failed += failed;
  tally.skipped += skipped;
  const seconds = `${Math.round((Date.now() - started) / 1000)} s`;
  lines.push(`${suite}: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (${note ? `${note}, ` : ''}${seconds})`);
}

function section(title) {
  suiteStarted = Date.now();
  process.stdout.write(`\n=== ${title} ===\n`);
}

/**
 * The node:test suites report through scripts/summary-reporter.mjs: the runner's closing counts
 * (pass, fail, cancelled, skipped, todo) and the seconds per test file, which go into the
 * closing table of the slowest files.
 */
const fileSeconds = [];
function summaryReporterArgs(name) {
  return ['--test-reporter=./scripts/summary-reporter.mjs', `--test-reporter-destination=${join(resultsDir, `${name}.summary.json`)}`];
}
/** The suite's counts (all 0 when the runner crashed before its summary) and its rows for the table. */
function readSummary(name, label) {
  const path = join(resultsDir, `${name}.summary.json`);
  let summary = { counts: {}, seconds: {} };
  try {
    if (existsSync(path)) summary = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    /* a runner that crashed before the reporter finished: counted as a failure by the caller */
  }
  for (const [file, seconds] of Object.entries(summary.seconds ?? {})) fileSeconds.push({ file, label, seconds });
  return (what) => Number(summary.counts?.[what] ?? 0);
}

// The type check and the build do not depend on each other: they run side by side (tsc and
// rollup each keep about one core busy), the type check's output printed when both are done.
const typecheckStarted = Date.now();
const typecheck = wanted('typecheck') ? run('npx', ['tsc', '-p', '.'], {}, { quiet: true }) : undefined;

let built = true;
if (wanted('build')) {
  section('build (rollup)');
  const { code } = await run('npx', ['rollup', '-c', '--silent']);
  built = code === 0;
  record('build', built ? 1 : 0, built ? 0 : 1);
}

if (typecheck) {
  const { code, out } = await typecheck;
  section('typecheck (tsc --noEmit, strict; ran beside the build)');
  process.stdout.write(out);
  record('typecheck', code === 0 ? 1 : 0, code === 0 ? 0 : 1, 0, '', typecheckStarted);
}

/**
 * The helper's test files under one Node binary. The bundle the tests spawn runs under the
 * same binary (they use process.execPath).
 */
async function helperSuite(name, nodeBinary, { env = {}, leaveOut = new Map(), quiet = false } = {}) {
  const started = Date.now();
  const files = onlyFiles.length ? onlyFiles : findFiles('test/helper', /\.test\.ts$/).filter((f) => !leaveOut.has(f));
  const { code, out } = await run(
    nodeBinary,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-reporter-destination=stdout', ...summaryReporterArgs(name), ...files],
    { CIVIBACKUP_TEST_SCRYPT_LOG_N: '10', ...env },
    { quiet },
  );
  const version = spawnSync(nodeBinary, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const count = readSummary(name, `${name}, Node ${version}`);
  let passed = count('pass');
  let failed = count('fail') + count('cancelled');
  if (code !== 0 && failed === 0) failed = 1; // a crash before the summary was written still fails the run
  return { out, finish: () => record(name, passed, failed, count('skipped') + count('todo'), `Node ${version}`, started) };
}

// CI runs the helper tests a second time under another Node (.ci/run: Node 24 from
// scripts/fetch-node.mjs), for what depends on Node's version: crypto (age, scrypt, HMAC),
// zlib and zstd, streams and backpressure, fs, child processes, the network clients (mysql2,
// the S3 SDK, ssh2) and the CLI bundle itself, all of which the files below go through under
// that Node. The second pass leaves out the files listed here, each for the reason given:
// what they prove does not depend on Node's version, and the helper's code they run is run
// under the second Node by the files that stay. Tests that stay in a file but are first-Node
// only say so as skipped (test/helper/support/node-pass.ts). `--only` runs the files given
// under both Nodes.
const FIRST_NODE_ONLY = new Map([
  ['test/helper/settings-file.test.ts', 'builds real CiviCRM sites with PHP; the settings-file parser runs under both Nodes in dsn.test.ts and dump-options.test.ts'],
  ['test/helper/least-privilege.test.ts', 'builds a real CiviCRM site with PHP; MariaDB privileges do not depend on Node'],
  ['test/helper/bench-smoke.test.ts', 'the benchmark scripts (a developer tool, run by hand under one Node), not the product'],
  ['test/helper/release-runbook.test.ts', 'the runbook\'s shell blocks (bash, age, zcat, tar) around the release zip\'s helper; that helper runs under both Nodes in release-zip, its format-1 backup, verify and restore in encryption-offsite-e2e and restore'],
  ['test/helper/plain-recipe-v2.test.ts', 'the recipe runs without node (bash, jq, age, gzip); the helper\'s format-2 sets are made under both Nodes in dedup, db-blobs and dedup-lifecycle'],
  ['test/helper/dump-consistency.test.ts', 'one snapshot under concurrent writes is MariaDB\'s transaction isolation, the same under any Node'],
]);
// The two passes run side by side: each keeps about one core busy (one test file at a time,
// the helper and MariaDB taking turns), and the tests are made to run beside another run of
// themselves (unique database names and folders, free ports, a named lock around the one
// server-wide setting a test changes). The second pass's output is printed after the first's.
const secondNode = process.env.CIVIBACKUP_SECOND_NODE;
if (wanted('node')) {
  section(`helper tests (node:test, MariaDB at 127.0.0.1:3306, Node ${process.version})`);
  let second;
  if (secondNode && existsSync(secondNode)) {
    second = helperSuite('node-second', secondNode, {
      env: { CIVIBACKUP_CIVICRM_ARCHIVE: '', CIVIBACKUP_SECOND_NODE_PASS: '1' },
      leaveOut: onlyFiles.length ? new Map() : FIRST_NODE_ONLY,
      quiet: true,
    });
  }
  const first = await helperSuite('node', process.execPath);
  first.finish();
  if (second) {
    section(`helper tests again under ${secondNode} (ran beside the first pass)`);
    if (!onlyFiles.length) {
      for (const [file, why] of FIRST_NODE_ONLY) process.stdout.write(`first Node only: ${file} (${why})${existsSync(file) ? '' : ' -- NO SUCH FILE: update FIRST_NODE_ONLY in scripts/run-tests.mjs'}\n`);
    }
    const { out, finish } = await second;
    process.stdout.write(out);
    finish();
  } else if (secondNode) {
    record('node (second Node)', 0, 1, 0, `CIVIBACKUP_SECOND_NODE=${secondNode}: no such file`);
  }
}

/** The UI tests; with `quiet`, their output is returned for printing later. */
async function uiSuite(quiet) {
  const started = Date.now();
  const args = ['web-test-runner', '--config', 'web-test-runner.config.mjs', '--static-logging'];
  if (onlyFiles.length) args.push('--files', ...onlyFiles);
  const { code, out } = await run('npx', args, { CI: 'true' }, { quiet });
  const m = /wtr: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
  let [passed, failed, skipped] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  if (code !== 0 && failed === 0) failed = 1;
  return { title: 'UI tests (@web/test-runner, headless Chromium)', out, finish: () => record('ui', passed, failed, skipped, '', started) };
}

/** The PHP tests; with `quiet`, their output is returned for printing later. */
async function phpSuite(quiet) {
  const started = Date.now();
  const junit = join(resultsDir, 'phpunit.xml');
  const { code, out } = await run('phpunit', ['--configuration', 'phpunit.xml.dist', '--log-junit', junit], {}, { quiet });
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
  return { title: 'PHP tests (phpunit)', out, finish: () => record('php', passed, failed, skipped, '', started) };
}

const e2eArchive = process.env.CIVIBACKUP_CIVICRM_ARCHIVE;
const e2eFiles = onlyFiles.length ? onlyFiles.filter((f) => f.includes('test/e2e/')) : findFiles('test/e2e', /\.test\.ts$/);
const e2eRuns = wanted('e2e') && Boolean(e2eArchive) && existsSync(e2eArchive ?? '') && e2eFiles.length > 0;

// The end-to-end suite mostly waits (on PHP pages, cron, the restore's steps in Chromium): the
// UI and PHP tests, which share nothing with it (their own Chromium, their own web servers on
// free ports), run beside it, one after the other, and their output is printed after it.
let besideE2e;
if (e2eRuns) {
  besideE2e = (async () => {
    const results = [];
    if (wanted('ui')) results.push(await uiSuite(true));
    if (wanted('php')) results.push(await phpSuite(true));
    return results;
  })();
} else {
  for (const [want, suite] of [['ui', uiSuite], ['php', phpSuite]]) {
    if (!wanted(want)) continue;
    section(want === 'ui' ? 'UI tests (@web/test-runner, headless Chromium)' : 'PHP tests (phpunit)');
    (await suite(false)).finish();
  }
}

if (wanted('e2e')) {
  section('end-to-end (real Standalone and WordPress + CiviCRM sites, Chromium, cron)');
  if (!e2eArchive) {
    const reason = 'skipped: CIVIBACKUP_CIVICRM_ARCHIVE is not set (the CiviCRM 6.17 WordPress plugin archive; .ci/run sets it)';
    process.stdout.write(`e2e ${reason}\n`);
    record('e2e', 0, 0, 1, reason);
  } else if (!existsSync(e2eArchive)) {
    process.stdout.write(`e2e: CIVIBACKUP_CIVICRM_ARCHIVE=${e2eArchive}: no such file\n`);
    record('e2e', 0, 1, 0, `${e2eArchive}: no such file`);
  } else if (e2eRuns) {
    // One site per file, built once and re-used by its checks; the two sites build side by side.
    const { code } = await run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', '--test-reporter-destination=stdout', ...summaryReporterArgs('e2e'), ...e2eFiles]);
    const count = readSummary('e2e', 'e2e');
    let failed = count('fail') + count('cancelled');
    if (code !== 0 && failed === 0) failed = 1;
    record('e2e', count('pass'), failed, count('skipped') + count('todo'));
  }
}

if (besideE2e) {
  for (const { title, out, finish } of await besideE2e) {
    section(`${title} (ran beside the end-to-end suite)`);
    process.stdout.write(out);
    finish();
  }
}

if (fileSeconds.length > 0) {
  // Where the time goes: the slowest files of the node:test suites (the UI and PHP suites
  // have their totals in the lines below). Files of the e2e suite run side by side.
  const slowest = fileSeconds.sort((a, b) => b.seconds - a.seconds).slice(0, 15);
  const width = Math.max(...slowest.map((t) => t.file.length));
  process.stdout.write(`\nslowest test files (seconds in their tests, hooks included):\n`);
  for (const t of slowest) process.stdout.write(`${t.seconds.toFixed(1).padStart(7)} s  ${t.file.padEnd(width)}  (${t.label})\n`);
}
process.stdout.write(`\n${lines.join('\n')}\n`);
process.stdout.write(`${tally.passed} passed, ${tally.failed} failed${tally.skipped ? `, ${tally.skipped} skipped` : ''}\n`);
rmSync(resultsDir, { recursive: true, force: true });
process.exitCode = tally.failed > 0 ? 1 : 0;
