/**
 * age X25519 keys in the browser, without bundling an age library (age-encryption pulls in
 * ~34 KB gzipped of post-quantum and cipher code; the page only needs key generation):
 * WebCrypto generates the X25519 pair, and Bech32 (BIP 173, as age uses it, without the
 * 90-character limit) encodes "age1..." recipients and "AGE-SECRET-KEY-1..." identities.
 * The secret key only ever leaves this module as a file the administrator downloads.
 */
import { bech32Decode, bech32Encode } from '../../protocol/bech32.js';

export { bech32Decode, bech32Encode };

/** True for a well-formed age X25519 recipient: "age1" + 32 bytes + a valid checksum. */
export function isAgeRecipient(value: string): boolean {
  if (!/^age1[0-9a-z]{58}$/.test(value)) return false;
  const decoded = bech32Decode(value);
  return decoded !== null && decoded.hrp === 'age' && decoded.bytes.length === 32;
}

function base64UrlToBytes(value: string): Uint8Array {
  const base64 = value.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(value.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

export interface AgeKeyPair {
  /** Public: "age1...", goes into the recipients list and to the server. */
  recipient: string;
  /** Secret: "AGE-SECRET-KEY-1...", only ever offered as a download. */
  identity: string;
  createdAt: string;
}

/** True when this browser's WebCrypto can make X25519 keys (Chromium 133+, Firefox, Safari 17+). */
export async function canGenerateX25519(): Promise<boolean> {
  try {
    await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
    return true;
  } catch {
    return false;
  }
}

export async function generateAgeKeyPair(now: Date = new Date()): Promise<AgeKeyPair> {
  const pair = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  // JWK "d" is the raw 32-byte scalar, exactly what age stores in its identity string.
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  if (!jwk.d) throw new Error('The browser did not export the X25519 private key.');
  const secret = base64UrlToBytes(jwk.d);
  return {
    recipient: bech32Encode('age', publicKey),
    identity: bech32Encode('age-secret-key-', secret).toUpperCase(),
    createdAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** The key file in age-keygen's format, so `age -d -i key.txt` reads it. */
export function identityFileText(pair: AgeKeyPair): string {
  return `# created: ${pair.createdAt}\n# public key: ${pair.recipient}\n${pair.identity}\n`;
}

/**
 * Finds the identity line in pasted text or a key file (age-keygen's comments allowed) and
 * checks it; returns the identity or null when none is there or its checksum is wrong.
 */
export function extractAgeIdentity(text: string): string | null {
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (!line || !/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/.test(line)) return null;
  const decoded = bech32Decode(line);
  return decoded && decoded.hrp === 'age-secret-key-' && decoded.bytes.length === 32 ? line : null;
}
