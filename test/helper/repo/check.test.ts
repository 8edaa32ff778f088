/**
 * Quick verify without keys: a flipped byte in a blob, in an encrypted pack's shared header,
 * a truncated pack, a missing pack, a missing index file and an unknown id are each reported
 * for exactly the blobs they affect (so the caller can name every set referencing them),
 * and an intact repository reports nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from '../../../ts-src/helper/crypto/age-stream.js';
import { checkBlobs, checkBlobsStreamed } from '../../../ts-src/helper/repo/check.js';
import { indexPath, packPath, parsePackIndex } from '../../../ts-src/helper/repo/layout.js';
import { openRepository, type OpenRepositoryOptions, type Repository } from '../../../ts-src/helper/repo/repository.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_repo_check_'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function build(root: string, extra: Partial<OpenRepositoryOptions> = {}): Promise<{ repo: Repository; ids: string[]; packs: string[] }> {
  const options: OpenRepositoryOptions = { create: true, compression: 'gzip', level: 6, packTargetBytes: 100_000, ...extra };
  const repo = await openRepository(root, options);
  const writer = await repo.writer();
  const ids: string[] = [];
  for (let i = 0; i < 15; i += 1) ids.push(await writer.put(randomBytes(30_000)));
  const packs = await writer.finish();
  return { repo: await openRepository(root, options), ids, packs };
}

const blobsOf = (repo: Repository, ids: string[], pack: string): string[] => ids.filter((id) => repo.reader().packOf(id) === pack);

describe('checkBlobs', () => {
  test('intact: nothing; each kind of damage names exactly the affected blobs', async () => {
    const root = join(dir, 'plain');
    const { repo, ids, packs } = await build(root);
    assert.ok(packs.length >= 4);
    assert.deepEqual(await checkBlobs(repo, [...ids, ...ids]), []);

    // A flipped byte in the third blob of pack 0.
    const [p0, p1, p2, p3] = packs;
    const index0 = parsePackIndex(readFileSync(indexPath(root, p0), 'utf8'), p0);
    const [victim, offset, length] = index0.blobs[1];
    const bytes = readFileSync(packPath(root, p0));
    bytes[offset + Math.floor(length / 3)] ^= 0x80;
    writeFileSync(packPath(root, p0), bytes);
    // Pack 1 truncated in its last blob, pack 2 deleted, pack 3's index deleted.
    const index1 = parsePackIndex(readFileSync(indexPath(root, p1), 'utf8'), p1);
    const last1 = index1.blobs[index1.blobs.length - 1];
    truncateSync(packPath(root, p1), last1[1] + 10);
    rmSync(packPath(root, p2));
    rmSync(indexPath(root, p3));
    const unknown = 'f'.repeat(64);

    const problems = await checkBlobs(repo, [...ids, unknown]);
    const byId = new Map(problems.map((p) => [p.id, p]));
    assert.equal(byId.get(victim)?.pack, p0);
    assert.match(byId.get(victim)?.problem ?? '', /altered/);
    assert.equal(problems.filter((p) => p.pack === p0).length, 1, 'only the flipped blob of pack 0');
    assert.deepEqual(problems.filter((p) => p.pack === p1).map((p) => p.id), [last1[0]]);
    assert.match(byId.get(last1[0])?.problem ?? '', /truncated/);
    assert.deepEqual(new Set(problems.filter((p) => p.pack === p2).map((p) => p.id)), new Set(blobsOf(repo, ids, p2)));
    assert.match(problems.find((p) => p.pack === p2)?.problem ?? '', /missing/);
    assert.deepEqual(new Set(problems.filter((p) => p.pack === p3).map((p) => p.id)), new Set(blobsOf(repo, ids, p3)));
    assert.match(problems.find((p) => p.pack === p3)?.problem ?? '', /index file .* is missing/);
    assert.match(byId.get(unknown)?.problem ?? '', /no index file/);
    const expected = 1 + 1 + blobsOf(repo, ids, p2).length + blobsOf(repo, ids, p3).length + 1;
    assert.equal(problems.length, expected);
    // Only blobs asked about are reported.
    assert.deepEqual(await checkBlobs(repo, blobsOf(repo, ids, packs[4] ?? p0).filter((id) => id !== victim)), []);
    // The streamed check (a restore's, bits per index entry instead of sets of ids) reports the same.
    const key = (p: { id: string; pack?: string; problem: string }): string => `${p.id} ${p.pack ?? ''} ${p.problem}`;
    const streamed = await checkBlobsStreamed(repo, async (need) => {
      for (const id of [...ids, ...ids, unknown]) need(id);
    });
    assert.deepEqual(streamed.map(key).sort(), problems.map(key).sort());
    assert.deepEqual(await checkBlobsStreamed(repo, blobsOf(repo, ids, packs[4] ?? p0).filter((id) => id !== victim)), []);
  });

  test('a flipped byte in an encrypted pack\'s age header: every blob of that pack, none elsewhere', async () => {
    const { recipient } = await generateIdentity();
    const root = join(dir, 'encrypted');
    const { repo, ids, packs } = await build(root, { encryption: { recipients: [recipient] }, stateDir: join(dir, 'state') });
    assert.deepEqual(await checkBlobs(repo, ids), []);
    const bytes = readFileSync(packPath(root, packs[0]));
    bytes[30] ^= 0x01; // inside the header's stanza
    writeFileSync(packPath(root, packs[0]), bytes);
    const problems = await checkBlobs(repo, ids);
    assert.deepEqual(new Set(problems.map((p) => p.id)), new Set(blobsOf(repo, ids, packs[0])));
    assert.ok(problems.every((p) => p.pack === packs[0] && /age header/.test(p.problem)));
  });

  test('blobs that cross the 1 MiB read chunks: intact is clean, a flipped byte in one names only it', async () => {
    const root = join(dir, 'chunks');
    const options: OpenRepositoryOptions = { create: true, compression: 'gzip', level: 1 };
    const writer = await (await openRepository(root, options)).writer();
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push(await writer.put(randomBytes(700_000)));
    const [pack] = await writer.finish();
    const repo = await openRepository(root, options);
    assert.deepEqual(await checkBlobs(repo, ids), []);
    assert.deepEqual(await checkBlobsStreamed(repo, ids), []);
    const index = parsePackIndex(readFileSync(indexPath(root, pack), 'utf8'), pack);
    const crossing = index.blobs.find(([, offset, length]) => Math.floor(offset / 1048576) !== Math.floor((offset + length - 1) / 1048576))!;
    const bytes = readFileSync(packPath(root, pack));
    bytes[crossing[1] + crossing[2] - 5] ^= 0x01; // past the chunk boundary
    writeFileSync(packPath(root, pack), bytes);
    assert.deepEqual((await checkBlobs(repo, ids)).map((p) => p.id), [crossing[0]]);
  });
});
