/**
 * The official age test vectors (C2SP CCTV, binary X25519 and scrypt subset, see
 * fixtures/cctv-age/README.md) through both our decryption paths: the stream stage and
 * openAgeFile. Each vector says how decryption must end; for a payload failure, the plaintext
 * released before the error must hash to the vector's payload hash, as the suite requires.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { inflateSync } from 'node:zlib';
import { createDecryptStream, type DecryptionKeys } from '../../../ts-src/helper/crypto/age-stream.js';
import { openAgeFile } from '../../../ts-src/helper/crypto/age-file.js';
import { AgeError, type AgeFailure } from '../../../ts-src/helper/crypto/age-format.js';
import { BackupError } from '../../../ts-src/helper/core/errors.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'cctv-age');

interface Vector {
  name: string;
  expect: string;
  payloadHash: string;
  keys: DecryptionKeys;
  file: Buffer;
}

function loadVector(name: string): Vector {
  const raw = readFileSync(join(FIXTURES, name));
  const split = raw.indexOf('\n\n');
  const fields = raw.toString('latin1', 0, split).split('\n').map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]);
  const all = (key: string) => fields.filter(([k]) => k === key).map(([, v]) => v);
  const body = raw.subarray(split + 2);
  return {
    name,
    expect: all('expect')[0],
    payloadHash: all('payload')[0],
    keys: { identities: all('identity'), passphrases: all('passphrase') },
    file: all('compressed')[0] === 'zlib' ? inflateSync(body) : body,
  };
}

const FAILURE_OF: Record<string, AgeFailure> = {
  'header failure': 'header',
  'HMAC failure': 'hmac',
  'payload failure': 'payload',
  'no match': 'no-match',
};

const vectors = readdirSync(FIXTURES)
  .filter((name) => !name.includes('.'))
  .sort()
  .map(loadVector);

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Decrypts through the stream stage, feeding the file in `sliceBytes` pieces; keeps what came out before an error. */
async function streamDecrypt(vector: Vector, sliceBytes: number): Promise<{ output: Buffer; error?: unknown }> {
  const chunks: Buffer[] = [];
  const slices: Buffer[] = [];
  for (let i = 0; i < vector.file.length; i += sliceBytes) slices.push(vector.file.subarray(i, i + sliceBytes));
  try {
    await pipeline(
      Readable.from(slices),
      await createDecryptStream(vector.keys, vector.name),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      }),
    );
    return { output: Buffer.concat(chunks) };
  } catch (error) {
    return { output: Buffer.concat(chunks), error };
  }
}

function assertFailure(error: unknown, vector: Vector): void {
  const expected = FAILURE_OF[vector.expect];
  assert.ok(error instanceof BackupError, `${vector.name}: expected a BackupError, got ${String(error)}`);
  assert.equal(error.code, expected === 'no-match' ? 'WRONG_KEY' : 'SET_DAMAGED', `${vector.name}: ${error.message}`);
  assert.match(error.message, new RegExp(vector.name));
  // The failure kind, as the vectors name it (a mis-parsed header must not pass as a bad MAC).
  if (error.cause instanceof AgeError) assert.equal(error.cause.failure, expected, `${vector.name}: ${error.message}`);
  else assert.fail(`${vector.name}: the cause is not an AgeError: ${String(error.cause)}`);
}

test('the fixture set holds the vectors it should', () => {
  assert.ok(vectors.length >= 90, `${vectors.length} vectors`);
  for (const kind of ['success', 'no match', 'header failure', 'HMAC failure', 'payload failure']) {
    assert.ok(vectors.some((v) => v.expect === kind), kind);
  }
  assert.ok(vectors.every((v) => v.expect in FAILURE_OF || v.expect === 'success'), 'an unknown expect value');
});

describe('CCTV age vectors through the decrypt stream', () => {
  for (const vector of vectors) {
    test(`${vector.name}: ${vector.expect}`, async () => {
      // Whole, and in 7-byte slices so the header is parsed across many writes.
      for (const sliceBytes of [Math.max(1, vector.file.length), 7]) {
        const { output, error } = await streamDecrypt(vector, sliceBytes);
        if (vector.expect === 'success') {
          assert.equal(error, undefined, `${vector.name}: ${String(error)}`);
          assert.equal(sha256(output), vector.payloadHash);
          continue;
        }
        assertFailure(error, vector);
        if (vector.expect === 'payload failure') assert.equal(sha256(output), vector.payloadHash, `${vector.name}: plaintext released before the error`);
        else assert.equal(output.length, 0, 'no plaintext before the header is authenticated');
      }
    });
  }
});

describe('CCTV age vectors through openAgeFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cbt_vectors_'));
  test.after?.(() => rmSync(dir, { recursive: true, force: true }));
  for (const vector of vectors) {
    test(`${vector.name}: ${vector.expect}`, async () => {
      const path = join(dir, vector.name);
      writeFileSync(path, vector.file);
      try {
        const file = await openAgeFile(path, vector.keys, vector.name);
        const whole = await file.read(0, file.plaintextBytes);
        await file.close();
        assert.equal(vector.expect, 'success', `${vector.name} opened and read whole, but should fail`);
        assert.equal(sha256(whole), vector.payloadHash);
        const verified = await openAgeFile(path, vector.keys, vector.name, { verifyFinalChunk: true });
        assert.equal(verified.plaintextBytes, whole.length);
      } catch (error) {
        if (vector.expect === 'success' || error instanceof assert.AssertionError) throw error;
        assertFailure(error, vector);
      } finally {
        rmSync(path, { force: true });
      }
    });
  }
});
