/**
 * The idKey of an encrypted repository: blob ids are HMAC-SHA256(idKey, content), so whoever
 * reads the destination without the key cannot test whether it holds a given file (a plain
 * SHA-256 would let anyone confirm a guessed document). Readers never need it: they look ids
 * up in the index.
 *
 * A backup usually has only the recipients (public keys), not an identity, so the key is
 * cached in the state dir as <repoId>.idkey (0600). It is also stored in the repository as
 * keys/idkey.age, encrypted to the recipients, so a new machine with the secret key (or the
 * passphrase) continues the same dedup. With neither (new machine, no identity given), a new
 * idKey is made with a warning: dedup against earlier sets restarts, nothing breaks, since
 * ids are only names.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../core/errors.js';
import { BlobSealer, openSmallAgeFile, prepareBlobKeys } from '../crypto/age-blob.js';
import type { DecryptionKeys, EncryptionKeys } from '../crypto/age-stream.js';
import { fsyncDirectory, writeFileAtomic } from '../set/durable.js';
import { ID_KEY_FILE, KEYS_DIR } from './layout.js';

export const ID_KEY_BYTES = 32;

export interface IdKeyOptions {
  root: string;
  repoId: string;
  stateDir?: string;
  encryption: EncryptionKeys;
  decryption?: DecryptionKeys;
  onWarning?: (code: string, message: string) => void;
}

function cachePath(stateDir: string, repoId: string): string {
  return join(stateDir, `${repoId}.idkey`);
}

async function readCached(options: IdKeyOptions): Promise<Buffer | undefined> {
  if (!options.stateDir) return undefined;
  let text: string;
  try {
    text = await readFile(cachePath(options.stateDir, options.repoId), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const hex = text.trim();
  if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
  options.onWarning?.('IDKEY_CACHE', `The cached id key ${cachePath(options.stateDir, options.repoId)} is malformed; it is ignored.`);
  return undefined;
}

async function writeCache(options: IdKeyOptions, idKey: Buffer): Promise<void> {
  if (!options.stateDir) return;
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(cachePath(options.stateDir, options.repoId), `${idKey.toString('hex')}\n`, 0o600);
}

/** Writes `file` only if it does not exist yet; false when another run wrote one first. */
async function createOnce(path: string, bytes: Buffer): Promise<boolean> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, bytes, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Keys that can open keys/idkey.age: given identities/passphrases, and the backup's own passphrase. */
function openingKeys(options: IdKeyOptions): DecryptionKeys | undefined {
  const identities = options.decryption?.identities ?? [];
  const passphrases = [...(options.decryption?.passphrases ?? []), ...(options.encryption.passphrase !== undefined ? [options.encryption.passphrase] : [])];
  return identities.length + passphrases.length > 0 ? { identities, passphrases } : undefined;
}

async function readStored(options: IdKeyOptions, path: string): Promise<Buffer | 'absent' | 'unopenable'> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  const keys = openingKeys(options);
  if (!keys) return 'unopenable';
  try {
    const idKey = await openSmallAgeFile(file, prepareBlobKeys(keys, path), path);
    if (idKey.length !== ID_KEY_BYTES) throw new BackupError('SET_DAMAGED', `${path} does not hold a ${ID_KEY_BYTES}-byte key.`);
    return idKey;
  } catch (error) {
    if (error instanceof BackupError && (error.code === 'WRONG_KEY' || error.code === 'SET_DAMAGED')) {
      options.onWarning?.('IDKEY_UNREADABLE', `${path} cannot be opened with the keys given (${error.message}).`);
      return 'unopenable';
    }
    throw error;
  }
}

/** The idKey for writing to an encrypted repository (see the module comment for where it comes from). */
export async function resolveIdKey(options: IdKeyOptions): Promise<Buffer> {
  const cached = await readCached(options);
  if (cached) return cached;
  const keysDir = join(options.root, KEYS_DIR);
  const storedPath = join(keysDir, ID_KEY_FILE);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const stored = await readStored(options, storedPath);
    if (Buffer.isBuffer(stored)) {
      await writeCache(options, stored);
      return stored;
    }
    const idKey = randomBytes(ID_KEY_BYTES);
    const sealed = (await BlobSealer.create(options.encryption)).sealFile(idKey);
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    if (stored === 'absent') {
      // Lost a race with another first backup: use the key it stored.
      if (!(await createOnce(storedPath, sealed))) continue;
    } else {
      // keys/idkey.age is someone else's to open: keep it, and store ours beside it.
      await createOnce(join(keysDir, `idkey-${randomBytes(4).toString('hex')}.age`), sealed);
      options.onWarning?.(
        'IDKEY_NEW',
        `No cached id key for repository ${options.repoId}${options.stateDir ? ` in ${options.stateDir}` : ' (no state dir given)'} and ${storedPath} cannot be opened without the secret key: a new id key is used, so this backup stores its data again instead of reusing what earlier backups stored. Give the secret key (--identity) once, or keep the state dir, to continue the same deduplication.`,
      );
    }
    await fsyncDirectory(keysDir);
    await writeCache(options, idKey);
    return idKey;
  }
  throw new BackupError('INTERNAL', `${storedPath} appeared and vanished while it was read; run the backup again.`);
}

/**
 * Every id key stored in the repository (keys/idkey.age and keys/idkey-*.age), for readers
 * that hold a secret key: with them a reader checks that a blob's content is the one its id
 * names, which the AEAD alone does not (it proves the bytes are authentic, not that the index
 * points at the right blob). Undefined when any key file does not open with `keys` (then
 * ids cannot be checked: a blob written under an unknown key would look altered).
 */
export async function readIdKeys(root: string, keys: DecryptionKeys): Promise<Buffer[] | undefined> {
  const dir = join(root, KEYS_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^idkey(-[0-9a-f]{8})?\.age$/.test(n));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (names.length === 0) return undefined;
  const prepared = prepareBlobKeys(keys, dir);
  const idKeys: Buffer[] = [];
  for (const name of names) {
    try {
      const idKey = await openSmallAgeFile(await readFile(join(dir, name)), prepared, join(dir, name));
      if (idKey.length !== ID_KEY_BYTES) return undefined;
      idKeys.push(idKey);
    } catch {
      return undefined;
    }
  }
  return idKeys;
}
