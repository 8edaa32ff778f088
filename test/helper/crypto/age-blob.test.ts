/**
 * Blobs sealed under one shared age header: every blob, cut out of the pack with head/tail and
 * put behind the header, is an age file that Debian's `age -d` decrypts (the command in
 * docs/format.md, run by bash), at the 64 KiB chunk edges; the native opener round-trips and
 * refuses altered or cut blobs, a wrong key and a damaged header.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobOpener, BlobSealer, openSmallAgeFile, prepareBlobKeys } from '../../../ts-src/helper/crypto/age-blob.js';
import { AgeError } from '../../../ts-src/helper/crypto/age-format.js';
import { CHUNK_BYTES } from '../../../ts-src/helper/crypto/age-payload.js';
import { generateIdentity } from '../../../ts-src/helper/crypto/age-stream.js';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { ageCli } from './age-cli.js';

let dir: string;
const keys: { identity: string; recipient: string; keyFile: string }[] = [];
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_age_blob_'));
  for (let i = 0; i < 2; i += 1) {
    const pair = await generateIdentity();
    const keyFile = join(dir, `key${i}.txt`);
    writeFileSync(keyFile, `${pair.identity}\n`, { mode: 0o600 });
    keys.push({ ...pair, keyFile });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SIZES = [0, 1, 1000, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES, 1024 * 1024 + 7];

describe('age blobs under one header', () => {
  test('the plain-tool command decrypts each blob of a pack with the age CLI', async () => {
    const sealer = await BlobSealer.create({ recipients: [keys[0].recipient, keys[1].recipient] });
    const blobs = SIZES.map((n) => randomBytes(n));
    const parts: Buffer[] = [sealer.header];
    const places: { offset: number; length: number }[] = [];
    let offset = sealer.header.length;
    for (const blob of blobs) {
      const sealed = sealer.seal(blob);
      places.push({ offset, length: sealed.length });
      parts.push(sealed);
      offset += sealed.length;
    }
    const pack = join(dir, 'pack');
    writeFileSync(pack, Buffer.concat(parts));
    const H = sealer.header.length;
    for (const [i, { offset: off, length }] of places.entries()) {
      const keyFile = keys[i % 2].keyFile;
      // Exactly the command of docs/format.md, run by bash with the real age (no pipefail: tail
      // dies of SIGPIPE when head has its bytes; the status is age's, which authenticates all).
      const run = spawnSync('bash', ['-c', `{ head -c ${H} "$1"; tail -c +$((${off}+1)) "$1" | head -c ${length}; } | age -d -i "$2"`, 'bash', pack, keyFile], {
        maxBuffer: 1 << 26,
      });
      assert.equal(run.status, 0, `blob ${i} (${SIZES[i]} bytes): ${run.stderr.toString()}`);
      assert.ok(run.stdout.equals(blobs[i]), `blob ${i} (${SIZES[i]} bytes) decrypts to its plaintext`);
    }
  });

  test('native round trip at chunk edges; a flipped or cut blob, a wrong key and a damaged header fail', async () => {
    const sealer = await BlobSealer.create({ recipients: [keys[0].recipient] });
    const own = prepareBlobKeys({ identities: [keys[0].identity], passphrases: [] }, 'test');
    const opener = await BlobOpener.create(own, sealer.header);
    for (const n of SIZES) {
      const blob = randomBytes(n);
      const sealed = sealer.seal(blob);
      assert.ok(opener.open(sealed).equals(blob), `${n} bytes`);
      const flipped = Buffer.from(sealed);
      flipped[Math.floor(sealed.length / 2)] ^= 0x40;
      assert.throws(() => opener.open(flipped), (e: unknown) => e instanceof AgeError && e.failure === 'payload', `${n} bytes flipped`);
      if (n > 0) assert.throws(() => opener.open(sealed.subarray(0, sealed.length - 1)), AgeError, `${n} bytes cut`);
    }
    const other = prepareBlobKeys({ identities: [keys[1].identity], passphrases: [] }, 'test');
    await assert.rejects(BlobOpener.create(other, sealer.header), (e: unknown) => e instanceof AgeError && e.failure === 'no-match');
    const badMac = Buffer.from(sealer.header);
    badMac[badMac.length - 5] ^= 0x01;
    await assert.rejects(BlobOpener.create(own, badMac), AgeError);
    // Two blobs of one pack never share a payload key: equal plaintexts give unequal bytes.
    const same = randomBytes(100);
    assert.ok(!sealer.seal(same).equals(sealer.seal(same)));
  });

  test('passphrase header, and a small age file (keys/idkey.age) that the age CLI also opens', async () => {
    const sealer = await BlobSealer.create({ recipients: [], passphrase: 'correct horse battery', scryptWorkFactor: 10 });
    const opener = await BlobOpener.create(prepareBlobKeys({ identities: [], passphrases: ['correct horse battery'] }, 't'), sealer.header);
    const blob = randomBytes(5000);
    assert.ok(opener.open(sealer.seal(blob)).equals(blob));

    const fileSealer = await BlobSealer.create({ recipients: [keys[0].recipient] });
    const secret = randomBytes(32);
    const file = fileSealer.sealFile(secret);
    assert.ok(ageCli(['-d', '-i', keys[0].keyFile], file).equals(secret));
    assert.ok((await openSmallAgeFile(file, prepareBlobKeys({ identities: [keys[0].identity], passphrases: [] }, 't'), 'idkey.age')).equals(secret));
    await assert.rejects(openSmallAgeFile(file, prepareBlobKeys({ identities: [keys[1].identity], passphrases: [] }, 't'), 'idkey.age'), (e: unknown) => e instanceof BackupError && e.code === 'WRONG_KEY');
  });
});
