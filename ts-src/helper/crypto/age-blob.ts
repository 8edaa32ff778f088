/**
 * Many small age payloads under one age header: the encryption of a repository pack. The pack
 * starts with an age header (a fresh file key wrapped for the recipients, or for the
 * passphrase); each blob is sealed as a complete age payload of its own: a fresh 16-byte
 * nonce, then STREAM chunks under HKDF(fileKey, nonce) exactly as in an age file. So the
 * header followed by any one blob's bytes IS an age file, and the real `age -d` decrypts it:
 *
 *   { head -c H pack; tail -c +$((offset+1)) pack | head -c length; } | age -d -i key
 *
 * A fresh nonce per blob gives every blob its own payload key, as age gives every file its own;
 * the file key is never used directly (only through HKDF), as in age.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { BackupError } from '../core/errors.js';
import { AgeError, checkHeaderMac, encodeHeader, FILE_KEY_BYTES, PAYLOAD_NONCE_BYTES, parseHeader, type Stanza } from './age-format.js';
import { chunkCount, chunkNonce, openChunk, payloadKey, plaintextSize, SEALED_CHUNK_BYTES, sealPayload } from './age-payload.js';
import { DEFAULT_SCRYPT_WORK_FACTOR, parseRecipient, unwrapFileKey, wrapForPassphrase, wrapForRecipient } from './age-recipients.js';
import { mapDecryptError, prepareDecryptionKeys, type AgeDecryptionKeys, type DecryptionKeys, type EncryptionKeys } from './age-stream.js';

/** Same test-only knob as age-stream.ts: CIVIBACKUP_TEST_SCRYPT_LOG_N lowers the passphrase work factor in tests. */
function workFactor(keys: EncryptionKeys): number {
  if (keys.scryptWorkFactor !== undefined) return keys.scryptWorkFactor;
  const n = Number(process.env.CIVIBACKUP_TEST_SCRYPT_LOG_N);
  return Number.isInteger(n) && n >= 1 && n <= 22 ? n : DEFAULT_SCRYPT_WORK_FACTOR;
}

async function stanzasFor(keys: EncryptionKeys, fileKey: Buffer): Promise<Stanza[]> {
  if (keys.passphrase !== undefined) {
    if (keys.recipients.length > 0) throw new BackupError('CONFIG', 'age cannot combine a passphrase with recipients; choose one.');
    try {
      return [await wrapForPassphrase(fileKey, keys.passphrase, workFactor(keys))];
    } catch (error) {
      throw new BackupError('CONFIG', `Cannot encrypt with this passphrase: ${(error as Error).message}.`, { cause: error });
    }
  }
  if (keys.recipients.length === 0) throw new BackupError('CONFIG', 'Encryption needs at least one recipient or a passphrase.');
  return keys.recipients.map((recipient) => {
    let publicKey: Buffer;
    try {
      publicKey = parseRecipient(recipient);
    } catch (error) {
      throw new BackupError('CONFIG', `"${recipient}" is not a valid age recipient.`, { cause: error });
    }
    return wrapForRecipient(fileKey, publicKey);
  });
}

/** Seals blobs under one age header (one per pack). */
export class BlobSealer {
  private constructor(
    /** The age header, MAC line included; no payload nonce (each blob brings its own). */
    readonly header: Buffer,
    /**
     * The pack's file key: the pack writer's worker thread (same process) seals with it. It
     * never leaves the process and is never written anywhere but wrapped in the header.
     */
    readonly fileKey: Buffer,
  ) {}

  /** A fresh file key wrapped for `keys` (recipients, or one passphrase). */
  static async create(keys: EncryptionKeys): Promise<BlobSealer> {
    const fileKey = randomBytes(FILE_KEY_BYTES);
    return new BlobSealer(encodeHeader(await stanzasFor(keys, fileKey), fileKey), fileKey);
  }

  /** An age payload of `plaintext`: 16-byte nonce, then its STREAM chunks. */
  seal(plaintext: Uint8Array): Buffer {
    return sealPayload(this.fileKey, plaintext);
  }

  /** A complete age file of `plaintext` (header, then the payload): what keys/idkey.age holds. */
  sealFile(plaintext: Uint8Array): Buffer {
    return Buffer.concat([this.header, this.seal(plaintext)]);
  }
}

/** Opens the blobs sealed under one age header. */
export class BlobOpener {
  private constructor(private readonly fileKey: Buffer) {}

  /**
   * Unwraps the header's file key with `keys` and checks the header MAC. AgeError 'no-match'
   * when no identity or passphrase opens it, 'header' / 'hmac' when it is damaged.
   */
  static async create(keys: AgeDecryptionKeys, header: Buffer): Promise<BlobOpener> {
    const parsed = parseHeader(header, true);
    if (parsed === null || parsed.length !== header.length) throw new AgeError('header', 'the pack header has bytes after its MAC line');
    const fileKey = await unwrapFileKey(parsed.stanzas, keys.identities, keys.passphrases);
    checkHeaderMac(parsed, fileKey);
    return new BlobOpener(fileKey);
  }

  /** The plaintext of one sealed blob; AgeError 'payload' when it does not authenticate or is cut. */
  open(sealed: Buffer): Buffer {
    if (sealed.length < PAYLOAD_NONCE_BYTES) throw new AgeError('payload', 'the blob is shorter than its nonce');
    const plaintextBytes = plaintextSize(sealed.length, 0);
    const key: KeyObject = payloadKey(this.fileKey, sealed.subarray(0, PAYLOAD_NONCE_BYTES));
    const chunks = chunkCount(plaintextBytes);
    const out: Buffer[] = [];
    const nonce = Buffer.alloc(12);
    for (let index = 0; index < chunks; index += 1) {
      const start = PAYLOAD_NONCE_BYTES + index * SEALED_CHUNK_BYTES;
      const piece = sealed.subarray(start, Math.min(sealed.length, start + SEALED_CHUNK_BYTES));
      const plaintext = openChunk(key, chunkNonce(index, index === chunks - 1, nonce), piece);
      if (plaintext === null) throw new AgeError('payload', `chunk ${index} of the blob fails authentication: altered or cut`);
      out.push(plaintext);
    }
    return out.length === 1 ? out[0] : Buffer.concat(out, plaintextBytes);
  }
}

/** Parsed keys, once per reader (each identity parse is a key import). */
export function prepareBlobKeys(keys: DecryptionKeys, label: string): AgeDecryptionKeys {
  return prepareDecryptionKeys(keys, label);
}

/** Decrypts a complete small age file (keys/idkey.age); WRONG_KEY or SET_DAMAGED naming `label`. */
export async function openSmallAgeFile(file: Buffer, keys: AgeDecryptionKeys, label: string): Promise<Buffer> {
  try {
    const parsed = parseHeader(file, true);
    if (parsed === null) throw new AgeError('header', 'no header');
    const opener = await BlobOpener.create(keys, file.subarray(0, parsed.length));
    return opener.open(file.subarray(parsed.length));
  } catch (error) {
    throw error instanceof AgeError ? mapDecryptError(error, label) : error;
  }
}
