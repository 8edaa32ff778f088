/**
 * The plain-tool recipe of docs/format.md section 12 ("One blob with plain tools"), taken
 * from the page itself and run by bash with jq, Debian's age, gunzip: it must print the exact
 * plaintext of blobs of an encrypted and of an unencrypted repository (gzip and stored as is).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from '../../../ts-src/helper/crypto/age-stream.js';
import { openRepository, type OpenRepositoryOptions } from '../../../ts-src/helper/repo/repository.js';

const FORMAT_MD = fileURLToPath(new URL('../../../docs/format.md', import.meta.url));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_repo_plain_'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The shell block between the recipe markers, without its example call. */
function recipe(): string {
  const page = readFileSync(FORMAT_MD, 'utf8');
  const block = /<!-- blob-recipe -->\n```sh\n([\s\S]*?)```\n<!-- \/blob-recipe -->/.exec(page);
  assert.ok(block, 'docs/format.md has the blob recipe between its markers');
  const lines = block[1].split('\n');
  assert.match(lines[0], /^REPO=.*; KEY=/);
  return lines.filter((line) => !line.startsWith('blob 3f5c')).slice(1).join('\n');
}

async function runRecipe(root: string, keyFile: string, ids: string[]): Promise<Buffer[]> {
  const work = mkdtempSync(join(dir, 'work-'));
  return ids.map((id) => {
    const script = `REPO=${JSON.stringify(root)}; KEY=${JSON.stringify(keyFile)}\n${recipe()}\nblob ${id}\n`;
    const run = spawnSync('bash', ['-c', script], { cwd: work, maxBuffer: 1 << 26 });
    assert.equal(run.status, 0, run.stderr.toString());
    return run.stdout;
  });
}

describe('plain-tool recipe for one blob (docs/format.md section 12)', () => {
  for (const encrypted of [true, false]) {
    test(encrypted ? 'encrypted repository' : 'unencrypted repository', async () => {
      const { identity, recipient } = await generateIdentity();
      const keyFile = join(dir, `key-${encrypted}.txt`);
      writeFileSync(keyFile, `${identity}\n`, { mode: 0o600 });
      const root = join(dir, `repo-${encrypted}`);
      const options: OpenRepositoryOptions = { create: true, compression: 'gzip', level: 6, packTargetBytes: 60_000, stateDir: join(dir, 'state'), ...(encrypted ? { encryption: { recipients: [recipient] } } : {}) };
      const repo = await openRepository(root, options);
      const writer = await repo.writer();
      const contents = [Buffer.from('INSERT INTO civicrm_contact VALUES (1);\n'.repeat(5000)), randomBytes(100_000), randomBytes(70_000), Buffer.alloc(0), Buffer.from('x')];
      const ids: string[] = [];
      for (const content of contents) ids.push(await writer.put(content));
      assert.ok((await writer.finish()).length >= 2, 'blobs in more than one pack');
      const outputs = await runRecipe(root, keyFile, ids);
      outputs.forEach((output, i) => assert.ok(output.equals(contents[i]), `blob ${i} (${contents[i].length} bytes)`));
    });
  }
});
