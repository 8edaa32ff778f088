/** Builds the release zip for tests, from the dist/ bundles already built (never rebuilding dist/ under other tests). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './paths.js';

export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs scripts/package.mjs --no-build --out outDir; returns the zip's path. */
export function buildReleaseZip(outDir: string): string {
  const run = spawnSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'package.mjs'), '--no-build', '--out', outDir], { encoding: 'utf8' });
  assert.equal(run.status, 0, `package.mjs failed: ${run.stderr}${run.stdout}`);
  const zip = join(outDir, `civibackup-${PACKAGE_VERSION}.zip`);
  assert.ok(existsSync(zip), `${zip} was not written`);
  return zip;
}
