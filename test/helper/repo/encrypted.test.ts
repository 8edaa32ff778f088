/**
 * The encrypted repository: ids are HMAC-SHA256(idKey) (not the SHA-256 anyone could compute),
 * the idKey is cached in the state dir and stored as keys/idkey.age for the recipients, a new
 * machine with the secret key continues the same dedup, one without it starts a new idKey
 * with a warning; readers need an identity (WRONG_KEY otherwise); a blob cut out of a real
 * pack decrypts with `age -d | gunzip`; a flipped byte is SET_DAMAGED naming the pack.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { generateIdentity } from '../../../ts-src/helper/crypto/age-stream.js';
import { indexPath, packPath, parsePackIndex } from '../../../ts-src/helper/repo/layout.js';
import { openRepository, type OpenRepositoryOptions } from '../../../ts-src/helper/repo/repository.js';
import { ageCli } from '../crypto/age-cli.js';

let dir: string;
let key: { identity: string; recipient: string; keyFile: string };
let other: { identity: string; recipient: string };
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_repo_enc_'));
  const pair = await generateIdentity();
  key = { ...pair, keyFile: join(dir, 'key.txt') };
  writeFileSync(key.keyFile, `${pair.identity}\n`, { mode: 0o600 });
  other = await generateIdentity();
});
after(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const text = (n: number, seed: string): Buffer => Buffer.from(`${seed} `.repeat(Math.ceil(n / (seed.length + 1))).slice(0, n));

describe('encrypted repository', () => {
  test("blob ids are HMAC-SHA256(idKey, SHA-256(content)) (repository.json ids 'hmac-of-sha256'); a caller's SHA-256 gives the same id; a repository without `ids` keeps HMAC of the content", async () => {
    const root = join(dir, 'id-scheme');
    const stateDir = join(dir, 'id-scheme-state');
    const options: OpenRepositoryOptions = { create: true, compression: 'gzip', level: 6, encryption: { recipients: [key.recipient] }, stateDir };
    const repo = await openRepository(root, options);
    assert.equal(JSON.parse(readFileSync(join(root, 'repository.json'), 'utf8')).idScheme, 'hmac-of-sha256');
    const writer = await repo.writer();
    const idKey = Buffer.from(readFileSync(join(stateDir, `${repo.id}.idkey`), 'utf8').trim(), 'hex');
    const letter = text(50_000, 'gift aid declaration');
    const digest = createHash('sha256').update(letter).digest();
    const expected = createHmac('sha256', idKey).update(digest).digest('hex');
    assert.equal(writer.idOf(letter), expected);
    assert.equal(await writer.put(letter, { contentSha256: digest }), expected);
    assert.equal(await writer.put(Buffer.from(letter)), expected, 'the same content without the digest: the same id, stored once');
    assert.equal(writer.stats.newBlobs, 1);
    await writer.finish();
    const reader = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [key.identity], passphrases: [] } })).reader();
    assert.ok((await reader.get(expected)).equals(letter), 'the reader checks content against its id under the same scheme');

    // A repository of an earlier development build (no `ids`): ids stay HMAC of the content.
    const oldRoot = join(dir, 'id-scheme-old');
    const old = await openRepository(oldRoot, { ...options, stateDir: join(dir, 'id-scheme-old-state') });
    const config = JSON.parse(readFileSync(join(oldRoot, 'repository.json'), 'utf8'));
    delete config.idScheme;
    writeFileSync(join(oldRoot, 'repository.json'), JSON.stringify(config));
    const oldWriter = await (await openRepository(oldRoot, { ...options, stateDir: join(dir, 'id-scheme-old-state') })).writer();
    const oldKey = Buffer.from(readFileSync(join(dir, 'id-scheme-old-state', `${old.id}.idkey`), 'utf8').trim(), 'hex');
    const oldId = await oldWriter.put(letter, { contentSha256: digest });
    assert.equal(oldId, createHmac('sha256', oldKey).update(letter).digest('hex'));
    await oldWriter.finish();
    const oldReader = (await openRepository(oldRoot, { compression: 'gzip', level: 6, decryption: { identities: [key.identity], passphrases: [] } })).reader();
    assert.ok((await oldReader.get(oldId)).equals(letter));
  });

  test('HMAC ids, idKey cache and keys/idkey.age, dedup across runs and machines, readers need the key', async () => {
    const root = join(dir, 'repo');
    const stateDir = join(dir, 'state');
    const base = (extra: Partial<OpenRepositoryOptions> = {}): OpenRepositoryOptions => ({
      create: true,
      compression: 'gzip',
      level: 6,
      encryption: { recipients: [key.recipient] },
      stateDir,
      ...extra,
    });
    const repo = await openRepository(root, base());
    assert.equal(repo.encrypted, true);
    const writer = await repo.writer();
    const doc = text(200_000, 'membership renewal letter');
    const noise = randomBytes(70_000);
    const docId = await writer.put(doc);
    const noiseId = await writer.put(noise);
    assert.notEqual(docId, sha256(doc), 'the id is not the plain SHA-256 (that would reveal known files)');
    assert.match(docId, /^[0-9a-f]{64}$/);
    const [pack] = await writer.finish();

    const cache = join(stateDir, `${repo.id}.idkey`);
    assert.equal(statSync(cache).mode & 0o777, 0o600, 'the cached idKey is private');
    const stored = ageCli(['-d', '-i', key.keyFile], readFileSync(join(root, 'keys', 'idkey.age')));
    assert.equal(stored.toString('hex'), readFileSync(cache, 'utf8').trim(), 'keys/idkey.age holds the cached key, for the recipients');

    // Nothing in the pack or index shows the plaintext or its SHA-256.
    const packBytes = readFileSync(packPath(root, pack));
    assert.equal(packBytes.indexOf(Buffer.from('membership renewal')), -1);
    assert.equal(readFileSync(indexPath(root, pack), 'utf8').includes(sha256(doc)), false);

    const reader = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [key.identity], passphrases: [] } })).reader();
    assert.ok((await reader.get(docId)).equals(doc));
    assert.ok((await reader.get(noiseId)).equals(noise));
    const keyless = (await openRepository(root, { compression: 'gzip', level: 6 })).reader();
    await assert.rejects(keyless.get(docId), (e: unknown) => e instanceof BackupError && e.code === 'WRONG_KEY' && /--identity/.test(e.message));
    const wrong = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [other.identity], passphrases: [] } })).reader();
    await assert.rejects(wrong.get(docId), (e: unknown) => e instanceof BackupError && e.code === 'WRONG_KEY');

    // Same machine, cached key: dedup.
    const again = await (await openRepository(root, base())).writer();
    assert.equal(await again.put(doc), docId);
    assert.equal(again.stats.newBlobs, 0);
    await again.finish();

    // New machine with the secret key: the key comes from keys/idkey.age, dedup continues.
    const warnings: string[] = [];
    const otherState = join(dir, 'state-2');
    const withIdentity = await (await openRepository(root, base({ stateDir: otherState, decryption: { identities: [key.identity], passphrases: [] }, onWarning: (c) => warnings.push(c) }))).writer();
    assert.equal(await withIdentity.put(doc), docId);
    assert.equal(withIdentity.stats.newBlobs, 0);
    await withIdentity.finish();
    assert.equal(warnings.length, 0, warnings.join());
    assert.ok(existsSync(join(otherState, `${repo.id}.idkey`)));

    // New machine without it: a new idKey and a warning, nothing breaks, the first key file stays.
    const blind = await (await openRepository(root, base({ stateDir: join(dir, 'state-3'), onWarning: (c) => warnings.push(c) }))).writer();
    const blindId = await blind.put(doc);
    assert.notEqual(blindId, docId);
    assert.equal(blind.stats.newBlobs, 1);
    await blind.finish();
    assert.ok(warnings.includes('IDKEY_NEW'), warnings.join());
    assert.ok(readdirSync(join(root, 'keys')).some((n) => /^idkey-[0-9a-f]{8}\.age$/.test(n)));
    assert.equal(ageCli(['-d', '-i', key.keyFile], readFileSync(join(root, 'keys', 'idkey.age'))).toString('hex'), readFileSync(cache, 'utf8').trim());
    const reread = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [key.identity], passphrases: [] } })).reader();
    assert.ok((await reread.get(blindId)).equals(doc), 'both copies readable: readers never need the idKey');
  });

  test('a blob cut out of a real pack: age -d | gunzip gives the content; a flipped byte is SET_DAMAGED naming the pack', async () => {
    const root = join(dir, 'plain-tools');
    const repo = await openRepository(root, { create: true, compression: 'gzip', level: 6, encryption: { recipients: [key.recipient] }, stateDir: join(dir, 'state-pt') });
    const writer = await repo.writer();
    const content = text(300_000, 'contribution receipt');
    const id = await writer.put(content);
    const [pack] = await writer.finish();
    const index = parsePackIndex(readFileSync(indexPath(root, pack), 'utf8'), pack);
    const [, offset, length, encoding] = index.blobs.find(([blob]) => blob === id) ?? assert.fail('blob not indexed');
    assert.equal(encoding, 'gzip');
    const run = spawnSync('bash', ['-c', `{ head -c ${index.header} "$1"; tail -c +$((${offset}+1)) "$1" | head -c ${length}; } | age -d -i "$2" | gunzip`, 'bash', packPath(root, pack), key.keyFile], {
      maxBuffer: 1 << 26,
    });
    assert.equal(run.status, 0, run.stderr.toString());
    assert.ok(run.stdout.equals(content));

    const path = packPath(root, pack);
    const bytes = readFileSync(path);
    bytes[offset + Math.floor(length / 2)] ^= 0x01;
    writeFileSync(path, bytes);
    const reader = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [key.identity], passphrases: [] } })).reader();
    await assert.rejects(reader.get(id), (e: unknown) => e instanceof BackupError && e.code === 'SET_DAMAGED' && e.message.includes(pack));
  });

  test('an index file altered to point an id at another (authentic) blob is caught by a reader with the key', async () => {
    const root = join(dir, 'swapped');
    const repo = await openRepository(root, { create: true, compression: 'gzip', level: 6, encryption: { recipients: [key.recipient] }, stateDir: join(dir, 'state-sw') });
    const writer = await repo.writer();
    const first = text(10_000, 'first table rows');
    const second = text(10_000, 'other table rows');
    const firstId = await writer.put(first);
    const secondId = await writer.put(second);
    const [pack] = await writer.finish();
    const index = JSON.parse(readFileSync(indexPath(root, pack), 'utf8')) as { blobs: [string, ...unknown[]][] };
    for (const entry of index.blobs) entry[0] = entry[0] === firstId ? secondId : firstId;
    writeFileSync(indexPath(root, pack), JSON.stringify(index));
    const reader = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [key.identity], passphrases: [] } })).reader();
    await assert.rejects(reader.get(firstId), (e: unknown) => e instanceof BackupError && e.code === 'SET_DAMAGED' && /not the content its id names/.test(e.message) && e.message.includes(pack));
  });

  test('passphrase repository: one scrypt header per run, readable with the passphrase', async () => {
    const root = join(dir, 'passphrase');
    const encryption = { recipients: [], passphrase: 'long enough passphrase', scryptWorkFactor: 10 };
    const repo = await openRepository(root, { create: true, compression: 'gzip', level: 6, encryption, stateDir: join(dir, 'state-pp'), packTargetBytes: 100_000 });
    const writer = await repo.writer();
    const blobs = Array.from({ length: 6 }, () => randomBytes(60_000));
    const ids: string[] = [];
    for (const b of blobs) ids.push(await writer.put(b));
    assert.ok((await writer.finish()).length >= 3);
    const reader = (await openRepository(root, { compression: 'gzip', level: 6, decryption: { identities: [], passphrases: ['long enough passphrase'] } })).reader();
    for (const [i, id] of ids.entries()) assert.ok((await reader.get(id)).equals(blobs[i]));
    // Without the state dir the passphrase itself opens keys/idkey.age: same ids.
    const again = await (await openRepository(root, { compression: 'gzip', level: 6, encryption, stateDir: join(dir, 'state-pp2') })).writer();
    assert.equal(again.idOf(blobs[0]), ids[0]);
  });

  test('an encrypted repository refuses a backup without encryption keys', async () => {
    const root = join(dir, 'refuse');
    await openRepository(root, { create: true, compression: 'gzip', level: 6, encryption: { recipients: [key.recipient] } });
    const plain = await openRepository(root, { create: true, compression: 'gzip', level: 6 });
    await assert.rejects(plain.writer(), (e: unknown) => e instanceof BackupError && e.code === 'CONFIG' && /--recipient/.test(e.message));
  });
});
