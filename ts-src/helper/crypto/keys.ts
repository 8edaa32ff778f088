/**
 * Where age keys come from: identity files, passphrase files and the environment. Secrets are
 * read from files or env vars only (never argv), and no error message ever quotes a secret.
 *
 * Identity file format (the one `age-keygen` and `civibackup keygen` write): one
 * `AGE-SECRET-KEY-1...` per line; blank lines and lines starting with `#` are ignored.
 */
import { readFile } from 'node:fs/promises';
import { ENV } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';
import { secretFromText } from '../core/args.js';
import type { DecryptionKeys, EncryptionKeys } from './age-stream.js';
import { parseRecipient } from './age-recipients.js';

/** An X25519 recipient: "age1" + 58 bech32 characters. Post-quantum "age1pq1..." is refused: age 1.1 cannot read it. */
export const X25519_RECIPIENT = /^age1[023456789acdefghjklmnpqrstuvwxyz]{58}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[023456789ACDEFGHJKLMNPQRSTUVWXYZ]{58}$/;

/** Throws CONFIG unless `recipient` is an X25519 age recipient (Bech32 checksum included). */
export function validateRecipient(recipient: string): string {
  const value = recipient.trim();
  if (value.startsWith('age1pq1')) {
    throw new BackupError('CONFIG', `"${value.slice(0, 16)}..." is a post-quantum age recipient; the age 1.1 CLI cannot decrypt it. Use an X25519 recipient (age1..., from civibackup keygen or age-keygen).`);
  }
  if (!X25519_RECIPIENT.test(value)) {
    throw new BackupError('CONFIG', `"${value}" is not an age X25519 recipient (age1 followed by 58 lower-case letters and digits).`);
  }
  try {
    parseRecipient(value); // checks the Bech32 checksum
  } catch (error) {
    throw new BackupError('CONFIG', `"${value}" is not a valid age recipient (bad checksum?).`, { cause: error });
  }
  return value;
}

/**
 * Parses the text of an identity file. `source` names the file or variable in messages; a line
 * that is not a key is reported by its number only, because it may be part of a secret.
 */
export function parseIdentities(text: string, source: string): string[] {
  const identities: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!X25519_IDENTITY.test(line)) {
      const hint = line.startsWith('AGE-SECRET-KEY-PQ-1') ? ' (post-quantum keys are not supported)' : line.startsWith('age1') ? ' (that is a public recipient, not a secret identity)' : '';
      throw new BackupError('CONFIG', `${source} line ${index + 1} is not an age identity (AGE-SECRET-KEY-1...)${hint}.`);
    }
    identities.push(line);
  });
  if (identities.length === 0) throw new BackupError('CONFIG', `${source} holds no age identity (a line starting with AGE-SECRET-KEY-1).`);
  return identities;
}

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new BackupError('CONFIG', `Cannot read the ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`, { cause: error });
  }
}

export async function readIdentityFile(path: string): Promise<string[]> {
  return parseIdentities(await readSecretFile(path, 'identity'), path);
}

/** A passphrase file holds the passphrase on its first line (a trailing newline is dropped). */
export async function readPassphraseFile(path: string): Promise<string> {
  const passphrase = secretFromText(await readSecretFile(path, 'passphrase'));
  if (passphrase === '') throw new BackupError('CONFIG', `The passphrase file ${path} is empty.`);
  return passphrase;
}

export interface DecryptionSources {
  identityFiles?: string[];
  passphraseFiles?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Keys to open a set: every --identity and --passphrase-file given, plus CIVIBACKUP_IDENTITY
 * (the identity file's text) and CIVIBACKUP_PASSPHRASE from the environment. Undefined when
 * nothing was given (then an encrypted part fails with WRONG_KEY naming the options).
 */
export async function resolveDecryptionKeys(sources: DecryptionSources): Promise<DecryptionKeys | undefined> {
  const env = sources.env ?? process.env;
  const identities: string[] = [];
  const passphrases: string[] = [];
  for (const file of sources.identityFiles ?? []) identities.push(...(await readIdentityFile(file)));
  for (const file of sources.passphraseFiles ?? []) passphrases.push(await readPassphraseFile(file));
  const envIdentity = env[ENV.IDENTITY];
  if (envIdentity && envIdentity.trim() !== '') identities.push(...parseIdentities(envIdentity, `$${ENV.IDENTITY}`));
  const envPassphrase = env[ENV.PASSPHRASE];
  if (envPassphrase !== undefined && envPassphrase !== '') passphrases.push(secretFromText(envPassphrase));
  if (identities.length === 0 && passphrases.length === 0) return undefined;
  return { identities, passphrases };
}

export interface EncryptionSources {
  recipients?: string[];
  passphraseFile?: string;
  /** Name of an env var holding the passphrase (job files name one; default CIVIBACKUP_PASSPHRASE is NOT read implicitly). */
  passphraseEnv?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Keys to write a set. age allows recipients or one passphrase, not both. Undefined when no
 * encryption was asked for.
 */
export async function resolveEncryptionKeys(sources: EncryptionSources): Promise<EncryptionKeys | undefined> {
  const env = sources.env ?? process.env;
  const recipients = [...new Set((sources.recipients ?? []).map(validateRecipient))];
  let passphrase: string | undefined;
  if (sources.passphraseFile) passphrase = await readPassphraseFile(sources.passphraseFile);
  else if (sources.passphraseEnv) {
    const value = env[sources.passphraseEnv];
    if (value === undefined || value === '') throw new BackupError('CONFIG', `The environment variable ${sources.passphraseEnv} (passphrase) is not set.`);
    passphrase = secretFromText(value);
  }
  if (passphrase !== undefined && recipients.length > 0) {
    throw new BackupError('USAGE', 'age encrypts to recipients or to one passphrase, not both; choose --recipient or --passphrase-file.');
  }
  if (passphrase !== undefined) return { recipients: [], passphrase };
  if (recipients.length > 0) return { recipients };
  return undefined;
}
