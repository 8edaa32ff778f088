/**
 * The age v1 file format (c2sp.org/age): the textual header (version line, recipient
 * stanzas, MAC line), its strict base64, and the header MAC. Parsing is as strict as the
 * reference implementation's (filippo.io/age), so a header we accept re-encodes to the very
 * bytes we read and the MAC can be checked over those bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const VERSION_LINE = 'age-encryption.org/v1\n';
const VERSION_PREFIX = 'age-encryption.org/';
/** Bytes of the 16-byte payload nonce that follows the header. */
export const PAYLOAD_NONCE_BYTES = 16;
export const FILE_KEY_BYTES = 16;
/** A stanza body is base64 wrapped at 64 columns, i.e. 48 bytes a line. */
const BODY_BYTES_PER_LINE = 48;
/**
 * The longest header we buffer. The format sets no limit; X25519 stanzas take ~100 bytes and
 * post-quantum ones ~1.6 KB, so 1 MiB is far beyond any real file and keeps memory bounded
 * when garbage is fed to the decrypter.
 */
export const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * How decryption failed, in the terms of the age test vectors: the header does not parse,
 * no identity opens a stanza, the header MAC is wrong, or the payload does not authenticate.
 */
export type AgeFailure = 'header' | 'no-match' | 'hmac' | 'payload';

export class AgeError extends Error {
  constructor(
    readonly failure: AgeFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AgeError';
  }
}

export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  mac: Buffer;
  /** The header up to and including "---", what the MAC covers. */
  macInput: Buffer;
  /** Bytes of the whole header, MAC line and its newline included (the payload nonce follows). */
  length: number;
}

const BASE64_CHARS = /^[A-Za-z0-9+/]*$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** Unpadded, canonical base64 only (the spec requires decoders to reject anything else); null otherwise. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64_CHARS.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64');
  return encodeBase64(bytes) === text ? bytes : null;
}

/**
 * HKDF-SHA-256 (RFC 5869) with 32 bytes of output, i.e. one expand block:
 * PRK = HMAC(salt, ikm), OKM = HMAC(PRK, info || 0x01). Two HMACs cost half of node's
 * hkdfSync (which looks the KDF up in OpenSSL each call), and opening a file runs three.
 */
function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  return createHmac('sha256', prk).update(info).update(HKDF_FIRST_BLOCK).digest();
}
const HKDF_FIRST_BLOCK = Buffer.from([1]);

export { hkdf as hkdfSha256 };

export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(macInput).digest();
}

/** Throws AgeError('hmac') unless the header's MAC is the one `fileKey` gives. */
export function checkHeaderMac(header: ParsedHeader, fileKey: Uint8Array): void {
  if (!timingSafeEqual(headerMac(fileKey, header.macInput), header.mac)) {
    throw new AgeError('hmac', 'the header MAC does not match (the header was altered)');
  }
}

/** The complete header for `stanzas`, MAC line included. */
export function encodeHeader(stanzas: readonly Stanza[], fileKey: Uint8Array): Buffer {
  let text = VERSION_LINE;
  for (const stanza of stanzas) {
    text += `-> ${[stanza.type, ...stanza.args].join(' ')}\n`;
    const body = encodeBase64(stanza.body);
    // Full 64-column lines, then a line shorter than 64 columns, empty if need be.
    for (let i = 0; i + 64 <= body.length; i += 64) text += `${body.slice(i, i + 64)}\n`;
    text += `${body.slice(body.length - (body.length % 64))}\n`;
  }
  text += '---';
  const macInput = Buffer.from(text, 'latin1');
  return Buffer.concat([macInput, Buffer.from(` ${encodeBase64(headerMac(fileKey, macInput))}\n`, 'latin1')]);
}

function isArgument(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function describeLine(line: string): string {
  const shown = line.length > 40 ? `${line.slice(0, 40)}...` : line;
  return JSON.stringify(shown);
}

/**
 * Parses the header at the start of `bytes`. Returns null when the bytes seen so far are a
 * valid beginning of a header but do not hold all of it (and `complete` is false: more may
 * come); throws AgeError('header') as soon as they cannot be one.
 */
export function parseHeader(bytes: Buffer, complete: boolean): ParsedHeader | null {
  const fail = (message: string): never => {
    throw new AgeError('header', message);
  };
  let position = 0;
  /** The next line without its LF, or null when it has not fully arrived. */
  const nextLine = (): string | null => {
    const end = bytes.indexOf(0x0a, position);
    if (end < 0) {
      if (complete) fail(bytes.length === 0 ? 'the file is empty' : 'the header ends early (file truncated?)');
      if (bytes.length - position > MAX_HEADER_BYTES) fail(`the header is longer than ${MAX_HEADER_BYTES} bytes`);
      return null;
    }
    const line = bytes.toString('latin1', position, end);
    position = end + 1;
    return line;
  };

  // Refuse a non-age input at its first bytes instead of buffering it in search of a newline.
  const start = bytes.toString('latin1', 0, Math.min(bytes.length, VERSION_PREFIX.length));
  if (!VERSION_PREFIX.startsWith(start)) fail('this is not an age file (no "age-encryption.org/" version line)');
  const version = nextLine();
  if (version === null) return null;
  if (`${version}\n` !== VERSION_LINE) fail(`unsupported age version line ${describeLine(version)}`);

  const stanzas: Stanza[] = [];
  for (;;) {
    if (position > MAX_HEADER_BYTES) fail(`the header is longer than ${MAX_HEADER_BYTES} bytes`);
    const lineStart = position;
    const line = nextLine();
    if (line === null) return null;
    if (line.startsWith('---')) {
      const parts = line.split(' ');
      const mac = parts.length === 2 && parts[0] === '---' ? decodeBase64Strict(parts[1]) : null;
      if (mac === null || mac.length !== 32) fail(`malformed MAC line ${describeLine(line)}`);
      return { stanzas, mac: mac as Buffer, macInput: bytes.subarray(0, lineStart + 3), length: position };
    }
    const parts = line.split(' ');
    if (parts[0] !== '->' || parts.length < 2 || !parts.slice(1).every(isArgument)) {
      fail(`malformed stanza line ${describeLine(line)}`);
    }
    const bodyLines: Buffer[] = [];
    for (;;) {
      const bodyLine = nextLine();
      if (bodyLine === null) return null;
      const decoded = decodeBase64Strict(bodyLine);
      if (decoded === null) fail(`malformed stanza body line ${describeLine(bodyLine)}`);
      if ((decoded as Buffer).length > BODY_BYTES_PER_LINE) fail('a stanza body line is longer than 64 columns');
      bodyLines.push(decoded as Buffer);
      if ((decoded as Buffer).length < BODY_BYTES_PER_LINE) break; // a short line ends the body
    }
    stanzas.push({ type: parts[1], args: parts.slice(2), body: Buffer.concat(bodyLines) });
  }
}
