/**
 * The keys that open an encrypted set, from --identity FILE / --passphrase-file FILE or the
 * environment (CIVIBACKUP_IDENTITY holds identity text, CIVIBACKUP_PASSPHRASE a passphrase).
 * Never from argv.
 */
import { readFile } from 'node:fs/promises';
import { ENV } from '../../protocol/job.js';
import { secretFromText } from '../core/args.js';
import { BackupError } from '../core/errors.js';
import type { ReadCodec } from '../set/codec.js';

/** "AGE-SECRET-KEY-1..." lines of an age identity file; comments and blanks skipped. */
export function parseIdentities(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('AGE-SECRET-KEY-'));
}

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new BackupError('CONFIG', `Cannot read the ${what} file ${path}: ${(error as Error).message}`, { cause: error });
  }
}

export async function readDecryptionKeys(
  values: { identity?: string; 'passphrase-file'?: string },
  env: NodeJS.ProcessEnv,
): Promise<ReadCodec> {
  const identities: string[] = [];
  const passphrases: string[] = [];
  if (values.identity) {
    const found = parseIdentities(await readSecretFile(values.identity, 'identity'));
    if (found.length === 0) throw new BackupError('CONFIG', `${values.identity} holds no age identity (a line starting with AGE-SECRET-KEY-).`);
    identities.push(...found);
  }
  if (values['passphrase-file']) passphrases.push(secretFromText(await readSecretFile(values['passphrase-file'], 'passphrase')));
  if (env[ENV.IDENTITY]) identities.push(...parseIdentities(env[ENV.IDENTITY] ?? ''));
  if (env[ENV.PASSPHRASE]) passphrases.push(secretFromText(env[ENV.PASSPHRASE] ?? ''));
  if (identities.length === 0 && passphrases.length === 0) return {};
  return { decryption: { identities, passphrases } };
}
