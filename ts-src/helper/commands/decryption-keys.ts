/**
 * The keys that open an encrypted set, as restore and verify take them: --identity FILE,
 * --passphrase-file FILE, or the environment (crypto/keys.ts reads and checks them all;
 * a malformed identity line is a CONFIG error, never silently skipped). Never from argv.
 */
import { resolveDecryptionKeys } from '../crypto/keys.js';
import type { ReadCodec } from '../set/codec.js';

export async function readDecryptionKeys(
  values: { identity?: string; 'passphrase-file'?: string },
  env: NodeJS.ProcessEnv,
): Promise<ReadCodec> {
  const decryption = await resolveDecryptionKeys({
    identityFiles: values.identity ? [values.identity] : [],
    passphraseFiles: values['passphrase-file'] ? [values['passphrase-file']] : [],
    env,
  });
  return decryption ? { decryption } : {};
}
