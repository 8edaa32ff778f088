/**
 * The age payload: a 16-byte nonce, then STREAM chunks of 64 KiB of plaintext, each sealed
 * with ChaCha20-Poly1305 under the payload key and a nonce made of the chunk's index and a
 * flag set on the final chunk only. Chunks can be opened one at a time in any order, which is
 * what streaming and random access both build on.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { AgeError, hkdfSha256, PAYLOAD_NONCE_BYTES } from './age-format.js';

export const CHUNK_BYTES = 64 * 1024;
export const TAG_BYTES = 16;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
const FINAL_FLAG = 0x01;
/** Chunk indexes are written in 6 of the nonce's 11 counter bytes: 2^48 chunks is 16 EiB. */
const MAX_CHUNK_INDEX = 2 ** 48 - 1;

/** The payload key of a file, ready for many cipher operations. */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): KeyObject {
  return createSecretKey(hkdfSha256(fileKey, nonce, 'payload'));
}

export function newPayloadNonce(): Buffer {
  return randomBytes(PAYLOAD_NONCE_BYTES);
}

/**
 * A chunk's 12-byte AEAD nonce: big-endian counter in bytes 0..10, final flag in byte 11.
 * Writes into `into` (node copies the nonce when a cipher is made, so one buffer serves all).
 */
export function chunkNonce(index: number, final: boolean, into: Buffer = Buffer.alloc(12)): Buffer {
  if (!Number.isInteger(index) || index < 0 || index > MAX_CHUNK_INDEX) throw new RangeError(`chunk index ${index} out of range`);
  into.fill(0, 0, 5);
  into.writeUIntBE(index, 5, 6);
  into[11] = final ? FINAL_FLAG : 0;
  return into;
}

/**
 * Seals one chunk. Returns the ciphertext and the tag separately so the caller can write them
 * without concatenating (the ciphertext is as long as the plaintext, tag is 16 bytes).
 */
export function sealChunk(key: KeyObject, nonce: Buffer, plaintext: Uint8Array): [Buffer, Buffer] {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return [ciphertext, cipher.getAuthTag()];
}

/** Opens one sealed chunk (ciphertext then tag); null when it does not authenticate under `nonce`. */
export function openChunk(key: KeyObject, nonce: Buffer, sealed: Buffer): Buffer | null {
  if (sealed.length < TAG_BYTES) return null;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return plaintext;
}

/**
 * A complete age payload of `plaintext` under `fileKey`: a fresh 16-byte nonce (so its own
 * payload key, HKDF(fileKey, nonce)), then its STREAM chunks. Used for each blob of a pack,
 * on the pack writer's worker thread (so it imports nothing but node:crypto).
 */
export function sealPayload(fileKey: Uint8Array, plaintext: Uint8Array): Buffer {
  const nonce = newPayloadNonce();
  const key = payloadKey(fileKey, nonce);
  const chunks = chunkCount(plaintext.length);
  const out = Buffer.allocUnsafe(sealedPayloadSize(plaintext.length));
  nonce.copy(out, 0);
  let at = nonce.length;
  const chunkNonceBuffer = Buffer.alloc(12);
  for (let index = 0; index < chunks; index += 1) {
    const piece = plaintext.subarray(index * CHUNK_BYTES, Math.min(plaintext.length, (index + 1) * CHUNK_BYTES));
    const [ciphertext, tag] = sealChunk(key, chunkNonce(index, index === chunks - 1, chunkNonceBuffer), piece);
    at += ciphertext.copy(out, at);
    at += tag.copy(out, at);
  }
  return out;
}

/** Bytes of the age payload (nonce, chunks, tags) of `plaintextBytes`: what sealPayload returns. */
export function sealedPayloadSize(plaintextBytes: number): number {
  return PAYLOAD_NONCE_BYTES + plaintextBytes + chunkCount(plaintextBytes) * TAG_BYTES;
}

/** Chunks in a payload of `plaintextBytes`: an empty payload still has one (empty, final) chunk. */
export function chunkCount(plaintextBytes: number): number {
  return Math.max(1, Math.ceil(plaintextBytes / CHUNK_BYTES));
}

/** Bytes of an age file whose header is `headerBytes` long and whose plaintext is `plaintextBytes`. */
export function encryptedFileSize(plaintextBytes: number, headerBytes: number): number {
  return headerBytes + sealedPayloadSize(plaintextBytes);
}

/**
 * The plaintext size of an age file of `fileBytes` whose header (MAC line included) is
 * `headerBytes` long: the payload nonce and one tag per chunk come off. Throws
 * AgeError('payload') for a size no age file can have (no payload, a final chunk too short
 * to hold a tag, an empty final chunk after full ones): such a file was truncated or extended.
 * The size is only a claim until the final chunk has been opened with the final flag.
 */
export function plaintextSize(fileBytes: number, headerBytes: number): number {
  const payload = fileBytes - headerBytes - PAYLOAD_NONCE_BYTES;
  if (!Number.isSafeInteger(payload) || payload < TAG_BYTES) {
    throw new AgeError('payload', `the file is too short to hold an age payload (${fileBytes} bytes with a ${headerBytes}-byte header)`);
  }
  const chunks = Math.ceil(payload / SEALED_CHUNK_BYTES);
  const plaintext = payload - chunks * TAG_BYTES;
  if (chunkCount(plaintext) !== chunks) {
    throw new AgeError('payload', `${fileBytes} bytes is not a possible age file size for this header (truncated or extended?)`);
  }
  return plaintext;
}
