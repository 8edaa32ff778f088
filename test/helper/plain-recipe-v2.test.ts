/**
 * docs/disaster-recovery.md, "A deduplicated set with plain tools", followed literally: the
 * built helper makes a deduplicated (format v2) set of a CiviCRM-shaped database and a
 * directory with odd names; then the page's ```sh dr-test=v2-* blocks run in one bash session
 * (bash, jq, age, gzip, sha256sum, coreutils, the mariadb client; no node on PATH) against
 * the destination, and the restored database (CHECKSUM TABLE EXTENDED of every table, SHOW
 * CREATE of every object) and tree (type, content, mode, mtime, link target of every entry)
 * must equal the originals. Once with an encrypted set, once with an unencrypted one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile, chmod, lutimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseShape } from './support/compare-db.js';
import { createFixture } from './support/fixture-db.js';
import { diffSnapshots, snapshotTree } from './support/files-fixtures.js';
import { assertBundleBuilt, runHelperAsync } from './support/helper-run.js';
import { createDatabase, dropDatabase, dsnText, mariadbCli, uniqueName, withRoot } from './support/mariadb.js';
import { PROJECT_ROOT } from './support/paths.js';

const RUNBOOK = join(PROJECT_ROOT, 'docs', 'disaster-recovery.md');
/** The blocks of the recipe, in the order the page gives them. */
const RECIPE_BLOCKS = ['v2-blob', 'v2-catalog', 'v2-db', 'v2-files-functions', 'v2-files'];

/** The ```sh dr-test=NAME blocks of the runbook, by name. */
function runbookBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of markdown.matchAll(/^```sh dr-test=([a-z0-9-]+)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)) blocks.set(match[1]!, match[2]!);
  return blocks;
}

let work: string;
let source: string;
let tree: string;
let noNode: string;
const databases: string[] = [];

/** A directory with what a plain-tool restore can get wrong. */
async function makeTree(root: string): Promise<void> {
  const when = (seconds: number) => new Date(Date.UTC(2024, 2, 1, 12, 0, seconds, 0) + 0.123456);
  await mkdir(join(root, 'a/deep/er/still'), { recursive: true });
  await mkdir(join(root, 'read only dir'), { recursive: true });
  await mkdir(join(root, 'many'), { recursive: true });
  await writeFile(join(root, 'a/deep/er/still/bottom.txt'), 'at the bottom\n');
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'big.bin'), Buffer.concat([randomBytes(1024 * 1024), Buffer.from('x'.repeat(300_000))]));
  await writeFile(join(root, 'name with spaces & $dollar "quotes" \'single\'.txt'), 'spaces\n');
  await writeFile(join(root, 'ünïcødé – 日本語.pdf'), randomBytes(5000));
  await writeFile(join(root, 'line\nbreak\tand tab'), 'odd name\n');
  await writeFile(join(root, '-leading-dash'), 'dash\n');
  await writeFile(join(root, 'a/private.key'), 'secret\n', { mode: 0o600 });
  await writeFile(join(root, 'a/script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(join(root, 'read only dir/inside.txt'), 'inside\n');
  // Small files side by side in one folder, the first one empty. The recipe runs about ten
  // processes per file, so a dozen make the point as well as the 150 this once had.
  for (let i = 0; i < 12; i += 1) await writeFile(join(root, 'many', `file-${i}.txt`), `file ${i}\n`.repeat(i));
  await symlink('a/deep/er/still/bottom.txt', join(root, 'link to bottom'));
  await symlink('../nowhere', join(root, 'a/dangling'));
  await chmod(join(root, 'read only dir'), 0o555);
  await chmod(join(root, 'a/deep'), 0o750);
  let second = 0;
  for (const rel of ['a/deep/er/still/bottom.txt', 'empty', 'big.bin', 'a/script.sh', 'read only dir/inside.txt', 'a/deep/er/still', 'a/deep/er', 'a/deep', 'a', 'many', 'read only dir', '.']) {
    await utimes(join(root, rel), when(second), when(second));
    second += 1;
  }
  await lutimes(join(root, 'link to bottom'), when(40), when(40));
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The sysadmin's environment, where `node` (and the helper) may not exist: a `node` that fails comes first.
    const child = spawn('bash', ['-e', '-u', '-c', script], { cwd, env: { PATH: `${noNode}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: cwd, LANG: 'C.UTF-8', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}

before(async () => {
  assertBundleBuilt();
  work = await mkdtemp(join(tmpdir(), 'cbt_plain_v2_'));
  source = uniqueName('cbt_plainv2_src');
  databases.push(source);
  await createDatabase(source);
  // As on CiviCRM sites, and as the runbook creates the new database: objects keep their database collation.
  mariadbCli(`ALTER DATABASE \`${source}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
  createFixture(source);
  noNode = join(work, 'no-node');
  await mkdir(noNode);
  await writeFile(join(noNode, 'node'), '#!/bin/sh\necho "the recipe must not need node" >&2\nexit 127\n', { mode: 0o755 });
  tree = join(work, 'source-tree');
  await mkdir(tree);
  await makeTree(tree);
});

after(async () => {
  for (const name of databases) dropDatabase(name);
  await chmod(join(tree, 'read only dir'), 0o755).catch(() => undefined);
  spawnSync('chmod', ['-R', 'u+rwx', work]);
  await rm(work, { recursive: true, force: true });
});

describe('plain-tool recipe for a deduplicated set (docs/disaster-recovery.md)', () => {
  for (const encrypted of [true, false]) {
    test(encrypted ? 'encrypted set' : 'unencrypted set', async () => {
      const base = join(work, encrypted ? 'enc' : 'plain');
      const destination = join(base, 'destination');
      await mkdir(base);
      const keyFile = join(base, 'key.txt');
      const job: Record<string, unknown> = { version: 1, command: 'backup', to: destination, files: [{ label: 'custom', path: tree }], stateDir: join(base, 'state'), trigger: 'manual' };
      if (encrypted) {
        const keygen = await runHelperAsync(['keygen', '--out', keyFile]);
        assert.equal(keygen.status, 0, keygen.output);
        const recipient = /age1[0-9a-z]{58}/.exec(keygen.output)?.[0];
        assert.ok(recipient, keygen.output);
        job.encryption = { recipients: [recipient] };
      }
      await writeFile(join(base, 'job.json'), JSON.stringify(job));
      const backup = await runHelperAsync(['backup', '--job', join(base, 'job.json')], { CIVIBACKUP_DSN: dsnText(source) });
      assert.equal(backup.status, 0, backup.output.slice(-3000));
      const setId = String(backup.last.set).split('/').pop()!;
      const manifest = JSON.parse(await readFile(join(destination, 'sets', setId, 'manifest.json'), 'utf8')) as { version: number; encryption: unknown };
      assert.equal(manifest.version, 2);
      assert.equal(manifest.encryption !== null, encrypted);

      const restoredDb = uniqueName('cbt_plainv2_new');
      databases.push(restoredDb);
      const target = join(base, 'restored', 'custom');
      const blocks = runbookBlocks(await readFile(RUNBOOK, 'utf8'));
      const script = RECIPE_BLOCKS.map((name) => {
        const block = blocks.get(name);
        assert.ok(block, `docs/disaster-recovery.md has no \`\`\`sh dr-test=${name} block`);
        return block;
      }).join('\n');
      const cwd = join(base, 'recipe');
      await mkdir(cwd);
      await writeFile(join(cwd, '.my.cnf'), '[client]\nhost=127.0.0.1\nuser=root\n');
      const env: Record<string, string> = { DEST: destination, SET_ID: setId, NEW_DB: restoredDb, LABEL: 'custom', FILES_TARGET: target, ...(encrypted ? { KEY_FILE: keyFile } : {}) };
      const run = await bash(script, cwd, env);
      assert.equal(run.status, 0, `the recipe failed (exit ${run.status}):\n--- stderr:\n${run.stderr.slice(-4000)}\n--- stdout:\n${run.stdout.slice(-2000)}`);
      assert.match(run.stdout, /database main: /);
      assert.match(run.stdout, /directory custom: /);

      const expected = await withRoot(source, (c) => databaseShape(c, source, ['civicrm_cache']));
      const restored = await withRoot(restoredDb, (c) => databaseShape(c, restoredDb, ['civicrm_cache']));
      assert.deepEqual(restored.checksums, expected.checksums, 'every table row for row');
      assert.deepEqual(restored.creates, expected.creates, 'every table, view, routine, trigger and event');
      assert.deepEqual(diffSnapshots(await snapshotTree(tree), await snapshotTree(target)), [], 'the tree file for file');
    });
  }
});
