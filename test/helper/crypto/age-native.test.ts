/**
 * The native age implementation: Bech32 keys, sizes, streaming round trips at chunk edges,
 * interop both ways with Debian's `age` CLI (1 and 3 X25519 recipients, passphrase through a
 * pseudo-TTY) and with the age-encryption (typage) library, wrong keys, a flipped byte in
 * every part of the file, truncation, appended bytes, backpressure, and random access.
 * Passphrase tests rely on CIVIBACKUP_TEST_SCRYPT_LOG_N (the runner sets 10).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync, randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as typage from 'age-encryption';
import { bech32Decode, bech32Encode } from '../../../ts-src/protocol/bech32.js';
import { createDecryptStream, createEncryptStream, generateIdentity, type DecryptionKeys, type EncryptionKeys } from '../../../ts-src/helper/crypto/age-stream.js';
import { openAgeFile } from '../../../ts-src/helper/crypto/age-file.js';
import { hkdfSha256, parseHeader } from '../../../ts-src/helper/crypto/age-format.js';
import { CHUNK_BYTES, encryptedFileSize, plaintextSize, SEALED_CHUNK_BYTES } from '../../../ts-src/helper/crypto/age-payload.js';
import { parseIdentity, parseRecipient } from '../../../ts-src/helper/crypto/age-recipients.js';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { ageCli, ageWithPassphrase } from './age-cli.js';

const K = CHUNK_BYTES;
let dir: string;
const ids: { identity: string; recipient: string; keyFile: string }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_age_native_'));
  for (let i = 0; i < 4; i += 1) {
    const pair = await generateIdentity();
    const keyFile = join(dir, `key${i}.txt`);
    writeFileSync(keyFile, `${pair.identity}\n`, { mode: 0o600 });
    ids.push({ ...pair, keyFile });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const withIdentity = (i: number): DecryptionKeys => ({ identities: [ids[i].identity], passphrases: [] });
const toRecipients = (...indexes: number[]): EncryptionKeys => ({ recipients: indexes.map((i) => ids[i].recipient) });

function patternBytes(size: number, seed = 1): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 1) buffer[i] = (i * 131 + seed * 7 + (i >> 16)) & 0xff;
  return buffer;
}

/** Uneven slices (1 byte up to ~200 KB) so staging inside the stages is exercised. */
function sliced(data: Buffer): Buffer[] {
  const slices: Buffer[] = [];
  for (let offset = 0, step = 1; offset < data.length; offset += step, step = (step * 13 + 5) % 200_003 || 1) slices.push(data.subarray(offset, offset + step));
  return slices;
}

function sink(): { writable: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return {
    chunks,
    writable: new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    }),
  };
}

async function encrypt(data: Buffer, keys: EncryptionKeys, slices = sliced(data)): Promise<Buffer> {
  const out = sink();
  await pipeline(Readable.from(slices), await createEncryptStream(keys), out.writable);
  return Buffer.concat(out.chunks);
}

/** Our stream decryption; on failure rejects with the error and `released` (plaintext pushed before it). */
async function decrypt(file: Buffer, keys: DecryptionKeys, label = 'part.age'): Promise<Buffer> {
  const out = sink();
  try {
    await pipeline(Readable.from(sliced(file)), await createDecryptStream(keys, label), out.writable);
  } catch (error) {
    Object.assign(error as object, { released: Buffer.concat(out.chunks) });
    throw error;
  }
  return Buffer.concat(out.chunks);
}

async function expectCode(promise: Promise<unknown>, code: string, what = ''): Promise<BackupError & { released?: Buffer }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BackupError, `${what}: expected BackupError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return error;
  }
  assert.fail(`${what}: expected ${code}, but it succeeded`);
}

function writeTemp(name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Reads every plaintext byte through openAgeFile. */
async function randomAccessAll(file: Buffer, keys: DecryptionKeys, name = 'ra.age'): Promise<Buffer> {
  const path = writeTemp(name, file);
  const reader = await openAgeFile(path, keys, name);
  return reader.read(0, reader.plaintextBytes);
}

/** Where the payload starts: header, MAC line, 16-byte nonce. */
function payloadStart(file: Buffer): number {
  const header = parseHeader(file, true);
  assert.ok(header);
  return header.length + 16;
}

const EDGE_SIZES = [0, 1, K - 1, K, K + 1, 2 * K, 2 * K + 1];
const SIZES = [...EDGE_SIZES, 100_000 + randomInt(100_000), 300_000 + randomInt(300_000), randomInt(5 * K)];

describe('Bech32 and keys', () => {
  test('BIP 173 vectors: valid strings decode and re-encode, invalid ones are refused', () => {
    for (const valid of ['a12uel5l', 'abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw', 'split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w']) {
      const decoded = bech32Decode(valid);
      assert.ok(decoded, valid);
      assert.equal(bech32Encode(decoded.hrp, decoded.bytes), valid);
      assert.ok(bech32Decode(valid.toUpperCase()));
    }
    for (const invalid of ['A12uEL5L', 'a12uel5m', 'pzry9x0s0muk', '1pzry9x0s0muk', 'x1b4n0q5v', 'li1dgmt3', 'a1', 'abc1rzg']) {
      assert.equal(bech32Decode(invalid), null, invalid);
    }
  });

  test('the age spec example: its identity gives its recipient (X25519 + Bech32)', () => {
    const identity = parseIdentity('AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX');
    assert.equal(bech32Encode('age', identity.publicKey), 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj');
  });

  test('generated pairs agree; bad checksum, wrong case and wrong kind are refused', () => {
    assert.equal(bech32Encode('age', parseIdentity(ids[0].identity).publicKey), ids[0].recipient);
    assert.equal(parseRecipient(ids[0].recipient).length, 32);
    const flipped = ids[0].recipient.slice(0, -1) + (ids[0].recipient.endsWith('q') ? 'p' : 'q');
    assert.throws(() => parseRecipient(flipped));
    assert.throws(() => parseRecipient(ids[0].recipient.toUpperCase()));
    assert.throws(() => parseRecipient(ids[0].identity));
    assert.throws(() => parseIdentity(ids[0].identity.toLowerCase()));
    assert.throws(() => parseIdentity(ids[0].recipient));
  });
});

describe('HKDF', () => {
  test('our two-HMAC HKDF-SHA-256 equals node:crypto hkdfSync (empty and random salts)', () => {
    for (let i = 0; i < 20; i += 1) {
      const ikm = randomBytes(randomInt(1, 64));
      const salt = i % 2 === 0 ? Buffer.alloc(0) : randomBytes(randomInt(1, 80));
      const info = ['header', 'payload', 'age-encryption.org/v1/X25519'][i % 3];
      assert.ok(hkdfSha256(ikm, salt, info).equals(Buffer.from(hkdfSync('sha256', ikm, salt, info, 32))));
    }
  });
});

describe('sizes', () => {
  test('plaintextSize inverts encryptedFileSize and refuses sizes no age file has', () => {
    for (const size of [...EDGE_SIZES, 3 * K - 1, 16 * 1024 * 1024, 16 * 1024 * 1024 + 5, 2 ** 40 + 3]) {
      assert.equal(plaintextSize(encryptedFileSize(size, 200), 200), size, `size ${size}`);
    }
    const payload = (bytes: number) => 200 + 16 + bytes;
    for (const bad of [payload(0), payload(15), payload(SEALED_CHUNK_BYTES + 16), payload(SEALED_CHUNK_BYTES + 5), payload(2 * SEALED_CHUNK_BYTES + 1), 100]) {
      assert.throws(() => plaintextSize(bad, 200), /age/, `file size ${bad}`);
    }
  });
});

describe('streaming round trips at chunk edges', () => {
  for (const size of SIZES) {
    test(`${size} bytes: ours -> ours, ours -> age -d, age -e -> ours (one recipient)`, async () => {
      const data = patternBytes(size, size);
      const file = await encrypt(data, toRecipients(0));
      assert.equal(file.length, encryptedFileSize(size, payloadStart(file) - 16), 'file size follows from the plaintext size');
      assert.ok((await decrypt(file, withIdentity(0))).equals(data), 'ours -> ours');
      assert.ok(ageCli(['-d', '-i', ids[0].keyFile, writeTemp('ours.age', file)]).equals(data), 'ours -> age -d');
      const theirs = ageCli(['-e', '-r', ids[0].recipient, '-o', join(dir, 'theirs.age'), writeTemp('plain.bin', data)]) && readFileSync(join(dir, 'theirs.age'));
      assert.ok((await decrypt(theirs, withIdentity(0))).equals(data), 'age -e -> ours');
      assert.ok((await randomAccessAll(theirs, withIdentity(0))).equals(data), 'age -e -> openAgeFile');
    });
  }

  test('three recipients: each identity opens ours (stream, CLI) and the CLI file (ours)', async () => {
    const data = patternBytes(2 * K + 77, 3);
    const file = await encrypt(data, toRecipients(0, 1, 2));
    assert.equal(parseHeader(file, true)?.stanzas.length, 3);
    const cliFile = join(dir, 'three.age');
    ageCli(['-e', '-r', ids[0].recipient, '-r', ids[1].recipient, '-r', ids[2].recipient, '-o', cliFile, writeTemp('three.bin', data)]);
    for (const i of [0, 1, 2]) {
      assert.ok((await decrypt(file, withIdentity(i))).equals(data), `ours, identity ${i}`);
      assert.ok(ageCli(['-d', '-i', ids[i].keyFile, writeTemp('ours3.age', file)]).equals(data), `age -d, identity ${i}`);
      assert.ok((await decrypt(readFileSync(cliFile), withIdentity(i))).equals(data), `CLI file, identity ${i}`);
    }
    await expectCode(decrypt(file, withIdentity(3)), 'WRONG_KEY');
    // Several identities given: the one that matches is found whatever its position.
    assert.ok((await decrypt(file, { identities: [ids[3].identity, ids[2].identity], passphrases: ['not it'] })).equals(data));
  });

  test('passphrase: ours -> ours and age -d (pseudo-TTY), age -p -> ours', async () => {
    for (const size of [0, K + 1]) {
      const data = patternBytes(size, 11);
      const file = await encrypt(data, { recipients: [], passphrase: 'tty pass phrase' });
      const header = parseHeader(file, true);
      assert.deepEqual(header?.stanzas.map((s) => [s.type, s.args[1]]), [['scrypt', '10']], 'the test work factor is in the header');
      assert.ok((await decrypt(file, { identities: [], passphrases: ['tty pass phrase'] })).equals(data));
      const out = join(dir, `tty-out-${size}.bin`);
      await ageWithPassphrase(['-d', '-o', out, writeTemp('pass.age', file)], 'tty pass phrase', 1);
      // age creates its output file on the first byte written: none for an empty plaintext.
      const decrypted = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
      assert.ok(decrypted.equals(data), `age -d, ${size} bytes`);
    }
    const data = patternBytes(3 * K + 5, 12);
    const cipher = join(dir, 'cli-pass.age');
    await ageWithPassphrase(['-p', '-o', cipher, writeTemp('cli-pass.bin', data)], 'cli pass phrase', 2);
    assert.ok((await decrypt(readFileSync(cipher), { identities: [ids[0].identity], passphrases: ['wrong', 'cli pass phrase'] })).equals(data));
    await expectCode(decrypt(readFileSync(cipher), { identities: [], passphrases: ['wrong'] }), 'WRONG_KEY');
  });

  test('interop with the age-encryption (typage) library, X25519 and passphrase, both ways', async () => {
    const data = patternBytes(2 * K + 9, 5);
    const ours = await encrypt(data, toRecipients(0));
    const decrypter = new typage.Decrypter();
    decrypter.addIdentity(ids[0].identity);
    assert.ok(Buffer.from(await decrypter.decrypt(ours)).equals(data), 'typage opens ours (X25519)');
    const oursPass = await encrypt(data, { recipients: [], passphrase: 'lib pass' });
    const passDecrypter = new typage.Decrypter();
    passDecrypter.addPassphrase('lib pass');
    assert.ok(Buffer.from(await passDecrypter.decrypt(oursPass)).equals(data), 'typage opens ours (scrypt)');
    const encrypter = new typage.Encrypter();
    encrypter.setPassphrase('lib pass');
    encrypter.setScryptWorkFactor(10);
    const theirs = Buffer.from(await encrypter.encrypt(data));
    assert.ok((await decrypt(theirs, { identities: [], passphrases: ['lib pass'] })).equals(data), 'ours opens typage (scrypt)');
  });

  test('identities and recipients that are not age keys -> CONFIG, never echoing a secret', async () => {
    await expectCode(createEncryptStream({ recipients: ['age1notarecipient'] }), 'CONFIG');
    await expectCode(createEncryptStream({ recipients: [] }), 'CONFIG');
    await expectCode(createEncryptStream({ recipients: [ids[0].recipient], passphrase: 'x' }), 'CONFIG');
    await expectCode(createEncryptStream({ recipients: [], passphrase: '' }), 'CONFIG');
    const broken = `${ids[0].identity.slice(0, -1)}${ids[0].identity.endsWith('Q') ? 'P' : 'Q'}`;
    const error = await expectCode(createDecryptStream({ identities: [broken], passphrases: [] }, 'p.age'), 'CONFIG');
    assert.ok(!error.message.includes(broken.slice(16, 40)), error.message);
  });
});

describe('backpressure and memory', () => {
  test('a stalled reader stops the writer: at most a few chunks are buffered', async () => {
    const encrypted = await encrypt(Buffer.alloc(64 * K), toRecipients(0));
    const stages = [
      { name: 'encrypt', stage: await createEncryptStream(toRecipients(0)), input: Buffer.alloc(64 * K) },
      { name: 'decrypt', stage: await createDecryptStream(withIdentity(0), 'p.age'), input: encrypted },
    ];
    for (const { name, stage, input } of stages) {
      let accepted = 0;
      while (accepted < input.length) {
        const piece = input.subarray(accepted, accepted + K);
        accepted += piece.length;
        if (!stage.write(piece)) break;
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(accepted <= 4 * K, `${name} accepted ${accepted} bytes with nobody reading`);
      assert.ok(stage.readableLength <= 4 * K, `${name} buffered ${stage.readableLength} bytes`);
      stage.destroy();
    }
  });
});

describe('wrong keys and damage', () => {
  const data = patternBytes(3 * K + 100, 21);
  let file: Buffer;
  let three: Buffer;
  before(async () => {
    file = await encrypt(data, toRecipients(0));
    three = await encrypt(data, toRecipients(1, 0, 2));
  });

  /** Both decryption paths must fail with `code`; the stream releases only chunks before the damage. */
  async function bothFail(damaged: Buffer, code: string, what: string, intactChunks?: number): Promise<void> {
    const error = await expectCode(decrypt(damaged, withIdentity(0)), code, `${what} (stream)`);
    assert.match(error.message, /part\.age/);
    if (intactChunks !== undefined) assert.ok(error.released?.equals(data.subarray(0, intactChunks * K)), `${what}: released ${error.released?.length} bytes`);
    await expectCode(randomAccessAll(damaged, withIdentity(0), 'part.age'), code, `${what} (openAgeFile)`);
  }

  test('wrong identity, wrong passphrase, identity for a passphrase file -> WRONG_KEY', async () => {
    const error = await expectCode(decrypt(file, withIdentity(1)), 'WRONG_KEY');
    assert.match(error.message, /no identity matched/);
    const passFile = await encrypt(data, { recipients: [], passphrase: 'right' });
    await expectCode(decrypt(passFile, { identities: [], passphrases: ['wrong'] }), 'WRONG_KEY');
    await expectCode(decrypt(passFile, withIdentity(0)), 'WRONG_KEY');
    await expectCode(randomAccessAll(file, withIdentity(1)), 'WRONG_KEY');
  });

  test('a flipped byte in the version line, the MAC, the nonce, a chunk, a tag -> SET_DAMAGED', async () => {
    const start = payloadStart(file);
    const macAt = file.indexOf('\n---') + 6;
    const positions: [string, number, number][] = [
      ['version line', 3, 0],
      ['MAC', macAt + 10, 0],
      ['payload nonce', start - 8, 0],
      ['first chunk', start + 100, 0],
      ['second chunk', start + SEALED_CHUNK_BYTES + 5, 1],
      ['first tag', start + SEALED_CHUNK_BYTES - 3, 0],
      ['third tag', start + 3 * SEALED_CHUNK_BYTES - 1, 2],
      ['final chunk', file.length - 30, 3],
      ['final tag', file.length - 1, 3],
    ];
    for (const [what, position, intact] of positions) {
      const damaged = Buffer.from(file);
      damaged[position] ^= 0x04;
      await bothFail(damaged, 'SET_DAMAGED', what, intact);
    }
  });

  test('a flipped byte in a stanza: in our own stanza it looks like a wrong key (as in age), in another recipient\'s the MAC catches it', async () => {
    const header = parseHeader(file, true);
    assert.ok(header);
    const ownBody = file.indexOf('\n', file.indexOf('-> X25519')) + 5;
    const damaged = Buffer.from(file);
    damaged[ownBody] = damaged[ownBody] === 0x41 ? 0x42 : 0x41; // stays base64
    await expectCode(decrypt(damaged, withIdentity(0)), 'WRONG_KEY', 'own stanza');
    // In `three`, identity 0's stanza is the second; damage the first (identity 1's) share.
    const otherShare = three.indexOf('-> X25519 ') + 12;
    const damagedOther = Buffer.from(three);
    damagedOther[otherShare] = damagedOther[otherShare] === 0x41 ? 0x42 : 0x41;
    const error = await expectCode(decrypt(damagedOther, withIdentity(0)), 'SET_DAMAGED', 'other stanza');
    assert.match(error.message, /MAC/);
    // A flip that breaks the stanza's syntax is damage whoever reads it.
    const badSyntax = Buffer.from(file);
    badSyntax[file.indexOf('-> X25519') + 1] = 0x3d; // "-=" is no stanza
    await bothFail(badSyntax, 'SET_DAMAGED', 'stanza syntax', 0);
  });

  test('truncation at every chunk boundary and inside chunks, header and nonce -> SET_DAMAGED', async () => {
    const start = payloadStart(file);
    const cuts: [string, number, number][] = [
      ['inside the header', start - 40, 0],
      ['inside the nonce', start - 5, 0],
      ['right after the nonce', start, 0],
      ['inside the first chunk', start + 1000, 0],
      ['inside the first tag', start + SEALED_CHUNK_BYTES - 4, 0],
      ['one byte short', file.length - 1, 3],
      ['inside the final tag', file.length - 10, 3],
    ];
    for (let k = 1; k <= 3; k += 1) cuts.push([`after chunk ${k} (a chunk boundary)`, start + k * SEALED_CHUNK_BYTES, k]);
    for (const [what, cut, intact] of cuts) {
      const error = await expectCode(decrypt(file.subarray(0, cut), withIdentity(0)), 'SET_DAMAGED', what);
      // The chunk before a boundary cut authenticates as a middle chunk and is released, as age does.
      assert.ok(error.released?.equals(data.subarray(0, intact * K)), `${what}: released ${error.released?.length}`);
      await expectCode(randomAccessAll(file.subarray(0, cut), withIdentity(0)), 'SET_DAMAGED', `${what} (openAgeFile)`);
    }
    await expectCode(decrypt(Buffer.alloc(0), withIdentity(0)), 'SET_DAMAGED', 'empty file');
  });

  test('bytes appended after the final chunk -> SET_DAMAGED, also a whole extra chunk', async () => {
    for (const extra of [Buffer.from('x'), Buffer.alloc(16), Buffer.alloc(SEALED_CHUNK_BYTES, 7), file.subarray(payloadStart(file))]) {
      await bothFail(Buffer.concat([file, extra]), 'SET_DAMAGED', `${extra.length} bytes appended`);
    }
  });

  test('chunks swapped, or a chunk replayed from another file -> SET_DAMAGED', async () => {
    const start = payloadStart(file);
    const swapped = Buffer.from(file);
    file.copy(swapped, start, start + SEALED_CHUNK_BYTES, start + 2 * SEALED_CHUNK_BYTES);
    file.copy(swapped, start + SEALED_CHUNK_BYTES, start, start + SEALED_CHUNK_BYTES);
    await bothFail(swapped, 'SET_DAMAGED', 'swapped', 0);
    const other = await encrypt(data, toRecipients(0));
    const spliced = Buffer.from(file);
    other.copy(spliced, start + SEALED_CHUNK_BYTES, payloadStart(other) + SEALED_CHUNK_BYTES, payloadStart(other) + 2 * SEALED_CHUNK_BYTES);
    await bothFail(spliced, 'SET_DAMAGED', 'spliced', 1);
  });

  test('a non-age file fails at its first bytes, without buffering it', async () => {
    const long = Readable.from(
      (function* () {
        yield Buffer.from('PK\u0003\u0004 not age');
        for (let i = 0; i < 10_000; i += 1) yield Buffer.alloc(K, 1);
      })(),
    );
    await expectCode(pipeline(long, await createDecryptStream(withIdentity(0), 'zip.age'), sink().writable), 'SET_DAMAGED');
  });
});

describe('random access with openAgeFile', () => {
  const size = 5 * K + 1234;
  const data = patternBytes(size, 33);
  let path: string;
  before(async () => {
    path = writeTemp('random.age', await encrypt(data, toRecipients(2, 0)));
  });

  test('reads at chunk edges and random ranges equal slices of the plaintext', async () => {
    const file = await openAgeFile(path, withIdentity(0), 'random.age');
    assert.equal(file.plaintextBytes, size);
    assert.equal(file.fileBytes, readFileSync(path).length);
    assert.equal(file.headerBytes, payloadStart(readFileSync(path)) - 16);
    const ranges: [number, number][] = [
      [0, 0],
      [0, 1],
      [0, K],
      [K - 1, 2],
      [K, K],
      [K - 1, K + 2],
      [2 * K - 5, 10],
      [4 * K, size - 4 * K],
      [5 * K, 1234],
      [size - 1, 1],
      [size, 0],
      [0, size],
      [3, size - 6],
    ];
    for (let i = 0; i < 60; i += 1) {
      const offset = randomInt(size);
      ranges.push([offset, randomInt(Math.min(size - offset, 3 * K) + 1)]);
    }
    for (const [offset, length] of ranges) {
      assert.ok((await file.read(offset, length)).equals(data.subarray(offset, offset + length)), `read(${offset}, ${length})`);
    }
    // Consecutive small reads in one chunk (served from the cached chunk) stay correct.
    for (let offset = K; offset < 2 * K; offset += 4096) assert.ok((await file.read(offset, 4096)).equals(data.subarray(offset, offset + 4096)));
    await file.close();
    await expectCode(file.read(0, 1), 'INTERNAL', 'read after close');
  });

  test('reads past the end are SET_DAMAGED; bad ranges are refused', async () => {
    const file = await openAgeFile(path, withIdentity(0), 'random.age');
    await expectCode(file.read(size - 1, 2), 'SET_DAMAGED', 'one byte past the end');
    await expectCode(file.read(size + 1, 0), 'SET_DAMAGED', 'offset past the end');
    await expectCode(file.read(-1, 2), 'INTERNAL', 'negative offset');
    await expectCode(file.read(0.5, 2), 'INTERNAL', 'fractional offset');
  });

  test('an empty file: zero plaintext bytes, its final chunk verifies, any read of a byte is past the end', async () => {
    const empty = writeTemp('empty.age', await encrypt(Buffer.alloc(0), toRecipients(0)));
    const file = await openAgeFile(empty, withIdentity(0), 'empty.age', { verifyFinalChunk: true });
    assert.equal(file.plaintextBytes, 0);
    assert.equal((await file.read(0, 0)).length, 0);
    await expectCode(file.read(0, 1), 'SET_DAMAGED');
  });

  test('a tampered chunk fails only the reads that touch it', async () => {
    const damaged = readFileSync(path);
    const start = payloadStart(damaged);
    damaged[start + 2 * SEALED_CHUNK_BYTES + 500] ^= 0x80; // inside chunk 2
    const damagedPath = writeTemp('tampered.age', damaged);
    const file = await openAgeFile(damagedPath, withIdentity(0), 'tampered.age');
    for (const [offset, length] of [
      [0, 2 * K],
      [K, 100],
      [3 * K, 2 * K],
      [size - 10, 10],
    ]) {
      assert.ok((await file.read(offset, length)).equals(data.subarray(offset, offset + length)), `read(${offset}, ${length}) away from chunk 2`);
    }
    for (const [offset, length] of [
      [2 * K, 1],
      [3 * K - 1, 1],
      [2 * K - 1, 2],
      [0, size],
    ]) {
      const error = await expectCode(file.read(offset, length), 'SET_DAMAGED', `read(${offset}, ${length})`);
      assert.match(error.message, /tampered\.age.*chunk 2/);
    }
  });

  test('a file cut at a chunk boundary: verifyFinalChunk fails at open; without it, reads before the cut work and the last chunk fails', async () => {
    const whole = readFileSync(path);
    const cut = writeTemp('cut.age', whole.subarray(0, payloadStart(whole) + 3 * SEALED_CHUNK_BYTES));
    await expectCode(openAgeFile(cut, withIdentity(0), 'cut.age', { verifyFinalChunk: true }), 'SET_DAMAGED');
    const file = await openAgeFile(cut, withIdentity(0), 'cut.age');
    assert.equal(file.plaintextBytes, 3 * K, 'the size is only a claim');
    assert.ok((await file.read(0, 2 * K)).equals(data.subarray(0, 2 * K)));
    await expectCode(file.read(2 * K, 1), 'SET_DAMAGED', 'the chunk that now looks final');
    await expectCode(file.read(3 * K, 1), 'SET_DAMAGED', 'past the (cut) end');
  });

  test('a FileHandle is read and never closed by us; open readers on paths hold no descriptor', async () => {
    const handle = await open(path, 'r');
    try {
      const file = await openAgeFile(handle, withIdentity(0), 'random.age');
      assert.ok((await file.read(K + 10, 4096)).equals(data.subarray(K + 10, K + 10 + 4096)));
      await file.close();
      assert.equal((await handle.stat()).size, readFileSync(path).length, 'the handle still works after close()');
    } finally {
      await handle.close();
    }
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const before = descriptors();
    const keys = withIdentity(0);
    const readers = await Promise.all(Array.from({ length: 200 }, () => openAgeFile(path, keys, 'random.age')));
    assert.ok((await readers[199].read(size - 100, 100)).equals(data.subarray(size - 100)));
    assert.ok(descriptors() <= before + 2, `${descriptors() - before} descriptors more with 200 files open`);
  });

  test('passphrase files open for random access too', async () => {
    const passPath = writeTemp('pass-random.age', await encrypt(data, { recipients: [], passphrase: 'random pass' }));
    const file = await openAgeFile(passPath, { identities: [], passphrases: ['random pass'] }, 'pass-random.age');
    assert.ok((await file.read(K - 3, 6)).equals(data.subarray(K - 3, K + 3)));
    await expectCode(openAgeFile(passPath, { identities: [], passphrases: ['nope'] }, 'pass-random.age'), 'WRONG_KEY');
  });

  test('random data sizes: every byte via random access equals a full stream decryption', async () => {
    for (let i = 0; i < 3; i += 1) {
      const random = randomBytes(randomInt(4 * K));
      const encrypted = await encrypt(random, toRecipients(0));
      const streamed = await decrypt(encrypted, withIdentity(0));
      assert.ok((await randomAccessAll(encrypted, withIdentity(0))).equals(streamed));
      assert.ok(streamed.equals(random));
    }
  });
});
