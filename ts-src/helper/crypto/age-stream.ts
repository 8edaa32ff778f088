/**
 * age encryption as Node stream stages, over the age-encryption library's web streams.
 * The library streams in 64 KiB chunks, so memory stays flat whatever the part size.
 */
import { Duplex } from 'node:stream';
import * as age from 'age-encryption';
import { BackupError } from '../core/errors.js';

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
 * encryption (default 18, about 3 s and 330 MiB per part) so the test suite stays fast; the
 * test runner sets it to 10. Never set it in production: a low factor makes a weak passphrase
 * cheap to brute-force. Decryption reads the factor from the file's header, so files written
 * with it still open everywhere (age refuses factors above 20, not low ones).
 */
function testWorkFactor(): number | undefined {
  const raw = process.env.CIVIBACKUP_TEST_SCRYPT_LOG_N;
  if (!raw) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= 22 ? n : undefined;
}

export async function createEncryptStream(keys: EncryptionKeys): Promise<Duplex> {
  const encrypter = new age.Encrypter();
  if (keys.passphrase !== undefined) {
    if (keys.recipients.length > 0) throw new BackupError('CONFIG', 'age cannot combine a passphrase with recipients; choose one.');
    encrypter.setPassphrase(keys.passphrase);
    const workFactor = keys.scryptWorkFactor ?? testWorkFactor();
    if (workFactor !== undefined) encrypter.setScryptWorkFactor(workFactor);
  } else {
    if (keys.recipients.length === 0) throw new BackupError('CONFIG', 'Encryption needs at least one recipient or a passphrase.');
    for (const recipient of keys.recipients) {
      try {
        encrypter.addRecipient(recipient);
      } catch (error) {
        throw new BackupError('CONFIG', `"${recipient}" is not a valid age recipient.`, { cause: error });
      }
    }
  }
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const output = await encrypter.encrypt(input.readable);
  // DOM and Node typings of web streams differ only in iterator members.
  return Duplex.fromWeb({ writable: input.writable, readable: output } as never);
}

export async function createDecryptStream(keys: DecryptionKeys, label: string): Promise<Duplex> {
  const decrypter = new age.Decrypter();
  for (const identity of keys.identities) {
    try {
      decrypter.addIdentity(identity);
    } catch (error) {
      throw new BackupError('CONFIG', `${label}: an identity given is not an age secret key (AGE-SECRET-KEY-1...).`, { cause: error });
    }
  }
  for (const passphrase of keys.passphrases) decrypter.addPassphrase(passphrase);
  const input = new TransformStream<Uint8Array, Uint8Array>();
  // decrypt() reads the header before it resolves, so the readable side waits for it while
  // the writable side already accepts bytes.
  const decrypted = decrypter.decrypt(input.readable) as Promise<ReadableStream<Uint8Array>>;
  let source: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const output = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        source = (await decrypted).getReader();
      } catch (error) {
        controller.error(mapDecryptError(error, label));
      }
    },
    async pull(controller) {
      if (!source) return;
      try {
        const { done, value } = await source.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(mapDecryptError(error, label));
      }
    },
    async cancel(reason) {
      await source?.cancel(reason);
    },
  });
  return Duplex.fromWeb({ writable: input.writable, readable: output } as never);
}

function mapDecryptError(error: unknown, label: string): BackupError {
  if (error instanceof BackupError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // Only "nothing in the header opens with these keys" means a wrong key. A malformed stanza,
  // a bad header MAC, a failed chunk tag or an early end are damage (exit 3). A flipped byte
  // inside a recipient stanza looks like a wrong key to age; the manifest's SHA-256, checked
  // before decrypting, tells those apart.
  if (/no identity matched/i.test(message)) {
    return new BackupError('WRONG_KEY', `${label}: the identity or passphrase does not open this part (${message}).`, { cause: error });
  }
  return new BackupError('SET_DAMAGED', `${label} is damaged or truncated: ${message}`, { cause: error });
}

export function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  return (async () => {
    const identity = await age.generateIdentity();
    const recipient = await age.identityToRecipient(identity);
    return { identity, recipient };
  })();
}
