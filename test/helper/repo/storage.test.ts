/**
 * The unencrypted repository on a real directory: blobs in, blobs out (after reopening),
 * dedup within a run and across runs, per-blob encodings, packs closed at the size target
 * and named by their SHA-256, index files only for durable packs, damage reported naming the
 * pack, abort leaving no temp pack.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { isRepository, openRepository, type Repository } from '../../../ts-src/helper/repo/repository.js';
import { indexPath, packPath, parsePackIndex } from '../../../ts-src/helper/repo/layout.js';
import { PACK_MAX_BLOBS } from '../../../ts-src/helper/repo/pack-writer.js';
import { zstdAvailable } from '../../../ts-src/helper/set/codec.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_repo_storage_'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const text = (n: number, seed: string): Buffer => Buffer.from(`${seed} `.repeat(Math.ceil(n / (seed.length + 1))).slice(0, n));

function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

async function open(root: string, extra: { packTargetBytes?: number; create?: boolean } = {}): Promise<Repository> {
  return openRepository(root, { create: extra.create ?? true, compression: 'gzip', level: 6, packTargetBytes: extra.packTargetBytes });
}

describe('repository storage (unencrypted)', () => {
  test('a missing repository is CONFIG unless created; repository.json is written once', async () => {
    const root = join(dir, 'create');
    assert.equal(await isRepository(root), false);
    await assert.rejects(openRepository(root, { compression: 'gzip', level: 6 }), (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && /no deduplicated repository/.test(e.message));
    const repo = await open(root);
    assert.equal(await isRepository(root), true);
    assert.match(repo.id, /^[0-9a-f]{16}$/);
    assert.equal(repo.encrypted, false);
    const again = await open(root);
    assert.equal(again.id, repo.id, 'a second create keeps the first repository.json');
  });

  test('round trip, encodings, dedup in a run and across runs, pack size, index after pack', async () => {
    const root = join(dir, 'roundtrip');
    const repo = await open(root, { packTargetBytes: 256 * 1024 });
    const writer = await repo.writer();
    const compressible = text(300_000, 'civicrm contact row');
    const random = randomBytes(200_000);
    const jpegLike = text(100_000, 'pretend this is a jpeg');
    const empty = Buffer.alloc(0);
    const many = Array.from({ length: 40 }, (_, i) => randomBytes(20_000 + i));
    const ids = {
      compressible: await writer.put(compressible),
      random: await writer.put(random),
      jpeg: await writer.put(jpegLike, { compressible: false }),
      empty: await writer.put(empty),
    };
    const manyIds = await Promise.all(many.map((b) => writer.put(b)));
    assert.equal(ids.compressible, sha256(compressible), 'the id of an unencrypted blob is the SHA-256 of its content');
    assert.equal(writer.idOf(random), sha256(random));
    assert.equal(await writer.put(Buffer.from(compressible)), ids.compressible, 'the same content again');
    assert.equal(writer.stats.newBlobs, 4 + many.length, 'stored once');
    assert.ok(writer.has(ids.random));
    const packs = await writer.finish();
    assert.ok(packs.length >= 3, `small target: several packs (${packs.length})`);

    for (const pack of packs) {
      const bytes = readFileSync(packPath(root, pack));
      assert.equal(sha256(bytes), pack, 'a pack is named by the SHA-256 of its bytes');
      const index = parsePackIndex(readFileSync(indexPath(root, pack), 'utf8'), pack);
      for (const [, offset, length, , , storedSha] of index.blobs) assert.equal(sha256(bytes.subarray(offset, offset + length)), storedSha);
    }
    assert.deepEqual(filesUnder(join(root, 'tmp')), [], 'no temp pack is left');
    for (const file of filesUnder(root)) assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is private`);
    assert.equal(statSync(join(root, 'data', packs[0].slice(0, 2))).mode & 0o777, 0o700);
    assert.ok(writer.stats.addedBytes < compressible.length + random.length + jpegLike.length + many.reduce((s, b) => s + b.length, 0));

    const reopened = await open(root);
    const reader = reopened.reader();
    assert.deepEqual(await reader.get(ids.compressible), compressible);
    assert.deepEqual(await reader.get(ids.random), random);
    assert.deepEqual(await reader.get(ids.jpeg), jpegLike);
    assert.deepEqual(await reader.get(ids.empty), empty);
    for (const [i, id] of manyIds.entries()) assert.deepEqual(await reader.get(id), many[i]);
    assert.equal(reader.rawLength(ids.compressible), compressible.length);
    assert.ok((reader.storedLength(ids.compressible) as number) < compressible.length / 10, 'text is gzipped');
    assert.equal(reader.storedLength(ids.random), random.length, 'random bytes are stored as they are');
    assert.equal(reader.storedLength(ids.jpeg), jpegLike.length, 'compressible: false stores as it is');
    assert.equal(reopened.packs().size, packs.length);
    assert.ok(packs.includes(reader.packOf(ids.random) as string));

    const second = await reopened.writer();
    for (const b of [compressible, random, ...many]) await second.put(b);
    assert.equal(second.stats.newBlobs, 0, 'a later run stores nothing it finds in the index');
    const fresh = randomBytes(1000);
    await second.put(fresh);
    assert.equal(second.stats.newBlobs, 1);
    assert.equal((await second.finish()).length, 1);
    assert.deepEqual(await reopened.reader().get(sha256(fresh)), fresh, 'the writer\'s packs are readable through the same repository object');
  });

  test('a flipped byte, a missing pack and an unknown id are SET_DAMAGED naming the pack', async () => {
    const root = join(dir, 'damage');
    const repo = await open(root);
    const writer = await repo.writer();
    const a = await writer.put(text(50_000, 'alpha'));
    const b = await writer.put(randomBytes(50_000));
    const [pack] = await writer.finish();
    const path = packPath(root, pack);
    const bytes = readFileSync(path);
    const reader = (await open(root)).reader();
    const offsetOfB = reader.storedLength(a) as number;
    bytes[offsetOfB + 10] ^= 0x01;
    writeFileSync(path, bytes);
    await assert.rejects(reader.get(b), (e: unknown) => e instanceof BackupError && e.code === 'SET_DAMAGED' && e.message.includes(pack));
    bytes[Math.floor(offsetOfB / 2)] ^= 0x01; // inside a's deflate data (a flip in the gzip header's MTIME would pass: check.ts finds that)
    writeFileSync(path, bytes);
    await assert.rejects(reader.get(a), (e: unknown) => e instanceof BackupError && e.code === 'SET_DAMAGED' && e.message.includes(pack));
    rmSync(path);
    await assert.rejects(reader.get(a), (e: unknown) => e instanceof BackupError && e.code === 'SET_DAMAGED' && /missing/.test(e.message) && e.message.includes(pack));
    await assert.rejects(reader.get('0'.repeat(64)), (e: unknown) => e instanceof BackupError && e.code === 'SET_DAMAGED' && /not in the repository index/.test(e.message));
  });

  test('the same content put many times at once is stored once; two backups writing at once both stay readable', async () => {
    const root = join(dir, 'concurrent');
    const repo = await open(root, { packTargetBytes: 100_000 });
    const writer = await repo.writer();
    const same = randomBytes(50_000);
    const ids = await Promise.all(Array.from({ length: 10 }, () => writer.put(Buffer.from(same))));
    assert.equal(new Set(ids).size, 1);
    assert.equal(writer.stats.newBlobs, 1);
    // A second backup (its own repository object, as another process would have) at the same time.
    const other = await (await open(root, { packTargetBytes: 100_000 })).writer();
    const a = Array.from({ length: 8 }, () => randomBytes(30_000));
    const b = Array.from({ length: 8 }, () => randomBytes(30_000));
    const [idsA, idsB] = await Promise.all([Promise.all(a.map((x) => writer.put(x))), Promise.all(b.map((x) => other.put(x)))]);
    await Promise.all([writer.finish(), other.finish()]);
    const reader = (await open(root)).reader();
    for (const [i, id] of idsA.entries()) assert.ok((await reader.get(id)).equals(a[i]));
    for (const [i, id] of idsB.entries()) assert.ok((await reader.get(id)).equals(b[i]));
    assert.ok((await reader.get(ids[0])).equals(same));
  });

  test('zstd blobs round-trip', { skip: !zstdAvailable() && 'zstd needs Node.js 22.15 or newer' }, async () => {
    const root = join(dir, 'zstd');
    const repo = await openRepository(root, { create: true, compression: 'zstd', level: 3 });
    const writer = await repo.writer();
    const content = text(200_000, 'zstd compressed rows');
    const id = await writer.put(content);
    await writer.finish();
    const reader = (await openRepository(root, { compression: 'zstd', level: 3 })).reader();
    assert.ok((await reader.get(id)).equals(content));
    assert.ok((reader.storedLength(id) as number) < content.length / 10);
  });

  test('a write failure surfaces as BackupError on a later put or on finish, never a hang; the caller may reuse its buffer', async () => {
    const root = join(dir, 'failing');
    const repo = await open(root);
    writeFileSync(join(root, 'tmp'), 'a file where the temp directory should be');
    const writer = await repo.writer();
    const outcome = await (async () => {
      try {
        for (let i = 0; i < 20; i += 1) await writer.put(randomBytes(10_000));
        await writer.finish();
        return 'no error';
      } catch (error) {
        return error;
      }
    })();
    assert.ok(outcome instanceof BackupError, String(outcome));
    await writer.abort();

    const ok = await (await open(join(dir, 'reuse'))).writer();
    const buffer = Buffer.from(text(100_000, 'first content'));
    const firstId = await ok.put(buffer);
    buffer.fill(0x41); // the caller reuses its buffer once put() has resolved
    const secondId = await ok.put(buffer);
    await ok.finish();
    const reader = (await open(join(dir, 'reuse'))).reader();
    assert.ok((await reader.get(firstId)).equals(text(100_000, 'first content')));
    assert.ok((await reader.get(secondId)).equals(Buffer.alloc(100_000, 0x41)));
  });

  test('the pack worker thread: handed-over buffers stored exactly, packs closing while the next fills, stored hashes right, an abandoned writer never keeps the process alive', async () => {
    const root = join(dir, 'worker');
    const repo = await open(root, { packTargetBytes: 64 * 1024 });
    const writer = await repo.writer();
    const contents = Array.from({ length: 60 }, (_, i) => randomBytes(9_000 + i * 37));
    const copies = contents.map((c) => Buffer.from(c));
    // Puts at once: several packs fill and close while later blobs arrive.
    const ids = await Promise.all(contents.map((content, i) => writer.put(content, { compressible: false, handOver: i % 2 === 0 })));
    const packs = await writer.finish();
    assert.ok(packs.length >= 8, `${packs.length} packs of 64 KiB`);
    const reader = (await open(root, { create: false })).reader();
    for (const [i, id] of ids.entries()) assert.ok((await reader.get(id)).equals(copies[i]!), `blob ${i}`);
    for (const pack of packs) {
      const bytes = readFileSync(packPath(root, pack));
      assert.equal(sha256(bytes), pack, 'a pack is named by the SHA-256 of its bytes');
      for (const [, offset, length, , , stored] of parsePackIndex(readFileSync(indexPath(root, pack), 'utf8'), pack).blobs) {
        assert.equal(sha256(bytes.subarray(offset, offset + length)), stored, 'each index entry has the SHA-256 of its stored bytes');
      }
    }
    assert.deepEqual(filesUnder(join(root, 'tmp')), []);

    // A run that fails elsewhere and never finishes nor aborts its writer must still end.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', `
        const { openRepository } = await import(${JSON.stringify(new URL('../../../ts-src/helper/repo/repository.ts', import.meta.url).href)});
        const repo = await openRepository(${JSON.stringify(join(dir, 'abandoned'))}, { create: true, compression: 'gzip', level: 6 });
        const writer = await repo.writer();
        await writer.put(Buffer.alloc(100_000, 7));
        console.log('put done');
      `],
      { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(child.signal, null, 'the process ended by itself (not killed after 30 s)');
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /put done/);
  });

  test('abort deletes the open temp pack and writes no index', async () => {
    const root = join(dir, 'abort');
    const repo = await open(root);
    const writer = await repo.writer();
    await writer.put(randomBytes(10_000));
    assert.equal(filesUnder(join(root, 'tmp')).length, 1);
    await writer.abort();
    assert.deepEqual(filesUnder(join(root, 'tmp')), []);
    assert.deepEqual(filesUnder(join(root, 'index')), []);
    assert.deepEqual(filesUnder(join(root, 'data')), []);
  });

  test('an unencrypted repository refuses an encrypted backup instead of storing plaintext', async () => {
    const root = join(dir, 'mismatch');
    await open(root);
    const repo = await openRepository(root, { create: true, compression: 'gzip', level: 6, encryption: { recipients: ['age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq'] } });
    await assert.rejects(repo.writer(), (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && /not encrypted/.test(e.message));
  });
  test('a pack also closes at PACK_MAX_BLOBS blobs (its entries are held in memory until it closes); the set accounting counts each blob once', async () => {
    const root = join(dir, 'many-small');
    const repo = await open(root); // 16 MiB target: only the blob count closes these packs
    const writer = await repo.writer();
    const count = PACK_MAX_BLOBS * 2 + 100;
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) ids.push(await writer.put(Buffer.from(`small file ${i}`)));
    const packs = await writer.finish();
    assert.equal(packs.length, 3);
    const sizes = packs.map((pack) => parsePackIndex(readFileSync(indexPath(root, pack), 'utf8'), pack).blobs.length).sort((a, b) => a - b);
    assert.deepEqual(sizes, [100, PACK_MAX_BLOBS, PACK_MAX_BLOBS]);
    const references = repo.references();
    for (const id of [...ids, ...ids.slice(0, 500)]) assert.equal(references.add(id), true);
    assert.equal(references.add('0'.repeat(64)), false, 'an id in no pack');
    assert.equal(references.blobs, count);
    assert.deepEqual([...references.packs.keys()].sort(), [...packs].sort());
    assert.equal(references.referencedBytes, writer.stats.addedBytes);
  });
});
