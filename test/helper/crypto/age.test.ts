/**
 * age encryption through our stream stages: round trips at chunk edges, interop both ways
 * with Debian's `age` CLI (X25519 and passphrase), and the errors a wrong key or a damaged
 * part gives. Passphrase tests rely on CIVIBACKUP_TEST_SCRYPT_LOG_N (the runner sets 10).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { generateIdentity } from '../../../ts-src/helper/crypto/age-stream.js';
import {
  parseIdentities,
  readIdentityFile,
  resolveDecryptionKeys,
  resolveEncryptionKeys,
  validateRecipient,
} from '../../../ts-src/helper/crypto/keys.js';
import { decodeStages, encodeStages, type ReadCodec, type WriteCodec } from '../../../ts-src/helper/set/codec.js';
import { runPipeline, writePart } from '../../../ts-src/helper/set/part-writer.js';
import { openPart } from '../../../ts-src/helper/set/part-reader.js';
import { BackupError } from '../../../ts-src/helper/core/errors.js';
import { ageWithPassphrase } from './age-cli.js';

const KIB64 = 64 * 1024;
let dir: string;
let identity: string;
let recipient: string;
let keyFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cbt_crypto_'));
  ({ identity, recipient } = await generateIdentity());
  keyFile = join(dir, 'key.txt');
  writeFileSync(keyFile, `# created: test\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic bytes: a counter pattern, cheap to make at any size. */
function patternBytes(size: number, seed = 7): Buffer {
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) buffer[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return buffer;
}

function collector(): { sink: Writable; result: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    }),
    result: () => Buffer.concat(chunks),
  };
}

/** Feeds `data` in uneven slices so chunk boundaries inside the stages are exercised. */
function slicedSource(data: Buffer): Readable {
  const slices: Buffer[] = [];
  for (let offset = 0, step = 1; offset < data.length; offset += step, step = (step * 7 + 3) % 100_003 || 1) {
    slices.push(data.subarray(offset, offset + step));
  }
  return Readable.from(slices);
}

async function encode(data: Buffer, codec: WriteCodec): Promise<Buffer> {
  const out = collector();
  await runPipeline([slicedSource(data), ...(await encodeStages(codec)), out.sink]);
  return out.result();
}

async function decode(data: Buffer, storedName: string, codec: ReadCodec): Promise<Buffer> {
  const out = collector();
  await runPipeline([Readable.from([data]), ...(await decodeStages(storedName, codec)), out.sink]);
  return out.result();
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<BackupError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BackupError, `expected BackupError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('round trip through our stages at chunk edges', () => {
  for (const size of [0, 1, KIB64 - 1, KIB64, KIB64 + 1, 2 * KIB64, 3 * 1024 * 1024 + 17]) {
    test(`${size} bytes, X25519, no compression and gzip`, async () => {
      const data = patternBytes(size);
      for (const compression of ['none', 'gzip'] as const) {
        const encrypted = await encode(data, { compression, level: 6, encryption: { recipients: [recipient] } });
        assert.ok(encrypted.subarray(0, 21).toString('latin1').startsWith('age-encryption.org/v1'));
        const name = compression === 'gzip' ? 'p.sql.gz.age' : 'p.sql.age';
        const decrypted = await decode(encrypted, name, { decryption: { identities: [identity], passphrases: [] } });
        assert.equal(decrypted.length, size);
        assert.ok(decrypted.equals(data), `content differs after round trip (${compression})`);
      }
    });
  }

  test('a multi-MB stream in passphrase mode', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 3);
    const encrypted = await encode(data, { compression: 'none', level: 0, encryption: { recipients: [], passphrase: 'correct horse' } });
    const decrypted = await decode(encrypted, 'p.age', { decryption: { identities: [], passphrases: ['correct horse'] } });
    assert.equal(sha(decrypted), sha(data));
  });
});

describe('interop with the age CLI', () => {
  test('age -d -i decrypts a part the helper wrote (gzip + age)', async () => {
    const setDir = join(dir, 'set-x25519');
    const data = patternBytes(300_000);
    const record = await writePart(setDir, 'db/200-data-t.sql', Readable.from([data]), {
      codec: { compression: 'gzip', level: 6, encryption: { recipients: [recipient] } },
    });
    assert.equal(record.path, 'db/200-data-t.sql.gz.age');
    const run = spawnSync('sh', ['-c', `age -d -i "${keyFile}" "${join(setDir, record.path)}" | zcat`], { maxBuffer: 1 << 26 });
    assert.equal(run.status, 0, run.stderr.toString());
    assert.ok(run.stdout.equals(data));
  });

  test('our stages (and openPart) decrypt what age -r wrote', async () => {
    const plain = join(dir, 'cli-plain.bin');
    const data = patternBytes(KIB64 * 3 + 5, 3);
    writeFileSync(plain, data);
    const cipher = join(dir, 'cli.bin.age');
    const run = spawnSync('age', ['-r', recipient, '-o', cipher, plain]);
    assert.equal(run.status, 0, run.stderr.toString());
    const decrypted = await decode(readFileSync(cipher), 'cli.bin.age', { decryption: { identities: [identity], passphrases: [] } });
    assert.ok(decrypted.equals(data));
    const stream = await openPart(dir, 'cli.bin.age', { decryption: { identities: [identity], passphrases: [] } });
    const out = collector();
    await runPipeline([stream, out.sink]);
    assert.ok(out.result().equals(data));
  });

  test('age -d (passphrase on a pseudo-TTY) decrypts a helper passphrase part', async () => {
    const setDir = join(dir, 'set-pass');
    const data = patternBytes(KIB64 + 1, 9);
    const record = await writePart(setDir, 'files/x.tar', Readable.from([data]), {
      codec: { compression: 'none', level: 0, encryption: { recipients: [], passphrase: 'tty pass phrase' } },
    });
    const out = join(dir, 'tty-out.bin');
    await ageWithPassphrase(['-d', '-o', out, join(setDir, record.path)], 'tty pass phrase', 1);
    assert.ok(readFileSync(out).equals(data));
  });

  test('our stages decrypt what age -p wrote (default work factor)', async () => {
    const plain = join(dir, 'p-plain.txt');
    writeFileSync(plain, 'a secret line\n');
    const cipher = join(dir, 'p.txt.age');
    await ageWithPassphrase(['-p', '-o', cipher, plain], 'cli pass phrase', 2);
    const decrypted = await decode(readFileSync(cipher), 'p.txt.age', { decryption: { identities: [], passphrases: ['cli pass phrase'] } });
    assert.equal(decrypted.toString(), 'a secret line\n');
  });
});

describe('wrong keys and damage', () => {
  let encrypted: Buffer;
  let passEncrypted: Buffer;
  const data = patternBytes(3 * KIB64 + 100, 5);
  before(async () => {
    encrypted = await encode(data, { compression: 'none', level: 0, encryption: { recipients: [recipient] } });
    passEncrypted = await encode(data, { compression: 'none', level: 0, encryption: { recipients: [], passphrase: 'right' } });
  });
  const ok = () => ({ decryption: { identities: [identity], passphrases: [] } });

  test('wrong identity -> WRONG_KEY (exit 2)', async () => {
    const other = await generateIdentity();
    const error = await expectCode(decode(encrypted, 'p.age', { decryption: { identities: [other.identity], passphrases: [] } }), 'WRONG_KEY');
    assert.equal(error.exitCode, 2);
    assert.doesNotMatch(error.message, /AGE-SECRET-KEY-1/);
  });

  test('wrong passphrase -> WRONG_KEY; an identity for a passphrase part -> WRONG_KEY', async () => {
    await expectCode(decode(passEncrypted, 'p.age', { decryption: { identities: [], passphrases: ['wrong'] } }), 'WRONG_KEY');
    await expectCode(decode(passEncrypted, 'p.age', ok()), 'WRONG_KEY');
  });

  test('no key for an encrypted part -> WRONG_KEY naming the options', async () => {
    const error = await expectCode(decode(encrypted, 'p.age', {}), 'WRONG_KEY');
    assert.match(error.message, /--identity/);
  });

  test('truncated ciphertext -> SET_DAMAGED (exit 3), at a chunk boundary and inside a chunk', async () => {
    const headerEnd = encrypted.indexOf('\n---') + 1;
    const payloadStart = encrypted.indexOf('\n', headerEnd) + 1 + 16; // header line, then 16-byte nonce
    const chunkWithTag = KIB64 + 16;
    for (const cut of [payloadStart + chunkWithTag, payloadStart + chunkWithTag * 2, encrypted.length - 1, payloadStart + 10, headerEnd - 5]) {
      const error = await expectCode(decode(encrypted.subarray(0, cut), 'p.age', ok()), 'SET_DAMAGED');
      assert.equal(error.exitCode, 3);
    }
    await expectCode(decode(Buffer.alloc(0), 'p.age', ok()), 'SET_DAMAGED');
  });

  test('bytes appended after the final chunk -> SET_DAMAGED', async () => {
    await expectCode(decode(Buffer.concat([encrypted, Buffer.from('appended')]), 'p.age', ok()), 'SET_DAMAGED');
  });

  test('a wrong key on a long stream fails at the header without waiting for (or hanging on) the rest', async () => {
    const other = await generateIdentity();
    const long = Readable.from(
      (function* () {
        yield encrypted;
        for (let i = 0; i < 1000; i += 1) yield Buffer.alloc(KIB64, 1);
      })(),
    );
    const stages = await decodeStages('p.age', { decryption: { identities: [other.identity], passphrases: [] } });
    await expectCode(runPipeline([long, ...stages, collector().sink]), 'WRONG_KEY');
  });

  test('a flipped byte in the payload or the header MAC -> SET_DAMAGED', async () => {
    const macLine = encrypted.indexOf('\n---') + 5;
    for (const position of [encrypted.length - 1, encrypted.length - 20_000, Math.floor(encrypted.length / 2), macLine + 3]) {
      const damaged = Buffer.from(encrypted);
      damaged[position] ^= 0x01;
      await expectCode(decode(damaged, 'p.age', ok()), 'SET_DAMAGED');
    }
  });
});

describe('key handling', () => {
  test('identity files: comments and blanks ignored, several keys, garbage refused without echoing it', async () => {
    const other = await generateIdentity();
    assert.deepEqual(parseIdentities(`# c\n\n${identity}\r\n  # x\n${other.identity}\n`, 'f'), [identity, other.identity]);
    assert.deepEqual(await readIdentityFile(keyFile), [identity]);
    assert.throws(() => parseIdentities('# only comments\n', 'f'), /holds no age identity/);
    assert.throws(() => parseIdentities(`${identity}\nsecret-looking-garbage\n`, 'f'), (e: Error) => e.message.includes('line 2') && !e.message.includes('garbage'));
    assert.throws(() => parseIdentities(recipient, 'f'), /public recipient/);
  });

  test('recipients: X25519 accepted, bad checksum, post-quantum and junk refused', async () => {
    assert.equal(validateRecipient(recipient), recipient);
    const broken = recipient.slice(0, -1) + (recipient.endsWith('q') ? 'p' : 'q');
    assert.throws(() => validateRecipient(broken), (e: BackupError) => e.code === 'CONFIG');
    assert.throws(() => validateRecipient('age1pq1' + 'q'.repeat(60)), /post-quantum/);
    assert.throws(() => validateRecipient('ssh-ed25519 AAAA'), (e: BackupError) => e.code === 'CONFIG');
  });

  test('decryption keys from files and CIVIBACKUP_IDENTITY / CIVIBACKUP_PASSPHRASE', async () => {
    const passFile = join(dir, 'pass.txt');
    writeFileSync(passFile, 'from file\n', { mode: 0o600 });
    const keys = await resolveDecryptionKeys({
      identityFiles: [keyFile],
      passphraseFiles: [passFile],
      env: { CIVIBACKUP_IDENTITY: `# k\n${identity}\n`, CIVIBACKUP_PASSPHRASE: 'from env' },
    });
    assert.deepEqual(keys, { identities: [identity, identity], passphrases: ['from file', 'from env'] });
    assert.equal(await resolveDecryptionKeys({ env: {} }), undefined);
  });

  test('encryption keys: recipients or one passphrase, never both', async () => {
    const passFile = join(dir, 'pass2.txt');
    writeFileSync(passFile, 'pw\n');
    assert.deepEqual(await resolveEncryptionKeys({ recipients: [recipient, recipient], env: {} }), { recipients: [recipient] });
    assert.deepEqual(await resolveEncryptionKeys({ passphraseFile: passFile, env: {} }), { recipients: [], passphrase: 'pw' });
    assert.deepEqual(await resolveEncryptionKeys({ passphraseEnv: 'MY_PW', env: { MY_PW: 'x' } }), { recipients: [], passphrase: 'x' });
    await expectCode(resolveEncryptionKeys({ recipients: [recipient], passphraseFile: passFile, env: {} }), 'USAGE');
    await expectCode(resolveEncryptionKeys({ passphraseEnv: 'MISSING_PW', env: {} }), 'CONFIG');
    assert.equal(await resolveEncryptionKeys({ env: {} }), undefined);
  });
});
