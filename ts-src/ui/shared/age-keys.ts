/**
 * age X25519 keys in the browser, without bundling an age library (age-encryption pulls in
 * ~34 KB gzipped of post-quantum and cipher code; the page only needs key generation):
 * WebCrypto generates the X25519 pair, and Bech32 (BIP 173, as age uses it, without the
 * 90-character limit) encodes "age1..." recipients and "AGE-SECRET-KEY-1..." identities.
 * The secret key only ever leaves this module as a file the administrator downloads.
 */
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: readonly number[]): number {
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) checksum ^= GENERATOR[i];
  }
  return checksum >>> 0;
}

function expandHrp(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
}

function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let accumulator = 0;
  let bits = 0;
  const out: number[] = [];
  const maxValue = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    const value = data[i];
    if (value < 0 || value >> from !== 0) return null;
    accumulator = (accumulator << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((accumulator >> bits) & maxValue);
    }
  }
  if (pad) {
    if (bits > 0) out.push((accumulator << (to - bits)) & maxValue);
  } else if (bits >= from || ((accumulator << (to - bits)) & maxValue) !== 0) {
    return null;
  }
  return out;
}

/** Bech32-encodes bytes under a human-readable part (lower case). */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const words = convertBits(bytes, 8, 5, true) ?? [];
  const mod = polymod([...expandHrp(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = Array.from({ length: 6 }, (_, i) => (mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map((w) => CHARSET[w]).join('')}`;
}

/** Decodes and checks a Bech32 string; null when malformed or the checksum is wrong. */
export function bech32Decode(text: string): { hrp: string; bytes: Uint8Array } | null {
  if (text !== text.toLowerCase() && text !== text.toUpperCase()) return null;
  const lower = text.toLowerCase();
  const separator = lower.lastIndexOf('1');
  if (separator < 1 || separator + 7 > lower.length) return null;
  const hrp = lower.slice(0, separator);
  const words: number[] = [];
  for (const c of lower.slice(separator + 1)) {
    const w = CHARSET.indexOf(c);
    if (w < 0) return null;
    words.push(w);
  }
  if (polymod([...expandHrp(hrp), ...words]) !== 1) return null;
  const bytes = convertBits(words.slice(0, -6), 5, 8, false);
  return bytes ? { hrp, bytes: Uint8Array.from(bytes) } : null;
}

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
