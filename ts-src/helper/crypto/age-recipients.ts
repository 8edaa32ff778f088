/**
 * age's native X25519 and scrypt recipient types: wrapping a file key into header stanzas
 * for recipients and passphrases, and unwrapping it with identities and passphrases, with
 * node:crypto only (X25519 KeyObjects, HKDF-SHA-256, ChaCha20-Poly1305, scrypt).
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  scrypt,
  type KeyObject,
} from 'node:crypto';
import { bech32Decode } from '../../protocol/bech32.js';
import { AgeError, decodeBase64Strict, encodeBase64, FILE_KEY_BYTES, hkdfSha256, type Stanza } from './age-format.js';

const X25519_INFO = 'age-encryption.org/v1/X25519';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
const SCRYPT_SALT_BYTES = 16;
/** age's own cap (filippo.io/age: 22, "15s on a modern machine"); a higher factor is refused unread. */
export const MAX_SCRYPT_WORK_FACTOR = 22;
/** age's default for passphrase encryption: about a second of work. */
export const DEFAULT_SCRYPT_WORK_FACTOR = 18;
/** The wrapped file key: 16 bytes plus the 16-byte Poly1305 tag. */
const WRAPPED_KEY_BYTES = FILE_KEY_BYTES + 16;
const ZERO_NONCE = Buffer.alloc(12);

// Raw keys go in and out of node:crypto as JWK: OpenSSL's DER decoders take ~0.6 ms a key,
// the JWK path ~0.05 ms, which matters when every opened pack unwraps a stanza.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** The X25519 base point (u = 9), a valid public value to satisfy JWK's "x" before the real one is known. */
const BASE_POINT = Buffer.concat([Buffer.from([9]), Buffer.alloc(31)]).toString('base64url');

/** An identity ready to unwrap: the private key and its own public key (part of the HKDF salt). */
export interface X25519Identity {
  privateKey: KeyObject;
  publicKey: Buffer;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
}

/**
 * A private KeyObject from the raw scalar. Node builds it from "d" alone and derives the
 * public half itself; should a Node version check "x" against "d", the DER path still works.
 */
function privateKeyObject(raw: Uint8Array): KeyObject {
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(raw).toString('base64url'), x: BASE_POINT }, format: 'jwk' });
  } catch {
    return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  }
}

/** The 32-byte public key of an "age1..." recipient; throws when it is not one (checksum included). */
export function parseRecipient(recipient: string): Buffer {
  const decoded = bech32Decode(recipient);
  if (decoded === null || decoded.hrp !== 'age' || decoded.bytes.length !== 32 || recipient !== recipient.toLowerCase()) {
    throw new Error('not an age X25519 recipient (age1..., 32 bytes, valid Bech32 checksum)');
  }
  return Buffer.from(decoded.bytes);
}

/** Parses an "AGE-SECRET-KEY-1..." identity; throws when it is not one. */
export function parseIdentity(identity: string): X25519Identity {
  const decoded = bech32Decode(identity);
  if (decoded === null || decoded.hrp !== 'age-secret-key-' || decoded.bytes.length !== 32 || identity !== identity.toUpperCase()) {
    throw new Error('not an age X25519 identity (AGE-SECRET-KEY-1..., 32 bytes, valid Bech32 checksum)');
  }
  const privateKey = privateKeyObject(decoded.bytes);
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)) };
}

function seal(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Uint8Array, sealed: Buffer): Buffer | null {
  const decipher = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - 16));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return plaintext;
}

/** An X25519 stanza wrapping `fileKey` for one recipient, with a fresh ephemeral key. */
export function wrapForRecipient(fileKey: Uint8Array, recipient: Buffer): Stanza {
  const ephemeral = generateKeyPairSync('x25519');
  const share = rawPublicKey(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(recipient) });
  const wrapKey = hkdfSha256(shared, Buffer.concat([share, recipient]), X25519_INFO);
  return { type: 'X25519', args: [encodeBase64(share)], body: seal(wrapKey, fileKey) };
}

function scryptKey(passphrase: string, salt: Buffer, workFactor: number): Promise<Buffer> {
  const N = 2 ** workFactor;
  return new Promise((resolve, reject) => {
    // scrypt needs 128 * N * r bytes; node refuses more than maxmem, so allow exactly that and some.
    const options = { N, r: 8, p: 1, maxmem: 128 * N * 8 + (1 << 20) };
    scrypt(Buffer.from(passphrase, 'utf8'), Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), 32, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** An scrypt stanza wrapping `fileKey` with a passphrase (it must be the header's only stanza). */
export async function wrapForPassphrase(fileKey: Uint8Array, passphrase: string, workFactor: number): Promise<Stanza> {
  if (passphrase === '') throw new Error('the passphrase is empty');
  if (!Number.isInteger(workFactor) || workFactor < 1 || workFactor > MAX_SCRYPT_WORK_FACTOR) {
    throw new Error(`scrypt work factor ${workFactor} is outside 1..${MAX_SCRYPT_WORK_FACTOR}`);
  }
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const wrapKey = await scryptKey(passphrase, salt, workFactor);
  return { type: 'scrypt', args: [encodeBase64(salt), String(workFactor)], body: seal(wrapKey, fileKey) };
}

function headerError(message: string): AgeError {
  return new AgeError('header', message);
}

/** The body of a native stanza must be exactly one wrapped key, checked before any decryption. */
function wrappedKey(stanza: Stanza): Buffer {
  if (stanza.body.length !== WRAPPED_KEY_BYTES) throw headerError(`the ${stanza.type} stanza's body is ${stanza.body.length} bytes, not ${WRAPPED_KEY_BYTES}`);
  return stanza.body;
}

function unwrapX25519(stanza: Stanza, identity: X25519Identity): Buffer | null {
  if (stanza.args.length !== 1) throw headerError(`an X25519 stanza has ${stanza.args.length} arguments, not 1`);
  const share = decodeBase64Strict(stanza.args[0]);
  if (share === null || share.length !== 32) throw headerError('an X25519 stanza has a malformed ephemeral share');
  const body = wrappedKey(stanza);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: identity.privateKey, publicKey: publicKeyObject(share) });
  } catch {
    // OpenSSL refuses a low-order share (the shared secret would be all zeros).
    throw headerError('an X25519 stanza has a low-order ephemeral share');
  }
  if (shared.every((byte) => byte === 0)) throw headerError('an X25519 stanza has a low-order ephemeral share');
  const wrapKey = hkdfSha256(shared, Buffer.concat([share, identity.publicKey]), X25519_INFO);
  return open(wrapKey, body);
}

async function unwrapScrypt(stanza: Stanza, passphrase: string): Promise<Buffer | null> {
  if (stanza.args.length !== 2) throw headerError(`an scrypt stanza has ${stanza.args.length} arguments, not 2`);
  const salt = decodeBase64Strict(stanza.args[0]);
  if (salt === null || salt.length !== SCRYPT_SALT_BYTES) throw headerError('an scrypt stanza has a malformed salt');
  if (!/^[1-9][0-9]*$/.test(stanza.args[1])) throw headerError(`an scrypt stanza has a malformed work factor ${JSON.stringify(stanza.args[1].slice(0, 20))}`);
  const workFactor = Number(stanza.args[1]);
  if (workFactor > MAX_SCRYPT_WORK_FACTOR) {
    throw headerError(`the scrypt work factor ${stanza.args[1].slice(0, 20)} is above ${MAX_SCRYPT_WORK_FACTOR}, the most age accepts`);
  }
  const body = wrappedKey(stanza);
  return open(await scryptKey(passphrase, salt, workFactor), body);
}

/**
 * The file key from the header's stanzas, as age does it: X25519 identities first, then
 * passphrases, each tried on every stanza of its type (other types are skipped, as the spec
 * says). A stanza of our type that is malformed is damage (AgeError 'header'); no stanza
 * opening is AgeError 'no-match'. An scrypt stanza must be the only stanza.
 */
export async function unwrapFileKey(stanzas: readonly Stanza[], identities: readonly X25519Identity[], passphrases: readonly string[]): Promise<Buffer> {
  if (stanzas.some((s) => s.type === 'scrypt') && stanzas.length !== 1) {
    throw headerError('an scrypt (passphrase) stanza must be the only stanza in the header');
  }
  for (const identity of identities) {
    for (const stanza of stanzas) {
      if (stanza.type !== 'X25519') continue;
      const fileKey = unwrapX25519(stanza, identity);
      if (fileKey) return fileKey;
    }
  }
  for (const passphrase of passphrases) {
    for (const stanza of stanzas) {
      if (stanza.type !== 'scrypt') continue;
      const fileKey = await unwrapScrypt(stanza, passphrase);
      if (fileKey) return fileKey;
    }
  }
  const types = [...new Set(stanzas.map((s) => s.type))].join(', ');
  throw new AgeError('no-match', `no identity matched any of the file's recipients (stanza types: ${types || 'none'})`);
}
