/**
 * age encryption and decryption as Node stream stages (Transforms, for pipeline()), native
 * over node:crypto: see age-format.ts (header), age-recipients.ts (X25519, scrypt) and
 * age-payload.ts (STREAM chunks). Memory stays at about one 64 KiB chunk each way whatever the
 * part size; a chunk that arrives whole inside a larger write is sealed or opened in place.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import { BackupError } from '../core/errors.js';
import { AgeError, checkHeaderMac, encodeHeader, FILE_KEY_BYTES, MAX_HEADER_BYTES, PAYLOAD_NONCE_BYTES, parseHeader, type Stanza } from './age-format.js';
import { CHUNK_BYTES, chunkNonce, newPayloadNonce, openChunk, payloadKey, SEALED_CHUNK_BYTES, sealChunk, TAG_BYTES } from './age-payload.js';
import {
  DEFAULT_SCRYPT_WORK_FACTOR,
  parseIdentity,
  parseRecipient,
  unwrapFileKey,
  wrapForPassphrase,
  wrapForRecipient,
  type X25519Identity,
} from './age-recipients.js';

export interface EncryptionKeys {
  /** X25519 recipients, "age1...". */
  recipients: string[];
  /** Passphrase mode (scrypt); mutually exclusive with recipients in the age format. */
  passphrase?: string;
  /** scrypt log2 work factor; lowered only by tests (CIVIBACKUP_TEST_SCRYPT_LOG_N). */
  scryptWorkFactor?: number;
}

export interface DecryptionKeys {
  /** "AGE-SECRET-KEY-1..." identities. */
  identities: string[];
  passphrases: string[];
}

/**
 * TEST-ONLY knob: CIVIBACKUP_TEST_SCRYPT_LOG_N lowers the scrypt work factor of passphrase
 * encryption (default 18, about 1 s and 256 MiB per part) so the test suite stays fast; the
 * test runner sets it to 10. Never set it in production: a low factor makes a weak passphrase
 * cheap to brute-force. Decryption reads the factor from the file's header, so files written
 * with it still open everywhere (age refuses factors above 22, not low ones).
 */
function testWorkFactor(): number | undefined {
  const raw = process.env.CIVIBACKUP_TEST_SCRYPT_LOG_N;
  if (!raw) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= 22 ? n : undefined;
}

/**
 * The header (MAC line included) and payload key of a new age file for `keys`, with a fresh
 * file key and payload nonce. Throws CONFIG for keys age cannot use.
 */
export async function newAgeFileHeader(keys: EncryptionKeys): Promise<{ header: Buffer; key: KeyObject }> {
  const fileKey = randomBytes(FILE_KEY_BYTES);
  let stanzas: Stanza[];
  if (keys.passphrase !== undefined) {
    if (keys.recipients.length > 0) throw new BackupError('CONFIG', 'age cannot combine a passphrase with recipients; choose one.');
    const workFactor = keys.scryptWorkFactor ?? testWorkFactor() ?? DEFAULT_SCRYPT_WORK_FACTOR;
    try {
      stanzas = [await wrapForPassphrase(fileKey, keys.passphrase, workFactor)];
    } catch (error) {
      throw new BackupError('CONFIG', `Cannot encrypt with this passphrase: ${(error as Error).message}.`, { cause: error });
    }
  } else {
    if (keys.recipients.length === 0) throw new BackupError('CONFIG', 'Encryption needs at least one recipient or a passphrase.');
    stanzas = keys.recipients.map((recipient) => {
      let publicKey: Buffer;
      try {
        publicKey = parseRecipient(recipient);
      } catch (error) {
        throw new BackupError('CONFIG', `"${recipient}" is not a valid age recipient.`, { cause: error });
      }
      return wrapForRecipient(fileKey, publicKey);
    });
  }
  const nonce = newPayloadNonce();
  return { header: Buffer.concat([encodeHeader(stanzas, fileKey), nonce]), key: payloadKey(fileKey, nonce) };
}

/** Plaintext in, an age file out: header and nonce first, then one sealed chunk per 64 KiB. */
class EncryptTransform extends Transform {
  private headerPending: Buffer | null;
  /** Plaintext not yet sealed; a full chunk waits here until more input shows it is not the last. */
  private readonly staged = Buffer.allocUnsafe(CHUNK_BYTES);
  private stagedBytes = 0;
  private index = 0;
  private readonly nonce = Buffer.alloc(12);

  constructor(
    header: Buffer,
    private readonly key: KeyObject,
  ) {
    super();
    this.headerPending = header;
  }

  private pushHeader(): void {
    if (this.headerPending) {
      this.push(this.headerPending);
      this.headerPending = null;
    }
  }

  /** Sealed output of the current write, pushed as one buffer: one downstream write per input write, not two per chunk. */
  private output: Buffer[] = [];
  private outputBytes = 0;

  private seal(plaintext: Uint8Array, final: boolean): void {
    const [ciphertext, tag] = sealChunk(this.key, chunkNonce(this.index, final, this.nonce), plaintext);
    this.index += 1;
    this.output.push(ciphertext, tag);
    this.outputBytes += ciphertext.length + tag.length;
  }

  private pushOutput(): void {
    if (this.output.length > 0) this.push(this.output.length === 1 ? this.output[0] : Buffer.concat(this.output, this.outputBytes));
    this.output = [];
    this.outputBytes = 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pushHeader();
      let offset = 0;
      while (offset < chunk.length) {
        if (this.stagedBytes === CHUNK_BYTES) {
          this.seal(this.staged, false); // more input follows, so it is not the final chunk
          this.stagedBytes = 0;
        }
        if (this.stagedBytes === 0 && chunk.length - offset > CHUNK_BYTES) {
          this.seal(chunk.subarray(offset, offset + CHUNK_BYTES), false);
          offset += CHUNK_BYTES;
          continue;
        }
        const copied = chunk.copy(this.staged, this.stagedBytes, offset, Math.min(chunk.length, offset + CHUNK_BYTES - this.stagedBytes));
        this.stagedBytes += copied;
        offset += copied;
      }
      this.pushOutput();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.pushHeader();
      this.seal(this.staged.subarray(0, this.stagedBytes), true);
      this.pushOutput();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

export async function createEncryptStream(keys: EncryptionKeys): Promise<Duplex> {
  const { header, key } = await newAgeFileHeader(keys);
  return new EncryptTransform(header, key);
}

/** Parsed keys for decryption. */
export interface AgeDecryptionKeys {
  identities: X25519Identity[];
  passphrases: string[];
}

/** Parses the identities of `keys`; CONFIG (naming `label`, never the key) when one is not an age identity. */
export function prepareDecryptionKeys(keys: DecryptionKeys, label: string): AgeDecryptionKeys {
  const identities = keys.identities.map((identity) => {
    try {
      return parseIdentity(identity);
    } catch (error) {
      throw new BackupError('CONFIG', `${label}: an identity given is not an age secret key (AGE-SECRET-KEY-1...).`, { cause: error });
    }
  });
  return { identities, passphrases: keys.passphrases };
}

type DecryptState = 'header' | 'nonce' | 'payload';

/** An age file in, plaintext out; fails on the first byte that does not authenticate. */
class DecryptTransform extends Transform {
  private state: DecryptState = 'header';
  /** Header bytes, and after the header the payload nonce, until they are complete. */
  private prefix: Buffer[] = [];
  private prefixBytes = 0;
  private headerBytes = 0;
  private fileKey: Buffer | null = null;
  private key: KeyObject | null = null;
  /** Sealed bytes not yet opened; a full chunk waits here until more input or the end says whether it is the last. */
  private readonly staged = Buffer.allocUnsafe(SEALED_CHUNK_BYTES);
  private stagedBytes = 0;
  private index = 0;
  private readonly nonce = Buffer.alloc(12);
  /** Plaintext of the current write, pushed as one buffer. */
  private output: Buffer[] = [];
  private outputBytes = 0;

  constructor(
    private readonly keys: AgeDecryptionKeys,
    private readonly label: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.state !== 'payload') {
      this.takePrefix(chunk, false).then(
        (rest) => callback(this.guard(() => rest && this.takePayload(rest))),
        (error: unknown) => callback(mapDecryptError(error, this.label)),
      );
      return;
    }
    callback(this.guard(() => this.takePayload(chunk)));
  }

  override _flush(callback: TransformCallback): void {
    if (this.state !== 'payload') {
      this.takePrefix(Buffer.alloc(0), true).then(
        () => callback(this.guard(() => this.finish())),
        (error: unknown) => callback(mapDecryptError(error, this.label)),
      );
      return;
    }
    callback(this.guard(() => this.finish()));
  }

  /** Runs a payload step; the plaintext it authenticated is pushed even when a later chunk fails, as age does. */
  private guard(step: () => void): BackupError | null {
    try {
      step();
      return null;
    } catch (error) {
      return mapDecryptError(error, this.label);
    } finally {
      if (this.output.length > 0) this.push(this.output.length === 1 ? this.output[0] : Buffer.concat(this.output, this.outputBytes));
      this.output = [];
      this.outputBytes = 0;
    }
  }

  /** Collects the header and the payload nonce; returns the bytes past them once both are in. */
  private async takePrefix(chunk: Buffer, ended: boolean): Promise<Buffer | null> {
    if (chunk.length > 0) {
      this.prefix.push(chunk);
      this.prefixBytes += chunk.length;
    }
    const bytes = this.prefix.length === 1 ? this.prefix[0] : Buffer.concat(this.prefix, this.prefixBytes);
    this.prefix = [bytes];
    if (this.state === 'header') {
      const header = parseHeader(bytes, ended);
      if (header === null) {
        if (this.prefixBytes > MAX_HEADER_BYTES) throw new AgeError('header', `the header is longer than ${MAX_HEADER_BYTES} bytes`);
        return null;
      }
      const fileKey = await unwrapFileKey(header.stanzas, this.keys.identities, this.keys.passphrases);
      checkHeaderMac(header, fileKey);
      this.fileKey = fileKey;
      this.headerBytes = header.length;
      this.state = 'nonce';
    }
    if (bytes.length < this.headerBytes + PAYLOAD_NONCE_BYTES) {
      if (ended) throw new AgeError('header', 'the file ends before the payload nonce (truncated after the header)');
      return null;
    }
    this.key = payloadKey(this.fileKey as Buffer, bytes.subarray(this.headerBytes, this.headerBytes + PAYLOAD_NONCE_BYTES));
    this.fileKey = null;
    this.prefix = [];
    this.state = 'payload';
    return bytes.subarray(this.headerBytes + PAYLOAD_NONCE_BYTES);
  }

  /**
   * Opens `sealed`, one chunk: a full one is tried as a middle chunk, then as a full final
   * chunk; a short one can only be final. Pushes its plaintext and says whether it was final.
   */
  private open(sealed: Buffer): boolean {
    if (sealed.length === TAG_BYTES && this.index > 0) {
      throw new AgeError('payload', `chunk ${this.index} is empty; only an empty file may end with an empty chunk`);
    }
    let final = sealed.length < SEALED_CHUNK_BYTES;
    let plaintext = openChunk(this.key as KeyObject, chunkNonce(this.index, final, this.nonce), sealed);
    if (plaintext === null && !final) {
      final = true;
      plaintext = openChunk(this.key as KeyObject, chunkNonce(this.index, true, this.nonce), sealed);
    }
    if (plaintext === null) {
      throw new AgeError('payload', `chunk ${this.index} (at payload byte ${this.index * SEALED_CHUNK_BYTES}) fails authentication: altered or cut`);
    }
    this.index += 1;
    this.output.push(plaintext);
    this.outputBytes += plaintext.length;
    return final;
  }

  /** A chunk with more bytes after it must not be the final one. */
  private openMiddle(sealed: Buffer): void {
    if (this.open(sealed)) throw new AgeError('payload', 'data follows the final chunk (bytes appended to the file?)');
  }

  private takePayload(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.stagedBytes === SEALED_CHUNK_BYTES) {
        this.openMiddle(this.staged);
        this.stagedBytes = 0;
      }
      if (this.stagedBytes === 0 && chunk.length - offset > SEALED_CHUNK_BYTES) {
        this.openMiddle(chunk.subarray(offset, offset + SEALED_CHUNK_BYTES));
        offset += SEALED_CHUNK_BYTES;
        continue;
      }
      const copied = chunk.copy(this.staged, this.stagedBytes, offset, Math.min(chunk.length, offset + SEALED_CHUNK_BYTES - this.stagedBytes));
      this.stagedBytes += copied;
      offset += copied;
    }
  }

  private finish(): void {
    if (this.stagedBytes < TAG_BYTES) {
      const where = this.stagedBytes === 0 ? `after ${this.index} full chunks` : `inside chunk ${this.index}`;
      throw new AgeError('payload', `the file ends without its final chunk (truncated ${where})`);
    }
    if (!this.open(this.staged.subarray(0, this.stagedBytes))) {
      throw new AgeError('payload', `the file ends without its final chunk (truncated after ${this.index} full chunks)`);
    }
  }
}

export async function createDecryptStream(keys: DecryptionKeys, label: string): Promise<Duplex> {
  return new DecryptTransform(prepareDecryptionKeys(keys, label), label);
}

/** WRONG_KEY when no identity or passphrase opens the header; any other failure is damage (exit 3). */
export function mapDecryptError(error: unknown, label: string): BackupError {
  if (error instanceof BackupError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // Only "nothing in the header opens with these keys" means a wrong key. A malformed stanza,
  // a bad header MAC, a failed chunk tag or an early end are damage (exit 3). A flipped byte
  // inside a recipient stanza looks like a wrong key to age; the manifest's SHA-256, checked
  // before decrypting, tells those apart.
  if (error instanceof AgeError && error.failure === 'no-match') {
    return new BackupError('WRONG_KEY', `${label}: the identity or passphrase does not open this part (${message}).`, { cause: error });
  }
  return new BackupError('SET_DAMAGED', `${label} is damaged or truncated: ${message}`, { cause: error });
}

export function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  return (async () => {
    // Only keygen needs the age library (its key encoding); loaded here, the bundle keeps it
    // (and the curves it brings) out of every other command's start-up.
    const age = await import('age-encryption');
    const identity = await age.generateIdentity();
    const recipient = await age.identityToRecipient(identity);
    return { identity, recipient };
  })();
}
